import t from 'tap';
import type { Invalidation } from '../../../storage/contract.js';
import { InvalidationQueue } from '../../../storage/server/invalidation-queue.js';

/** A chain of invalidations with TIDs 10, 20, 30, ... each naming the previous one. */
function chain(count: number, firstPrevTid = 0n): Invalidation[] {
  const out: Invalidation[] = [];
  let prevTid = firstPrevTid;
  for (let i = 1; i <= count; i++) {
    const tid = firstPrevTid + BigInt(i * 10);
    out.push({ tid, prevTid, oids: [BigInt(i)] });
    prevTid = tid;
  }
  return out;
}

const tids = (list: Invalidation[] | null) => list?.map((i) => i.tid) ?? null;

t.test('since answers the invalidations after a TID, in order', async (t) => {
  const queue = new InvalidationQueue({ maxCount: 100, maxAgeMs: 60_000, startTid: 0n });
  for (const inv of chain(5)) queue.push(inv);
  t.equal(queue.length, 5);
  t.equal(queue.oldestTid, 10n);
  t.equal(queue.lastTid, 50n);
  t.same(tids(queue.since(0n)), [10n, 20n, 30n, 40n, 50n], 'from the start TID');
  t.same(tids(queue.since(30n)), [40n, 50n]);
  t.same(tids(queue.since(35n)), [40n, 50n], 'a TID between commits');
  t.same(queue.since(50n), [], 'a current client misses nothing');
});

t.test('a fresh queue knows its start TID, or nothing', async (t) => {
  const started = new InvalidationQueue({ maxCount: 10, maxAgeMs: 1000, startTid: 77n });
  t.same(started.since(77n), [], 'a client at the storage TID is current');
  t.equal(started.since(76n), null, 'an older client cannot be answered');
  t.equal(started.oldestTid, undefined);
  const blank = new InvalidationQueue({ maxCount: 10, maxAgeMs: 1000 });
  t.equal(blank.since(0n), null, 'without a start TID nothing can be vouched for');
  t.equal(blank.lastTid, undefined);
});

t.test('the count bound drops the oldest and since then says null for them', async (t) => {
  const queue = new InvalidationQueue({ maxCount: 3, maxAgeMs: 60_000, startTid: 0n });
  for (const inv of chain(6)) queue.push(inv);
  t.equal(queue.length, 3);
  t.equal(queue.oldestTid, 40n);
  t.equal(queue.since(20n), null, 'the queue no longer reaches back to 20');
  t.same(tids(queue.since(30n)), [40n, 50n, 60n], 'prevTid of the oldest entry is still answerable');
  t.equal(queue.since(0n), null);
});

t.test('the age bound forgets invalidations pushed too long ago', async (t) => {
  let now = 1_000_000;
  const queue = new InvalidationQueue({ maxCount: 100, maxAgeMs: 5000, startTid: 0n, now: () => now });
  const [a, b, c] = chain(3);
  queue.push(a!);
  now += 3000;
  queue.push(b!);
  now += 3000; // a is 6 s old now, b 3 s
  queue.push(c!);
  t.equal(queue.length, 2);
  t.equal(queue.since(0n), null);
  t.same(tids(queue.since(10n)), [20n, 30n]);
  now += 10_000; // all expired, without any push
  t.equal(queue.length, 0);
  t.equal(queue.oldestTid, undefined);
  t.equal(queue.since(20n), null);
  t.same(queue.since(30n), [], 'the last TID stays known after everything expired');
  queue.push({ tid: 40n, prevTid: 30n, oids: [] });
  t.same(tids(queue.since(30n)), [40n], 'the chain continues after an empty spell');
});

t.test('a hole in the prevTid chain forgets everything before it', async (t) => {
  const queue = new InvalidationQueue({ maxCount: 100, maxAgeMs: 60_000, startTid: 0n });
  for (const inv of chain(3)) queue.push(inv);
  queue.push({ tid: 50n, prevTid: 40n, oids: [9n] }); // 40 never arrived
  t.equal(queue.length, 1);
  t.equal(queue.since(30n), null, 'an answer across the hole would miss TID 40');
  t.same(tids(queue.since(40n)), [50n]);
});

