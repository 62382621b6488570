// The RevisionCache conformance suite: the MVCC rules every client cache must honour, run by
// memory-cache.test.ts, disk-cache.test.ts and stack.test.ts against their own cache.
// A persistent cache is checked twice per case: live, and after close + reopen (the rules must
// survive the replay of its file).

import type { Test } from 'tap';
import type { RevisionCache } from '../../../../storage/client/cache/memory-cache.js';

export const SUITE_MAX_BYTES = 64 * 1024;

export interface CacheUnderTest {
  cache: RevisionCache;
  /** Close and open again; undefined for a cache that lives only in memory. */
  reopen?: () => Promise<RevisionCache>;
  close(): Promise<void>;
}

/** Makes a fresh, empty cache bounded at SUITE_MAX_BYTES, cleaned up by `t`. */
export type CacheFactory = (t: Test) => Promise<CacheUnderTest>;

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined) => (data ? new TextDecoder().decode(data) : undefined);

export function revisionCacheSuite(t: Test, makeCache: CacheFactory): void {
  /** Runs `write` once, then `check` on the live cache and (if persistent) after a reopen. */
  const rule = (name: string, write: (cache: RevisionCache) => void, check: (t: Test, cache: RevisionCache, when: string) => void) =>
    t.test(name, async (t) => {
      const under = await makeCache(t);
      write(under.cache);
      check(t, under.cache, 'live');
      if (under.reopen) {
        const reopened = await under.reopen();
        check(t, reopened, 'after reopen');
      }
      await under.close();
    });

  rule(
    'loadBefore picks the revision whose range holds the snapshot',
    (cache) => {
      cache.store(1n, 10n, 20n, bytes('v10'));
      cache.store(1n, 20n, 30n, bytes('v20'));
      cache.store(1n, 30n, null, bytes('v30'));
    },
    (t, cache, when) => {
      t.equal(cache.loadBefore(1n, 10n), undefined, `${when}: nothing started before 10`);
      t.equal(text(cache.loadBefore(1n, 11n)?.data), 'v10');
      t.same(cache.loadBefore(1n, 20n), { data: bytes('v10'), start: 10n, end: 20n }, `${when}: end is inclusive for beforeTid`);
      t.equal(text(cache.loadBefore(1n, 21n)?.data), 'v20');
      t.same(cache.loadBefore(1n, 1000n), { data: bytes('v30'), start: 30n, end: null });
      t.same(cache.load(1n), { data: bytes('v30'), tid: 30n });
      t.equal(cache.loadBefore(2n, 100n), undefined, `${when}: an unknown OID misses`);
    },
  );

  rule(
    'a gap between known ranges is a miss, not the neighbouring revision',
    (cache) => {
      cache.store(1n, 10n, 20n, bytes('v10'));
      cache.store(1n, 40n, null, bytes('v40'));
    },
    (t, cache, when) => {
      t.equal(cache.loadBefore(1n, 30n), undefined, `${when}: the revision valid at 29 (started at 20) is not cached`);
      t.equal(text(cache.loadBefore(1n, 15n)?.data), 'v10');
    },
  );

  rule(
    'invalidate ends the current range and keeps the revision for older snapshots',
    (cache) => {
      cache.store(5n, 10n, null, bytes('old'));
      cache.invalidate(5n, 25n);
      cache.store(6n, 10n, null, bytes('six'));
      cache.invalidate(6n, 25n);
      cache.store(6n, 25n, null, bytes('six, new'));
    },
    (t, cache, when) => {
      t.equal(cache.load(5n), undefined, `${when}: no current revision after the invalidation`);
      t.same(cache.loadBefore(5n, 25n), { data: bytes('old'), start: 10n, end: 25n }, `${when}: a snapshot before 25 is still served`);
      t.equal(cache.loadBefore(5n, 26n), undefined, `${when}: a snapshot after the change misses`);
      t.same(cache.load(6n), { data: bytes('six, new'), tid: 25n });
      t.equal(text(cache.loadBefore(6n, 20n)?.data), 'six', `${when}: old and new revisions side by side`);
    },
  );

  rule(
    'an invalidation not newer than the current revision changes nothing',
    (cache) => {
      cache.store(5n, 30n, null, bytes('mine'));
      cache.invalidate(5n, 30n);
      cache.invalidate(5n, 20n);
      cache.invalidate(6n, 40n);
    },
    (t, cache, when) => {
      t.same(cache.load(5n), { data: bytes('mine'), tid: 30n }, `${when}: still current`);
      t.equal(cache.loadBefore(6n, 50n), undefined, `${when}: invalidating an uncached OID stores nothing`);
    },
  );

  rule(
    'storing an older current revision never replaces a newer one',
    (cache) => {
      cache.store(7n, 50n, null, bytes('newer'));
      cache.store(7n, 40n, null, bytes('older, raced'));
    },
    (t, cache, when) => {
      t.same(cache.load(7n), { data: bytes('newer'), tid: 50n }, `${when}: the newer stays current`);
      t.equal(cache.loadBefore(7n, 45n), undefined, `${when}: the ignored revision is not served to old snapshots either`);
    },
  );

  rule(
    'a newer current revision replaces an older current one whose end is unknown',
    (cache) => {
      cache.store(8n, 10n, null, bytes('v10'));
      cache.store(8n, 30n, null, bytes('v30'));
    },
    (t, cache, when) => {
      t.same(cache.load(8n), { data: bytes('v30'), tid: 30n });
      t.equal(cache.loadBefore(8n, 15n), undefined, `${when}: v10 is dropped, its true end could be anywhere before 30`);
    },
  );

  rule(
    'storing the same revision with an end closes its range; contradicting ranges are ignored',
    (cache) => {
      cache.store(9n, 10n, null, bytes('v10'));
      cache.store(9n, 10n, 20n, bytes('v10'));
      cache.store(9n, 15n, 40n, bytes('contradicts'));
    },
    (t, cache, when) => {
      t.equal(cache.load(9n), undefined, `${when}: no longer current`);
      t.same(cache.loadBefore(9n, 20n), { data: bytes('v10'), start: 10n, end: 20n });
      t.equal(cache.loadBefore(9n, 30n), undefined, `${when}: the overlapping range was not taken`);
    },
  );

  rule(
    'a newer current revision too large to keep still drops the stale current one',
    (cache) => {
      cache.store(3n, 10n, null, bytes('small'));
      cache.store(3n, 20n, null, new Uint8Array(SUITE_MAX_BYTES + 1));
    },
    (t, cache, when) => {
      t.equal(cache.load(3n), undefined, `${when}: no stale current revision is served`);
      t.equal(cache.loadBefore(3n, 15n), undefined, `${when}: nor for a snapshot in its unknown range`);
    },
  );

  rule(
    'clear drops every revision and keeps lastTid',
    (cache) => {
      cache.store(1n, 1n, null, bytes('x'));
      cache.lastTid = 77n;
      cache.clear();
    },
    (t, cache, when) => {
      t.equal(cache.load(1n), undefined, `${when}: nothing left`);
      t.equal(cache.lastTid, 77n, `${when}: lastTid is the caller's to reset`);
    },
  );

  t.test('bad arguments are refused with InvalidArgumentError and change nothing', async (t) => {
    const { cache, close } = await makeCache(t);
    t.throws(() => cache.store(1n, 20n, 20n, bytes('x')), { code: 'ZEO_INVALID_ARGUMENT' });
    t.throws(() => cache.store(-1n, 20n, null, bytes('x')), { code: 'ZEO_INVALID_ARGUMENT' });
    t.throws(() => cache.store(1n, 20n, null, 'x' as unknown as Uint8Array), { code: 'ZEO_INVALID_ARGUMENT' });
    t.throws(() => cache.invalidate(1n, -5n), { code: 'ZEO_INVALID_ARGUMENT' });
    t.throws(() => (cache.lastTid = 1n << 64n), { code: 'ZEO_INVALID_ARGUMENT' });
    t.equal(cache.stats.entries, 0);
    await close();
  });
}
