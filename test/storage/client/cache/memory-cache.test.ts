import t from 'tap';
import { ClientCache, ENTRY_OVERHEAD_BYTES } from '../../../../storage/client/cache/memory-cache.js';
import { revisionCacheSuite, SUITE_MAX_BYTES } from './revision-cache-suite.js';


revisionCacheSuite(t, async () => {
  const cache = new ClientCache({ maxBytes: SUITE_MAX_BYTES });
  return { cache, close: async () => {} };
});

t.test('maxBytes must be a byte count', async (t) => {
  t.throws(() => new ClientCache({ maxBytes: -1 }), { code: 'ZEO_INVALID_ARGUMENT' });
  t.throws(() => new ClientCache({ maxBytes: 1.5 }), { code: 'ZEO_INVALID_ARGUMENT' });
});

t.test('the byte bound holds under many inserts, counting data and overhead', async (t) => {
  const maxBytes = 64 * 1024;
  const cache = new ClientCache({ maxBytes });
  let isAlwaysWithinBound = true;
  for (let i = 0; i < 5000; i++) {
    cache.store(BigInt(i), 1n, null, new Uint8Array(100 + (i % 900)));
    if (cache.stats.bytes > maxBytes) isAlwaysWithinBound = false;
  }
  const { bytes: used, entries, evictions } = cache.stats;
  t.ok(isAlwaysWithinBound, 'bytes never exceed maxBytes after a store');
  t.ok(used > maxBytes * 0.9, `the cache is nearly full (${used} of ${maxBytes})`);
  t.equal(entries + evictions, 5000, 'every insert is either held or counted as evicted');
  t.ok(cache.load(4999n), 'the newest entry is held');
  t.equal(cache.load(0n), undefined, 'the oldest entry was evicted');

  const huge = new Uint8Array(maxBytes);
  cache.store(1_000_000n, 1n, null, huge);
  t.equal(cache.load(1_000_000n), undefined, 'an entry larger than the bound is not stored');
  t.ok(cache.load(4999n), 'and does not flush the cache');
});

t.test('eviction follows least-recent use, and hits refresh an entry', async (t) => {
  const entrySize = 100 + ENTRY_OVERHEAD_BYTES;
  const cache = new ClientCache({ maxBytes: entrySize * 3 });
  cache.store(1n, 1n, null, new Uint8Array(100));
  cache.store(2n, 1n, null, new Uint8Array(100));
  cache.store(3n, 1n, null, new Uint8Array(100));
  t.ok(cache.load(1n), 'touch 1: now 2 is the least recently used');
  t.ok(cache.loadBefore(2n, 2n) && cache.load(3n), 'touch 2, then 3: now 1 is the least recently used');
  cache.store(4n, 1n, null, new Uint8Array(100));
  t.equal(cache.load(1n), undefined, '1 was evicted');
  cache.store(5n, 1n, null, new Uint8Array(100));
  t.equal(cache.load(2n), undefined, '2 was evicted next');
  t.ok(cache.load(3n) && cache.load(4n) && cache.load(5n), 'the three most recent remain');
  t.equal(cache.stats.evictions, 2);
});

t.test('stats count hits, misses, bytes and entries; clear keeps lastTid', async (t) => {
  const cache = new ClientCache({ maxBytes: 1 << 20 });
  cache.lastTid = 99n;
  cache.store(1n, 1n, null, new Uint8Array(10));
  cache.store(1n, 0n, 1n, new Uint8Array(20));
  cache.load(1n);
  cache.loadBefore(1n, 1n);
  cache.load(2n);
  cache.loadBefore(1n, 0n);
  t.same(cache.stats, { hits: 2, misses: 2, bytes: 30 + 2 * ENTRY_OVERHEAD_BYTES, entries: 2, evictions: 0 });
  cache.clear();
  t.same(cache.stats, { hits: 2, misses: 2, bytes: 0, entries: 0, evictions: 0 });
  t.equal(cache.lastTid, 99n);
  t.equal(cache.load(1n), undefined);
});

t.test('a view into a larger buffer is copied so the bound stays honest', async (t) => {
  const cache = new ClientCache({ maxBytes: 1 << 20 });
  const frame = new Uint8Array(64 * 1024);
  frame.set([1, 2, 3], 1000);
  cache.store(1n, 1n, null, frame.subarray(1000, 1003));
  const held = cache.load(1n)!.data;
  t.same([...held], [1, 2, 3]);
  t.equal(held.buffer.byteLength, 3, 'the cache does not pin the 64 KiB frame');
  frame[1000] = 9;
  t.equal(cache.load(1n)!.data[0], 1, 'later writes to the frame do not change the cached revision');

  const pooled = Buffer.from([4, 5, 6]); // a view into Node's shared 8 KiB pool
  cache.store(2n, 1n, null, pooled);
  pooled[0] = 0;
  t.same([...cache.load(2n)!.data], [4, 5, 6], 'a Buffer view is copied too (Buffer#slice would not copy)');
  t.equal(cache.load(2n)!.data.buffer.byteLength, 3);
});
