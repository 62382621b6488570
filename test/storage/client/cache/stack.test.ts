import { join } from 'node:path';
import t from 'tap';
import { CacheStack } from '../../../../storage/client/cache/stack.js';
import { ClientCache, ENTRY_OVERHEAD_BYTES } from '../../../../storage/client/cache/memory-cache.js';
import { DiskCache } from '../../../../storage/client/cache/disk-cache.js';
import { revisionCacheSuite, SUITE_MAX_BYTES } from './revision-cache-suite.js';

const bytes = (text: string) => new TextEncoder().encode(text);

t.test('conformance, memory only', async (t) => {
  revisionCacheSuite(t, async () => {
    const stack = new CacheStack(new ClientCache({ maxBytes: SUITE_MAX_BYTES }));
    return { cache: stack, close: () => stack.close() };
  });
});

t.test('conformance, memory over disk (reopened with an empty memory layer)', async (t) => {
  revisionCacheSuite(t, async (t) => {
    const path = join(t.testdir(), 'suite.cache');
    const open = async () =>
      new CacheStack(new ClientCache({ maxBytes: SUITE_MAX_BYTES }), await DiskCache.open(path, { maxBytes: SUITE_MAX_BYTES }));
    let stack = await open();
    return {
      cache: stack,
      reopen: async () => {
        await stack.close();
        stack = await open();
        return stack;
      },
      close: () => stack.close(),
    };
  });
});

t.test('memory first, then disk; a disk hit is promoted into memory', async (t) => {
  const path = join(t.testdir(), 'stack.cache');
  const disk = await DiskCache.open(path, { maxBytes: 1 << 20 });
  const first = new CacheStack(new ClientCache({ maxBytes: 1 << 20 }), disk);
  first.store(1n, 10n, null, bytes('one@10'));
  first.invalidate(1n, 20n);
  first.store(1n, 20n, null, bytes('one@20'));
  first.lastTid = 20n;
  await first.close();

  // A restarted worker: empty memory, warm disk.
  const memory = new ClientCache({ maxBytes: 1 << 20 });
  const stack = new CacheStack(memory, await DiskCache.open(path, { maxBytes: 1 << 20 }));
  t.teardown(() => stack.close());
  t.equal(stack.lastTid, 20n, 'lastTid comes from the disk layer');
  t.same(stack.loadBefore(1n, 15n), { data: bytes('one@10'), start: 10n, end: 20n });
  t.same(stack.load(1n), { data: bytes('one@20'), tid: 20n });
  t.equal(memory.stats.entries, 2, 'both disk hits were promoted');
  const diskHitsBefore = stack.disk!.stats.hits;
  t.same(stack.load(1n), { data: bytes('one@20'), tid: 20n });
  t.equal(stack.disk!.stats.hits, diskHitsBefore, 'the second read is served by memory alone');
  t.equal(stack.load(2n), undefined);
  t.same(
    { hits: stack.stats.hits, misses: stack.stats.misses },
    { hits: 3, misses: 1 },
    'hits and misses count end to end, not per layer',
  );
});

t.test('writes reach both layers, so an invalidation also ends the range on disk', async (t) => {
  const path = join(t.testdir(), 'both.cache');
  const stack = new CacheStack(new ClientCache({ maxBytes: 1 << 20 }), await DiskCache.open(path, { maxBytes: 1 << 20 }));
  stack.store(5n, 1n, null, bytes('old'));
  stack.invalidate(5n, 9n);
  stack.lastTid = 9n;
  t.equal(stack.memory.load(5n), undefined);
  t.equal(stack.disk!.load(5n), undefined, 'the disk layer no longer calls it current');
  t.equal(stack.disk!.lastTid, 9n);
  stack.clear();
  t.equal(stack.stats.entries, 0, 'clear empties both layers');
  await stack.close();
});

t.test('without a disk layer it is the memory cache', async (t) => {
  const stack = new CacheStack(new ClientCache({ maxBytes: 2 * (10 + ENTRY_OVERHEAD_BYTES) }));
  stack.store(1n, 1n, null, new Uint8Array(10));
  stack.store(2n, 1n, null, new Uint8Array(10));
  stack.store(3n, 1n, null, new Uint8Array(10));
  stack.lastTid = 4n;
  t.equal(stack.lastTid, 4n);
  t.equal(stack.load(1n), undefined, 'the memory bound applies');
  t.same(stack.stats, { hits: 0, misses: 1, bytes: 2 * (10 + ENTRY_OVERHEAD_BYTES), entries: 2, evictions: 1 });
  await stack.close();
});
