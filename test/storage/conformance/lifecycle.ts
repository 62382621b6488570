// Conformance, part 3: the edges. A closed storage refuses everything with StorageClosedError,
// bad arguments are InvalidArgumentError and corrupt nothing, a read-only storage refuses writes.

import type { Test } from 'tap';
import { ZERO_TID, type Oid, type Storage } from '../../../storage/contract.js';
import { MAX_U64 } from '../../../storage/tid.js';
import {
  bytes,
  dumpTransactions,
  expectRejection,
  expectThrow,
  freshStorage,
  put,
  within,
  type StorageFactory,
} from './support.js';

/** Values that are not 64-bit unsigned bigints, as a careless caller might pass them. */
const badIds: unknown[] = [-1n, MAX_U64 + 1n, 1, '1', null, undefined, 1.5];
const show = (value: unknown) => (typeof value === 'bigint' ? `${value}n` : JSON.stringify(value) ?? 'undefined');

export function lifecycleConformance(t: Test, factory: StorageFactory, readOnlyFactory?: StorageFactory): void {
  t.test('a closed storage rejects every call with StorageClosedError', async (t) => {
    const storage = await freshStorage(t, factory);
    const [a] = await storage.newOids(1);
    const tid = await put(storage, a!, ZERO_TID, 'a1');
    const begunBefore = await storage.tpcBegin();
    begunBefore.store(a!, tid, bytes('after close'), []);
    await storage.close();
    await storage.close(); // idempotent
    const calls: [string, () => Promise<unknown>][] = [
      ['load', () => storage.load(a!)],
      ['loadBefore', () => storage.loadBefore(a!, MAX_U64)],
      ['lastTransaction', () => storage.lastTransaction()],
      ['history', () => storage.history(a!)],
      ['iterator', () => storage.iterator().next()],
      ['newOids', () => storage.newOids(1)],
      ['tpcBegin', () => storage.tpcBegin()],
      ['commit', () => put(storage, a!, tid, 'after close')],
      ['pack', () => storage.pack(tid)],
      ['vote of a transaction begun before close', () => begunBefore.vote()],
    ];
    for (const [what, call] of calls) await expectRejection(t, call, 'ZEO_CLOSED', {}, what);
    await begunBefore.abort();
  });

  t.test('close lets commits in progress settle: committed, or refused as closed', async (t) => {
    const storage = await freshStorage(t, factory);
    const oids = await storage.newOids(5);
    const commits = oids.map((oid) => put(storage, oid, ZERO_TID, 'racing close'));
    const voted = await storage.tpcBegin();
    voted.store(oids[0]! + 100n, ZERO_TID, bytes('voted before close'), []);
    await voted.vote();
    const closing = storage.close();
    const [finished] = await within(10_000, 'finish of a transaction voted before close',
      Promise.allSettled([voted.finish()]));
    t.equal(finished.status === 'fulfilled' ? 'finished' : String(finished.reason), 'finished',
      'a transaction voted before close still finishes ("close: finish what is in progress")');
    await within(10_000, 'close with commits in progress', closing);
    const outcomes = await within(10_000, 'commits racing close', Promise.allSettled(commits));
    const unexpected = outcomes
      .filter((o) => o.status === 'rejected' && (o.reason as { code?: string })?.code !== 'ZEO_CLOSED')
      .map((o) => String((o as PromiseRejectedResult).reason));
    t.same(unexpected, [], 'each commit either committed or was refused with StorageClosedError');
  });

  t.test('bad arguments are InvalidArgumentError and change nothing', async (t) => {
    const storage = await freshStorage(t, factory);
    const [a] = await storage.newOids(1);
    const tid = await put(storage, a!, ZERO_TID, 'a1');
    const invalid = 'ZEO_INVALID_ARGUMENT';
    const store = (oid: unknown, baseTid: unknown, data: unknown, refs: unknown) =>
      storage.commit({ stores: [{ oid, baseTid, data, refs } as never] });
    for (const bad of badIds as Oid[]) {
      const label = show(bad);
      await expectRejection(t, () => storage.load(bad), invalid, {}, `load(${label})`);
      await expectRejection(t, () => storage.loadBefore(bad, tid), invalid, {}, `loadBefore(${label}, tid)`);
      await expectRejection(t, () => storage.loadBefore(a!, bad), invalid, {}, `loadBefore(oid, ${label})`);
      await expectRejection(t, () => storage.history(bad), invalid, {}, `history(${label})`);
      if (bad !== undefined) {
        // (an undefined fromTid means "from the start")
        await expectRejection(t, () => storage.iterator(bad).next(), invalid, {}, `iterator(${label})`);
        await expectRejection(t, () => storage.iterator(ZERO_TID, bad).next(), invalid, {}, `iterator(0n, ${label})`);
      }
      await expectRejection(t, () => storage.pack(bad), invalid, {}, `pack(${label})`);
      await expectRejection(t, () => store(bad, ZERO_TID, bytes('x'), []), invalid, {}, `store oid ${label}`);
      await expectRejection(t, () => store(a, bad, bytes('x'), []), invalid, {}, `store baseTid ${label}`);
      await expectRejection(t, () => store(a, tid, bytes('x'), [bad]), invalid, {}, `store refs [${label}]`);
      await expectRejection(t, () => storage.commit({ stores: [], readCurrent: [{ oid: bad, tid }] }), invalid, {},
        `readCurrent oid ${label}`);
    }
    for (const data of ['text', [1, 2, 3], null, new ArrayBuffer(4)]) {
      await expectRejection(t, () => store(a, tid, data, []), invalid, {}, `data ${show(data)}`);
    }
    await expectRejection(t, () => store(a, tid, bytes('x'), 'not a list'), invalid, {}, 'refs not an array');
    await expectRejection(t, () => storage.commit(null as never), invalid, {}, 'commit(null)');
    await expectRejection(t, () => storage.commit({} as never), invalid, {}, 'commit({})');
    await expectRejection(t, () => storage.commit({ stores: 'x' } as never), invalid, {}, 'stores not an array');
    for (const entry of [null, undefined, 5, 'x', [1, 2]]) {
      await expectRejection(t, () => storage.commit({ stores: [entry] } as never), invalid, {}, `stores [${show(entry)}]`);
      await expectRejection(t, () => storage.commit({ stores: [], readCurrent: [entry] } as never), invalid, {}, `readCurrent [${show(entry)}]`);
    }
    await expectRejection(t, () => storage.commit({ stores: [], readCurrent: 5 } as never), invalid, {}, 'readCurrent not an array');
    await expectRejection(t, () => storage.commit({ stores: [], meta: 'x' } as never), invalid, {}, 'meta not an object');
    const twice = { oid: a!, baseTid: tid, data: bytes('x'), refs: [] };
    await expectRejection(t, () => storage.commit({ stores: [twice, twice] }), invalid, {}, 'one OID stored twice');
    await expectRejection(t, () => storage.newOids(-1), invalid, {}, 'newOids(-1)');
    await expectRejection(t, () => storage.newOids(1.5), invalid, {}, 'newOids(1.5)');
    await expectRejection(t, () => storage.newOids(Infinity), invalid, {}, 'newOids(Infinity)');
    await expectRejection(t, () => storage.history(a!, -1), invalid, {}, 'history with limit -1');

    const txn = await storage.tpcBegin();
    expectThrow(t, () => txn.store(-1n, ZERO_TID, bytes('x'), []), invalid, 'txn.store with a negative OID');
    expectThrow(t, () => txn.store(a!, tid, 'text' as never, []), invalid, 'txn.store with string data');
    expectThrow(t, () => txn.checkCurrent(1 as never, tid), invalid, 'txn.checkCurrent with a number');
    await txn.abort();

    t.equal(await storage.lastTransaction(), tid, 'no transaction was committed');
    t.same(await storage.load(a!), { data: bytes('a1'), tid }, 'the object is intact');
    t.equal((await dumpTransactions(storage)).length, 1);
    const next = await put(storage, a!, tid, 'a2');
    t.ok(next > tid, 'the storage still commits');
  });

  if (readOnlyFactory) {
    t.test('a read-only storage serves reads and refuses writes with ReadOnlyError', async (t) => {
      const storage: Storage = await freshStorage(t, readOnlyFactory);
      t.equal(storage.isReadOnly, true, 'isReadOnly says so');
      const last = await storage.lastTransaction();
      t.equal(typeof last, 'bigint', 'reads work');
      await expectRejection(t, () => put(storage, 1n, ZERO_TID, 'x'), 'ZEO_READ_ONLY', {}, 'commit');
      // OIDs made up by a reader (a replica, a fallback) would collide with the writer's.
      await expectRejection(t, () => storage.newOids(1), 'ZEO_READ_ONLY', {}, 'newOids');
      // The refusal may come at tpcBegin or, at the latest, at vote.
      await expectRejection(t, async () => {
        const txn = await storage.tpcBegin();
        try {
          txn.store(1n, ZERO_TID, bytes('x'), []);
          await txn.vote();
          await txn.finish();
        } finally {
          await txn.abort();
        }
      }, 'ZEO_READ_ONLY', {}, 'two-phase commit');
      t.equal(await storage.lastTransaction(), last, 'nothing was committed');
    });
  }
}
