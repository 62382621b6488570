// Conformance, part 1: reading. load, loadBefore (MVCC ranges), lastTransaction, history,
// iterator and newOids, each against the rules in storage/contract.ts.

import type { Test } from 'tap';
import { ROOT_OID, ZERO_TID } from '../../../storage/contract.js';
import { MAX_U64, tidToDate } from '../../../storage/tid.js';
import {
  bytes,
  dumpTransactions,
  expectRejection,
  freshStorage,
  isStrictlyIncreasing,
  put,
  text,
  type StorageFactory,
} from './support.js';

export function readConformance(t: Test, factory: StorageFactory): void {
  t.test('an empty storage has no transactions and no objects', async (t) => {
    const storage = await freshStorage(t, factory);
    t.equal(await storage.lastTransaction(), ZERO_TID, 'lastTransaction is ZERO_TID');
    await expectRejection(t, storage.load(ROOT_OID), 'ZEO_NOT_FOUND', { oid: ROOT_OID }, 'load of the root');
    await expectRejection(t, storage.load(12345n), 'ZEO_NOT_FOUND', { oid: 12345n }, 'load');
    await expectRejection(t, storage.loadBefore(12345n, MAX_U64), 'ZEO_NOT_FOUND', {}, 'loadBefore');
    await expectRejection(t, storage.history(12345n), 'ZEO_NOT_FOUND', {}, 'history');
    t.same(await dumpTransactions(storage), [], 'the iterator yields nothing');
    t.equal(typeof storage.name, 'string');
    t.equal(storage.isReadOnly, false);
  });

  t.test('what is stored loads back byte for byte', async (t) => {
    const storage = await freshStorage(t, factory);
    const [a, b, c] = await storage.newOids(3);
    const startedAt = Date.now();
    const everyByte = Uint8Array.from({ length: 256 }, (_, i) => i);
    const large = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 0xff);
    const { tid, invalidations } = await storage.commit({
      stores: [
        { oid: a!, baseTid: ZERO_TID, data: everyByte, refs: [b!, c!] },
        { oid: b!, baseTid: ZERO_TID, data: new Uint8Array(0), refs: [] },
        { oid: c!, baseTid: ZERO_TID, data: large, refs: [] },
      ],
    });
    t.ok(tid > ZERO_TID, 'the commit returns a TID');
    const committedAt = tidToDate(tid).getTime();
    // Generous bounds: a storage server may run on another (slightly skewed) clock.
    t.ok(committedAt >= startedAt - 60_000 && committedAt <= Date.now() + 60_000,
      `the TID encodes the commit time (${new Date(committedAt).toISOString()})`);
    t.ok(Array.isArray(invalidations), 'and a list of invalidations');
    const loadedA = await storage.load(a!);
    t.same([...loadedA.data], [...everyByte], 'all 256 byte values survive');
    t.equal(loadedA.tid, tid, 'load names the TID that wrote the revision');
    const loadedB = await storage.load(b!);
    t.equal(loadedB.data.byteLength, 0, 'empty data is a valid record');
    t.equal(loadedB.tid, tid, 'objects of one transaction share its TID');
    t.ok(Buffer.from((await storage.load(c!)).data).equals(large), '1 MiB survives');
    t.equal(await storage.lastTransaction(), tid);

    const tid2 = await put(storage, a!, tid, 'second');
    t.ok(tid2 > tid, 'a later commit has a larger TID');
    t.same(await storage.load(a!), { data: bytes('second'), tid: tid2 }, 'load returns the current revision');
    t.equal((await storage.load(b!)).tid, tid, 'untouched objects keep their TID');
  });

  t.test('one transaction may hold many objects', async (t) => {
    const storage = await freshStorage(t, factory);
    const oids = await storage.newOids(500);
    const { tid } = await storage.commit({
      stores: oids.map((oid, i) => ({ oid, baseTid: ZERO_TID, data: bytes(`object ${i}`), refs: i > 0 ? [oids[i - 1]!] : [] })),
    });
    const loaded = await Promise.all(oids.map((oid) => storage.load(oid)));
    t.ok(loaded.every((l, i) => l.tid === tid && text(l.data) === `object ${i}`), 'all 500 load, all at one TID');
    const [txn] = await dumpTransactions(storage);
    t.equal(txn?.records.length, 500, 'the iterator shows them as one transaction');
  });

  t.test('loadBefore returns the revision valid before a TID with its range', async (t) => {
    const storage = await freshStorage(t, factory);
    const [oid, other] = await storage.newOids(2);
    const t1 = await put(storage, oid!, ZERO_TID, 'v1');
    const t2 = await put(storage, oid!, t1, 'v2');
    const tOther = await put(storage, other!, ZERO_TID, 'unrelated');
    const t3 = await put(storage, oid!, t2, 'v3');

    t.equal(await storage.loadBefore(oid!, t1), null, 'null before the object existed');
    t.equal(await storage.loadBefore(oid!, 0n), null, 'null before anything');
    const first = await storage.loadBefore(oid!, t2);
    t.same(first && [text(first.data), first.start, first.end], ['v1', t1, t2], 'v1 is valid in [t1, t2)');
    const second = await storage.loadBefore(oid!, t3);
    t.same(second && [text(second.data), second.start, second.end], ['v2', t2, t3], 'v2 in [t2, t3)');
    const between = await storage.loadBefore(oid!, tOther);
    t.same(
      between && [text(between.data), between.start, between.end],
      ['v2', t2, t3],
      'end is the next revision of this object, not the next transaction',
    );
    const current = await storage.loadBefore(oid!, t3 + 1n);
    t.same(current && [text(current.data), current.start, current.end], ['v3', t3, null], 'end null when current');
    const atMax = await storage.loadBefore(oid!, MAX_U64);
    t.same(atMax && [text(atMax.data), atMax.end], ['v3', null]);
    await expectRejection(t, storage.loadBefore(oid! + 1000n, t3), 'ZEO_NOT_FOUND', {}, 'unknown object');
  });

  t.test('lastTransaction follows every commit', async (t) => {
    const storage = await freshStorage(t, factory);
    const [oid] = await storage.newOids(1);
    let base = ZERO_TID;
    const seen: bigint[] = [];
    for (let i = 0; i < 5; i++) {
      base = await put(storage, oid!, base, `v${i}`);
      t.equal(await storage.lastTransaction(), base, `after commit ${i}`);
      seen.push(base);
    }
    t.ok(isStrictlyIncreasing(seen), 'TIDs strictly increase');
  });

  t.test('history lists revisions newest first, at most limit', async (t) => {
    const storage = await freshStorage(t, factory);
    const [oid] = await storage.newOids(1);
    const tids: bigint[] = [];
    let base = ZERO_TID;
    for (let i = 1; i <= 5; i++) {
      base = await put(storage, oid!, base, 'x'.repeat(i * 10));
      tids.push(base);
    }
    const all = await storage.history(oid!);
    t.same(all.map((h) => h.tid), [...tids].reverse(), 'every revision, newest first');
    t.same(all.map((h) => h.size), [50, 40, 30, 20, 10], 'sizes of the data');
    t.same((await storage.history(oid!, 2)).map((h) => h.tid), [tids[4], tids[3]], 'limit 2');
    t.equal((await storage.history(oid!, 100)).length, 5, 'a limit above the count');
  });

  t.test('the iterator yields committed transactions oldest first within bounds', async (t) => {
    const storage = await freshStorage(t, factory);
    const [a, b] = await storage.newOids(2);
    const t1 = (
      await storage.commit({
        stores: [
          { oid: a!, baseTid: ZERO_TID, data: bytes('a1'), refs: [b!] },
          { oid: b!, baseTid: ZERO_TID, data: bytes('b1'), refs: [] },
        ],
        meta: { user: 'alice', description: 'create a and b', extension: { request: '/x' } },
      })
    ).tid;
    const t2 = await put(storage, a!, t1, 'a2', [b!, ROOT_OID]);
    const t3 = await put(storage, b!, t1, 'b2');
    const t4 = await put(storage, a!, t2, 'a3');

    const all = await dumpTransactions(storage);
    t.same(all, [
      { tid: t1, user: 'alice', records: [[a, 'a1', [b]], [b, 'b1', []]] },
      { tid: t2, user: undefined, records: [[a, 'a2', [b, ROOT_OID]]] },
      { tid: t3, user: undefined, records: [[b, 'b2', []]] },
      { tid: t4, user: undefined, records: [[a, 'a3', []]] },
    ], 'every transaction, its records and their refs');
    for await (const txn of storage.iterator(t1, t1)) {
      t.equal(txn.meta.description, 'create a and b', 'meta survives');
      t.same(txn.meta.extension, { request: '/x' });
      for (const record of txn.records) t.equal(record.tid, t1, 'each record carries its TID');
    }
    t.same((await dumpTransactions(storage, t2, t3)).map((x) => x.tid), [t2, t3], 'both bounds inclusive');
    t.same((await dumpTransactions(storage, t2 + 1n)).map((x) => x.tid), [t3, t4], 'from between TIDs');
    t.same((await dumpTransactions(storage, undefined, t2)).map((x) => x.tid), [t1, t2], 'only an upper bound');
    t.same(await dumpTransactions(storage, t4 + 1n), [], 'nothing after the last');

    // An iteration in progress survives commits made meanwhile.
    const iteration = storage.iterator();
    const first = await iteration.next();
    const t5 = await put(storage, b!, t3, 'b3');
    const rest: bigint[] = [];
    for (let step = await iteration.next(); !step.done; step = await iteration.next()) rest.push(step.value.tid);
    t.equal(first.value?.tid, t1);
    t.same(rest.filter((tid) => tid !== t5), [t2, t3, t4], 'the iteration goes on after a concurrent commit');
  });

  t.test('newOids never repeats and never hands out an OID in use', async (t) => {
    const storage = await freshStorage(t, factory);
    const rootTid = await put(storage, ROOT_OID, ZERO_TID, 'root');
    const batches = await Promise.all(Array.from({ length: 10 }, () => storage.newOids(10)));
    const single = await storage.newOids();
    t.equal(single.length, 1, 'one by default');
    const all = [...batches.flat(), ...single];
    t.equal(all.length, 101);
    t.equal(new Set(all).size, 101, 'all distinct, also when asked concurrently');
    t.notOk(all.includes(ROOT_OID), 'the root OID is in use, never handed out');
    await put(storage, all[0]!, ZERO_TID, 'used');
    const later = await storage.newOids(50);
    t.notOk(later.some((oid) => all.includes(oid)), 'later calls repeat nothing');
    t.ok(later.every((oid) => typeof oid === 'bigint' && oid >= 0n));
    t.equal((await storage.load(ROOT_OID)).tid, rootTid);
  });
}
