// Conformance, part 5: many committers at once. On disjoint objects nobody conflicts; on one
// shared object conflicts happen but no update is lost; in every case TIDs strictly increase and
// the invalidations chain through prevTid. Half the committers use two-phase commit and hold the
// commit lock across an event-loop turn, so vote really has to wait for the holder.

import type { Test } from 'tap';
import { isConflict, ZERO_TID, type Invalidation, type Oid, type Storage, type Tid } from '../../../storage/contract.js';
import {
  bytes,
  dumpTransactions,
  eventually,
  freshStorage,
  isStrictlyIncreasing,
  text,
  type StorageFactory,
} from './support.js';

export interface ConcurrencyOptions {
  /** Committers running at once (default 8). */
  committers?: number;
  /** Commits each committer makes (default 25). */
  commitsPerCommitter?: number;
}

/** Writes one object, through the one-call commit or through 2PC with a pause before finish. */
async function write(storage: Storage, isTwoPhase: boolean, oid: Oid, baseTid: Tid, data: string): Promise<Tid> {
  if (!isTwoPhase) {
    return (await storage.commit({ stores: [{ oid, baseTid, data: bytes(data), refs: [] }] })).tid;
  }
  const txn = await storage.tpcBegin();
  try {
    txn.store(oid, baseTid, bytes(data), []);
    await txn.vote();
    await new Promise((resolve) => setImmediate(resolve)); // hold the lock for a turn
    return (await txn.finish()).tid;
  } finally {
    await txn.abort();
  }
}

/** Listens from now on; `check` waits for `count` invalidations and checks their order. */
function invalidationLog(t: Test, storage: Storage, startTid: Tid) {
  const heard: Invalidation[] = [];
  storage.onInvalidation((inv) => heard.push(inv));
  return async (count: number) => {
    await eventually(`${count} invalidations`, () => heard.length >= count);
    t.equal(heard.length, count, 'one invalidation per commit');
    t.equal(heard[0]!.prevTid, startTid, 'the first names the TID before it');
    const isChained = heard.every((inv, i) => i === 0 || inv.prevTid === heard[i - 1]!.tid);
    t.ok(isChained, 'each prevTid is the TID of the invalidation before');
    t.ok(isStrictlyIncreasing(heard.map((inv) => inv.tid)), 'invalidations come in TID order');
  };
}

export function concurrencyConformance(t: Test, factory: StorageFactory, options: ConcurrencyOptions = {}): void {
  const committers = options.committers ?? 8;
  const commits = options.commitsPerCommitter ?? 25;
  const total = committers * commits;

  t.test(`${committers} committers x ${commits} commits on disjoint objects never conflict`, async (t) => {
    const storage = await freshStorage(t, factory);
    const oids = await storage.newOids(committers);
    const checkInvalidations = invalidationLog(t, storage, await storage.lastTransaction());
    const tidsByCommitter = await Promise.all(
      oids.map(async (oid, i) => {
        const tids: Tid[] = [];
        let base = ZERO_TID;
        for (let j = 0; j < commits; j++) {
          base = await write(storage, i % 2 === 1, oid, base, `${i}:${j}`);
          tids.push(base);
        }
        return tids;
      }),
    );
    const allTids = tidsByCommitter.flat();
    t.equal(new Set(allTids).size, total, 'every commit got its own TID');
    t.ok(tidsByCommitter.every(isStrictlyIncreasing), "each committer's TIDs increase");
    for (const [i, oid] of oids.entries()) {
      const { data, tid } = await storage.load(oid);
      t.same([text(data), tid], [`${i}:${commits - 1}`, tidsByCommitter[i]!.at(-1)], `object ${i} holds its last write`);
    }
    const iterated = (await dumpTransactions(storage)).map((x) => x.tid);
    t.equal(iterated.length, total, 'the iterator shows every commit');
    t.ok(isStrictlyIncreasing(iterated), 'in strictly increasing TID order');
    t.equal(await storage.lastTransaction(), iterated.at(-1));
    await checkInvalidations(total);
  });

  t.test(`${committers} committers x ${commits} increments of one object lose no update`, async (t) => {
    const storage = await freshStorage(t, factory);
    const [counter] = await storage.newOids(1);
    const startTid = await write(storage, false, counter!, ZERO_TID, '0');
    const checkInvalidations = invalidationLog(t, storage, startTid);
    let conflicts = 0;
    const unexpected: unknown[] = [];
    const successes = await Promise.all(
      Array.from({ length: committers }, async (_, i) => {
        const tids: Tid[] = [];
        for (let j = 0; j < commits; j++) {
          for (let attempt = 0; ; attempt++) {
            if (attempt > 10_000) throw new Error('no progress after 10 000 attempts: livelock?');
            const { data, tid } = await storage.load(counter!);
            try {
              tids.push(await write(storage, i % 2 === 1, counter!, tid, String(Number(text(data)) + 1)));
              break;
            } catch (error) {
              const isExpected = isConflict(error) && error.oid === counter && error.currentTid > tid;
              if (!isExpected) unexpected.push(error);
              if (!isConflict(error)) throw error;
              conflicts++;
            }
          }
        }
        return tids;
      }),
    );
    t.same(unexpected, [], 'the only errors are conflicts on the shared object, against a newer TID');
    const { data } = await storage.load(counter!);
    t.equal(Number(text(data)), total, `the counter reached ${total}: no lost update`);
    t.equal((await storage.history(counter!)).length, total + 1, 'one revision per successful commit');
    t.ok(successes.every(isStrictlyIncreasing), "each committer's TIDs increase");
    t.equal(new Set(successes.flat()).size, total);
    t.comment(`${conflicts} conflicts were retried`);
    await checkInvalidations(total);
  });
}
