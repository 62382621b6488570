import t from 'tap';
import { ClientCache, ENTRY_OVERHEAD_BYTES } from '../../storage/client-cache.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined) => (data ? new TextDecoder().decode(data) : undefined);

t.test('loadBefore picks the revision whose range holds the snapshot', async (t) => {
  const cache = new ClientCache({ maxBytes: 1 << 20 });
  cache.store(1n, 10n, 20n, bytes('v10'));
  cache.store(1n, 20n, 30n, bytes('v20'));
  cache.store(1n, 30n, null, bytes('v30'));

  t.equal(cache.loadBefore(1n, 10n), undefined, 'nothing started before 10');
  t.equal(text(cache.loadBefore(1n, 11n)?.data), 'v10');
  t.same(cache.loadBefore(1n, 20n), { data: bytes('v10'), start: 10n, end: 20n }, 'end is inclusive for beforeTid');
  t.equal(text(cache.loadBefore(1n, 21n)?.data), 'v20');
  t.same(cache.loadBefore(1n, 1000n), { data: bytes('v30'), start: 30n, end: null });
  t.same(cache.load(1n), { data: bytes('v30'), tid: 30n });
  t.equal(cache.loadBefore(2n, 100n), undefined, 'unknown OID misses');
});

t.test('a gap between known ranges is a miss, not the neighbouring revision', async (t) => {
  const cache = new ClientCache({ maxBytes: 1 << 20 });
  cache.store(1n, 10n, 20n, bytes('v10'));
  cache.store(1n, 40n, null, bytes('v40'));
  t.equal(cache.loadBefore(1n, 30n), undefined, 'the revision valid at 29 (started at 20) is not cached');
  t.equal(text(cache.loadBefore(1n, 15n)?.data), 'v10');
});

t.test('invalidate ends the current range and keeps it for older snapshots', async (t) => {
  const cache = new ClientCache({ maxBytes: 1 << 20 });
  cache.store(5n, 10n, null, bytes('old'));
  cache.invalidate(5n, 25n);
  t.equal(cache.load(5n), undefined, 'no current revision after invalidation');
  t.same(cache.loadBefore(5n, 25n), { data: bytes('old'), start: 10n, end: 25n }, 'snapshot before 25 still served');
  t.equal(cache.loadBefore(5n, 26n), undefined, 'a snapshot after the change misses');
  t.equal(cache.stats.entries, 1, 'the revision stays as a non-current one');

  cache.store(5n, 25n, null, bytes('new'));
  t.same(cache.load(5n), { data: bytes('new'), tid: 25n });
  t.equal(text(cache.loadBefore(5n, 20n)?.data), 'old');
});

t.test('an invalidation older than the current revision changes nothing', async (t) => {
  const cache = new ClientCache({ maxBytes: 1 << 20 });
  cache.store(5n, 30n, null, bytes('mine'));
  cache.invalidate(5n, 30n);
  cache.invalidate(5n, 20n);
  t.same(cache.load(5n), { data: bytes('mine'), tid: 30n });
  cache.invalidate(6n, 40n);
  t.equal(cache.stats.entries, 1, 'invalidating an uncached OID stores nothing');
});

t.test('storing an older current revision never replaces a newer one', async (t) => {
  const cache = new ClientCache({ maxBytes: 1 << 20 });
  cache.store(7n, 50n, null, bytes('newer'));
  cache.store(7n, 40n, null, bytes('older, raced'));
  t.same(cache.load(7n), { data: bytes('newer'), tid: 50n });
  t.equal(cache.loadBefore(7n, 45n), undefined, 'the ignored revision is not served to old snapshots either');
  t.equal(cache.stats.entries, 1);
});

t.test('a newer current revision replaces an older current one whose end is unknown', async (t) => {
  const cache = new ClientCache({ maxBytes: 1 << 20 });
  cache.store(8n, 10n, null, bytes('v10'));
  cache.store(8n, 30n, null, bytes('v30'));
  t.same(cache.load(8n), { data: bytes('v30'), tid: 30n });
  t.equal(cache.loadBefore(8n, 15n), undefined, 'v10 was dropped: its true end could be anywhere before 30');
  t.equal(cache.stats.entries, 1);
});

t.test('storing the same revision with an end closes its range; overlaps are ignored', async (t) => {
  const cache = new ClientCache({ maxBytes: 1 << 20 });
  cache.store(9n, 10n, null, bytes('v10'));
  cache.store(9n, 10n, 20n, bytes('v10'));
  t.equal(cache.load(9n), undefined);
  t.same(cache.loadBefore(9n, 20n), { data: bytes('v10'), start: 10n, end: 20n });
  cache.store(9n, 15n, 40n, bytes('contradicts'));
  t.equal(text(cache.loadBefore(9n, 16n)?.data), 'v10', 'an overlapping range does not displace a known one');
  t.equal(cache.stats.entries, 1);
});

t.test('bad arguments are refused with InvalidArgumentError and change nothing', async (t) => {
  const cache = new ClientCache({ maxBytes: 1 << 20 });
  t.throws(() => cache.store(1n, 20n, 20n, bytes('x')), { code: 'ZEO_INVALID_ARGUMENT' });
  t.throws(() => cache.store(-1n, 20n, null, bytes('x')), { code: 'ZEO_INVALID_ARGUMENT' });
  t.throws(() => cache.store(1n, 20n, null, 'x' as unknown as Uint8Array), { code: 'ZEO_INVALID_ARGUMENT' });
  t.throws(() => new ClientCache({ maxBytes: -1 }), { code: 'ZEO_INVALID_ARGUMENT' });
  t.equal(cache.stats.entries, 0);
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

t.test('a too-large newer current revision still drops the stale current one', async (t) => {
  const cache = new ClientCache({ maxBytes: 4096 });
  cache.store(3n, 10n, null, bytes('small'));
  cache.store(3n, 20n, null, new Uint8Array(8192));
  t.equal(cache.load(3n), undefined, 'no stale current revision is served');
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
