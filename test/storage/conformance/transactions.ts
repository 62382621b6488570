// Conformance, part 2: writing. Write and read-current conflicts, aborts that leave no trace,
// two-phase-commit phase errors, the one-call commit against 2PC, invalidation listeners.

import type { Test } from 'tap';
import type { ConflictDetail } from '../../../errors.js';
import { isConflict, ZERO_TID, type Invalidation, type Storage } from '../../../storage/contract.js';
import {
  bytes,
  dumpTransactions,
  eventually,
  expectRejection,
  expectThrow,
  freshStorage,
  put,
  text,
  within,
  type StorageFactory,
} from './support.js';

const sortOids = (oids: readonly bigint[]) => [...oids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

export function transactionConformance(t: Test, factory: StorageFactory): void {
  t.test('a write based on an old revision is a conflict naming the object and both TIDs', async (t) => {
    const storage = await freshStorage(t, factory);
    const [a, b, c] = await storage.newOids(3);
    const t1 = await put(storage, a!, ZERO_TID, 'a1');
    const t2 = await put(storage, a!, t1, 'a2');
    const stale = { oid: a!, baseTid: t1, data: bytes('lost'), refs: [] };
    const error = await expectRejection(t, storage.commit({ stores: [stale] }), 'ZEO_CONFLICT', {
      oid: a,
      baseTid: t1,
      currentTid: t2,
      isReadConflict: false,
    });
    t.ok(isConflict(error), 'isConflict recognises it');
    t.notOk(isConflict(await storage.load(c!).catch((e: unknown) => e)), 'a NotFoundError is no conflict');
    await expectRejection(t, () => put(storage, a!, ZERO_TID, 'again'), 'ZEO_CONFLICT',
      { oid: a, baseTid: ZERO_TID, currentTid: t2 }, 'creating an object that exists');
    await expectRejection(t, () => put(storage, b!, t1, 'ghost'), 'ZEO_CONFLICT',
      { oid: b, baseTid: t1, currentTid: ZERO_TID }, 'updating an object that does not exist');
    const both = await expectRejection(t, storage.commit({
      stores: [stale, { oid: c!, baseTid: ZERO_TID, data: bytes('c'), refs: [] }, { ...stale, oid: b! }],
    }), 'ZEO_CONFLICT', {}, 'two conflicts in one transaction');
    const details = (both?.conflicts ?? []) as ConflictDetail[];
    t.same(sortOids(details.map((d) => d.oid)), sortOids([a!, b!]), 'every conflicting object is listed');

    const txn = await storage.tpcBegin();
    txn.store(a!, t1, bytes('lost too'), []);
    await expectRejection(t, txn.vote(), 'ZEO_CONFLICT', { oid: a, currentTid: t2 }, 'vote detects it');
    await txn.abort();
    t.same(await storage.load(a!), { data: bytes('a2'), tid: t2 }, 'the winner stays');
    await expectRejection(t, storage.load(c!), 'ZEO_NOT_FOUND', {}, 'nothing of the losers was written');
    t.equal(await storage.lastTransaction(), t2);
  });

  t.test('a must-be-current read of a changed object is a read conflict', async (t) => {
    const storage = await freshStorage(t, factory);
    const [a, b] = await storage.newOids(2);
    const ta = await put(storage, a!, ZERO_TID, 'a1');
    const tb1 = await put(storage, b!, ZERO_TID, 'b1');
    const tb2 = await put(storage, b!, tb1, 'b2');
    const write = { oid: a!, baseTid: ta, data: bytes('a2'), refs: [] };
    await expectRejection(t, storage.commit({ stores: [write], readCurrent: [{ oid: b!, tid: tb1 }] }),
      'ZEO_CONFLICT', { oid: b, baseTid: tb1, currentTid: tb2, isReadConflict: true });
    t.equal((await storage.load(a!)).tid, ta, 'the write was not applied');

    const txn = await storage.tpcBegin();
    txn.checkCurrent(b!, tb1);
    txn.store(a!, ta, bytes('a2'), []);
    await expectRejection(t, txn.vote(), 'ZEO_CONFLICT', { oid: b, isReadConflict: true }, 'through 2PC');
    await txn.abort();

    const { tid } = await storage.commit({ stores: [write], readCurrent: [{ oid: b!, tid: tb2 }] });
    t.same(await storage.load(a!), { data: bytes('a2'), tid }, 'a current read lets the commit through');
    t.equal((await storage.load(b!)).tid, tb2, 'a checked object is not rewritten');
  });

  t.test('an aborted or conflicted transaction leaves no trace', async (t) => {
    const storage = await freshStorage(t, factory);
    const heard: Invalidation[] = [];
    storage.onInvalidation((inv) => heard.push(inv));
    const [a, fresh, marker] = await storage.newOids(3);
    const base = await put(storage, a!, ZERO_TID, 'a1');

    const aborted = await storage.tpcBegin({ user: 'aborted' });
    aborted.store(fresh!, ZERO_TID, bytes('never'), []);
    aborted.store(a!, base, bytes('never'), [fresh!]);
    await aborted.abort();
    await aborted.abort(); // a second abort is a no-op
    await expectRejection(t, storage.commit({
      stores: [
        { oid: fresh!, baseTid: ZERO_TID, data: bytes('never'), refs: [] },
        { oid: a!, baseTid: base - 1n, data: bytes('never'), refs: [] },
      ],
    }), 'ZEO_CONFLICT', {}, 'the conflicted commit');
    const voted = await storage.tpcBegin();
    voted.store(fresh!, ZERO_TID, bytes('never'), []);
    await voted.vote();
    await voted.abort(); // after vote: must release the commit lock

    await expectRejection(t, storage.load(fresh!), 'ZEO_NOT_FOUND', {}, 'the new object does not exist');
    t.same(await storage.load(a!), { data: bytes('a1'), tid: base }, 'the old object is unchanged');
    t.equal(await storage.lastTransaction(), base, 'lastTransaction did not move');
    t.same((await storage.history(a!)).map((h) => h.tid), [base]);
    t.same((await dumpTransactions(storage)).map((x) => x.tid), [base], 'the iterator shows one transaction');

    // Invalidations arrive in order: once the marker's has arrived, any from the failed
    // transactions would have too.
    const markerTid = await within(10_000, 'a commit after an abort following vote',
      put(storage, marker!, ZERO_TID, 'marker'));
    await eventually('the marker invalidation', () => heard.some((inv) => inv.tid === markerTid));
    t.same(heard.map((inv) => inv.tid), [base, markerTid], 'no invalidation for failed transactions');
  });

  t.test('a vote waits for the transaction holding the commit lock, then sees its writes', async (t) => {
    const storage = await freshStorage(t, factory);
    const [a] = await storage.newOids(1);
    const base = await put(storage, a!, ZERO_TID, 'a0');
    const first = await storage.tpcBegin();
    first.store(a!, base, bytes('first'), []);
    await first.vote();
    const second = await storage.tpcBegin();
    second.store(a!, base, bytes('second'), []);
    // Not awaited: a storage that serialises votes blocks here until `first` is finished.
    const secondVote = second.vote();
    secondVote.catch(() => undefined);
    const { tid } = await within(10_000, 'finish while another vote waits', first.finish());
    await expectRejection(t, secondVote, 'ZEO_CONFLICT', { oid: a, baseTid: base, currentTid: tid },
      'the waiting vote conflicts with what was committed meanwhile');
    await second.abort();
    t.same(await storage.load(a!), { data: bytes('first'), tid }, 'no lost update');
  });

  t.test('an abort while the vote waits for the lock leaves no trace and no lock behind', async (t) => {
    const storage = await freshStorage(t, factory);
    const [a, b, c] = await storage.newOids(3);
    const holder = await storage.tpcBegin();
    holder.store(a!, ZERO_TID, bytes('holder'), []);
    await holder.vote();
    const waiter = await storage.tpcBegin();
    waiter.store(b!, ZERO_TID, bytes('aborted while waiting'), []);
    const waitingVote = waiter.vote().then(() => 'voted', (error: { code?: string }) => error?.code);
    await waiter.abort();
    await holder.finish();
    const outcome = await within(10_000, 'the aborted vote', waitingVote);
    t.not(outcome, 'voted', `the vote of an aborted transaction does not succeed (${outcome})`);
    await waiter.abort();
    const tid = await within(10_000, 'a commit after the aborted vote', put(storage, c!, ZERO_TID, 'after'));
    t.ok(tid > ZERO_TID, 'the commit lock is free');
    await expectRejection(t, storage.load(b!), 'ZEO_NOT_FOUND', {}, 'the aborted store was not written');
  });

  t.test('two-phase commit refuses calls in the wrong phase', async (t) => {
    const storage = await freshStorage(t, factory);
    const [a, b] = await storage.newOids(2);
    const txn = await storage.tpcBegin();
    txn.store(a!, ZERO_TID, bytes('a1'), []);
    await txn.vote();
    expectThrow(t, () => txn.store(b!, ZERO_TID, bytes('late'), []), 'ZEO_TRANSACTION_STATE', 'store after vote');
    expectThrow(t, () => txn.checkCurrent(a!, ZERO_TID), 'ZEO_TRANSACTION_STATE', 'checkCurrent after vote');
    await expectRejection(t, () => txn.vote(), 'ZEO_TRANSACTION_STATE', {}, 'a second vote');
    const { tid } = await txn.finish();
    await expectRejection(t, () => txn.finish(), 'ZEO_TRANSACTION_STATE', {}, 'a second finish');
    expectThrow(t, () => txn.store(b!, ZERO_TID, bytes('late'), []), 'ZEO_TRANSACTION_STATE', 'store after finish');
    await txn.abort(); // a no-op after finish
    t.same(await storage.load(a!), { data: bytes('a1'), tid }, 'abort after finish undoes nothing');
    await expectRejection(t, storage.load(b!), 'ZEO_NOT_FOUND', {}, 'late stores were not written');

    const early = await storage.tpcBegin();
    early.store(b!, ZERO_TID, bytes('b'), []);
    await expectRejection(t, () => early.finish(), 'ZEO_TRANSACTION_STATE', {}, 'finish before vote');
    await early.abort();
    expectThrow(t, () => early.store(b!, ZERO_TID, bytes('b'), []), 'ZEO_TRANSACTION_STATE', 'store after abort');
    await expectRejection(t, () => early.vote(), 'ZEO_TRANSACTION_STATE', {}, 'vote after abort');

    const losing = await storage.tpcBegin();
    losing.store(a!, ZERO_TID, bytes('stale'), []);
    await expectRejection(t, losing.vote(), 'ZEO_CONFLICT');
    await expectRejection(t, () => losing.finish(), 'ZEO_TRANSACTION_STATE', {}, 'finish after a failed vote');
    await losing.abort();
    t.equal(await storage.lastTransaction(), tid);
  });

  t.test('the one-call commit behaves exactly as two-phase commit', async (t) => {
    type Step = { stores: [bigint, bigint | 'current', string, bigint[]][]; readCurrent?: bigint[] };
    const steps: Step[] = [
      { stores: [[1n, ZERO_TID, 'a1', [2n]], [2n, ZERO_TID, 'b1', []]] },
      { stores: [[1n, 'current', 'a2', [2n]]], readCurrent: [2n] },
      { stores: [[2n, ZERO_TID, 'stale', []]] },
      { stores: [[3n, ZERO_TID, 'c1', [1n]]], readCurrent: [1n, 2n] },
    ];
    /** Runs the steps and describes every outcome without TIDs, which differ between runs. */
    const run = async (storage: Storage, isTwoPhase: boolean) => {
      const outcomes: string[] = [];
      for (const step of steps) {
        const tidOf = async (oid: bigint) => (await storage.load(oid).catch(() => null))?.tid ?? ZERO_TID;
        const stores = await Promise.all(step.stores.map(async ([oid, base, data, refs]) => ({
          oid, baseTid: base === 'current' ? await tidOf(oid) : base, data: bytes(data), refs,
        })));
        const readCurrent = await Promise.all((step.readCurrent ?? []).map(async (oid) => ({ oid, tid: await tidOf(oid) })));
        const meta = { user: 'x', description: `step ${outcomes.length}` };
        try {
          if (isTwoPhase) {
            const txn = await storage.tpcBegin(meta);
            try {
              for (const s of stores) txn.store(s.oid, s.baseTid, s.data, s.refs);
              for (const r of readCurrent) txn.checkCurrent(r.oid, r.tid);
              await txn.vote();
              await txn.finish();
            } finally {
              await txn.abort();
            }
          } else {
            await storage.commit({ stores, readCurrent, meta });
          }
          outcomes.push('committed');
        } catch (error) {
          const e = error as { code?: string; oid?: bigint; isReadConflict?: boolean };
          outcomes.push(`${e.code} on ${e.oid} read=${e.isReadConflict}`);
        }
      }
      const transactions = (await dumpTransactions(storage)).map((x) => ({ ...x, tid: 0n }));
      const objects = await Promise.all([1n, 2n, 3n].map(async (oid) => text((await storage.load(oid)).data)));
      return { outcomes, transactions, objects };
    };
    const viaCommit = await run(await freshStorage(t, factory), false);
    const viaTwoPhase = await run(await freshStorage(t, factory), true);
    t.same(viaCommit.outcomes, ['committed', 'committed', 'ZEO_CONFLICT on 2 read=false', 'committed']);
    t.same(viaTwoPhase, viaCommit, 'same outcomes, same records, same final state');
  });

  t.test('invalidation listeners hear every commit in order, prevTid chaining', async (t) => {
    const storage = await freshStorage(t, factory);
    const heard: Invalidation[] = [];
    const heardToo: Invalidation[] = [];
    const loadsOnInvalidation: Promise<string | null>[] = [];
    const stop = storage.onInvalidation((inv) => heard.push(inv));
    // When a listener hears of a commit, the commit is visible: a load started now must not
    // return an older revision (a stale read here is how caches go wrong).
    storage.onInvalidation((inv) => {
      for (const oid of inv.oids) {
        loadsOnInvalidation.push(storage.load(oid).then(
          (loaded) => (loaded.tid >= inv.tid ? null : `load of ${oid} after ${inv.tid} returned ${loaded.tid}`),
          (error: unknown) => `load of ${oid} after ${inv.tid} failed: ${String(error)}`,
        ));
      }
    });
    storage.onInvalidation((inv) => heardToo.push(inv));
    storage.onInvalidation(() => {
      throw new Error('a broken listener (expected in this test)');
    });
    const before = await storage.lastTransaction();
    const [a, b, c] = await storage.newOids(3);
    const { tid: t1 } = await storage.commit({
      stores: [a!, b!].map((oid) => ({ oid, baseTid: ZERO_TID, data: bytes('x'), refs: [] })),
    });
    const t2 = await put(storage, a!, t1, 'a2');
    const t3 = await put(storage, c!, ZERO_TID, 'c1');
    await eventually('three invalidations', () => heard.length >= 3 && heardToo.length >= 3);
    const shape = (list: Invalidation[]) => list.map((inv) => ({ ...inv, oids: sortOids(inv.oids) }));
    const expected = [
      { tid: t1, prevTid: before, oids: sortOids([a!, b!]) },
      { tid: t2, prevTid: t1, oids: [a] },
      { tid: t3, prevTid: t2, oids: [c] },
    ];
    t.same(shape(heard), expected, 'tid, prevTid and oids of each commit, in commit order');
    t.same(shape(heardToo), expected, 'every listener hears the same; a throwing one breaks nothing');
    const staleReads = (await Promise.all(loadsOnInvalidation)).filter((problem) => problem !== null);
    t.same(staleReads, [], 'loads started by a listener see the invalidating commit');

    stop();
    const t4 = await put(storage, c!, t3, 'c2');
    await eventually('the fourth invalidation', () => heardToo.length >= 4);
    t.equal(heardToo[3]!.tid, t4);
    t.equal(heard.length, 3, 'a stopped listener hears nothing more');
  });
}