t.test('bad pushes are refused and change nothing', async (t) => {
  const queue = new InvalidationQueue({ maxCount: 100, maxAgeMs: 60_000, startTid: 0n });
  for (const inv of chain(2)) queue.push(inv);
  t.throws(() => queue.push({ tid: 20n, prevTid: 10n, oids: [] }), { code: 'ZEO_INVALID_ARGUMENT' });
  t.throws(() => queue.push({ tid: 15n, prevTid: 10n, oids: [] }), { code: 'ZEO_INVALID_ARGUMENT' });
  t.throws(() => queue.push({ tid: -1n, prevTid: 0n, oids: [] }), { code: 'ZEO_INVALID_ARGUMENT' });
  t.throws(() => queue.push({ tid: 30, prevTid: 20n, oids: [] } as never), { code: 'ZEO_INVALID_ARGUMENT' });
  t.throws(() => queue.push(null as never), { code: 'ZEO_INVALID_ARGUMENT' });
  t.throws(() => queue.since(-5n), { code: 'ZEO_INVALID_ARGUMENT' });
  t.same(tids(queue.since(0n)), [10n, 20n], 'the queue is as before');
  t.throws(() => new InvalidationQueue({ maxCount: 0, maxAgeMs: 1 }), { code: 'ZEO_INVALID_ARGUMENT' });
  t.throws(() => new InvalidationQueue({ maxCount: 1, maxAgeMs: -1 }), { code: 'ZEO_INVALID_ARGUMENT' });
});

t.test('a client newer than the queue is told to verify its cache', async (t) => {
  const queue = new InvalidationQueue({ maxCount: 10, maxAgeMs: 60_000, startTid: 0n });
  for (const inv of chain(2)) queue.push(inv);
  t.equal(queue.since(21n), null, 'a TID the server never produced means another history');
});

t.test('push and since stay fast with a full queue (no linear scans)', async (t) => {
  const maxCount = 100_000;
  const queue = new InvalidationQueue({ maxCount, maxAgeMs: 3_600_000, startTid: 0n });
  const started = performance.now();
  let prevTid = 0n;
  for (let i = 1; i <= 3 * maxCount; i++) {
    const tid = BigInt(i);
    queue.push({ tid, prevTid, oids: [tid] });
    prevTid = tid;
  }
  const pushMs = performance.now() - started;
  t.equal(queue.length, maxCount);
  t.equal(queue.oldestTid, BigInt(2 * maxCount + 1));
  // 20 000 lookups near the newest end: a linear scan from the oldest would walk ~2e9 entries.
  const lookupStart = performance.now();
  let total = 0;
  for (let i = 0; i < 20_000; i++) total += queue.since(prevTid - 3n)!.length;
  const lookupMs = performance.now() - lookupStart;
  t.equal(total, 60_000);
  t.ok(pushMs < 5000, `300k pushes took ${pushMs.toFixed(0)} ms`);
  t.ok(lookupMs < 5000, `20k lookups took ${lookupMs.toFixed(0)} ms`);
});

t.test('random pushes, holes, clock jumps and lookups agree with a plain list', async (t) => {
  // The model: every pushed entry in a plain array, filtered by the rules on each lookup.
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let now = 0;
  const maxCount = 50;
  const maxAgeMs = 1000;
  const queue = new InvalidationQueue({ maxCount, maxAgeMs, startTid: 100n, now: () => now });
  const model: { inv: Invalidation; at: number }[] = [];
  let lastTid = 100n;
  let mismatches = 0;
  for (let step = 0; step < 20_000; step++) {
    const roll = random();
    if (roll < 0.5) {
      const hasHole = random() < 0.01;
      const prevTid = hasHole ? lastTid + 1n : lastTid;
      const tid = prevTid + 1n + BigInt(Math.floor(random() * 3));
      queue.push({ tid, prevTid, oids: [tid] });
      if (hasHole) model.length = 0;
      model.push({ inv: { tid, prevTid, oids: [tid] }, at: now });
      lastTid = tid;
    } else if (roll < 0.6) {
      now += Math.floor(random() * 300);
    } else {
      const back = lastTid - BigInt(Math.floor(random() * 120)) + 2n;
      const tid = back < 0n ? 0n : back;
      const live = model.filter((e) => e.at >= now - maxAgeMs).slice(-maxCount);
      let expected: bigint[] | null;
      if (tid > lastTid) expected = null;
      else if (tid === lastTid) expected = [];
      else if (live.length === 0 || tid < live[0]!.inv.prevTid) expected = null;
      else expected = live.filter((e) => e.inv.tid > tid).map((e) => e.inv.tid);
      const actual = tids(queue.since(tid));
      if (JSON.stringify(actual, (_, v) => (typeof v === 'bigint' ? String(v) : v)) !==
        JSON.stringify(expected, (_, v) => (typeof v === 'bigint' ? String(v) : v))) {
        mismatches++;
      }
      if (queue.length !== live.length) mismatches++;
    }
  }
  t.equal(mismatches, 0, 'every answer and every length matches the model');
});
