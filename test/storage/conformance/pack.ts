// Conformance, part 4: pack. What a snapshot at or after the pack TID can see survives (the
// revision current at the pack TID, every later one, everything reachable from the root through
// refs, objects written after the pack TID); older revisions and unreachable objects go.

import type { Test } from 'tap';
import { ROOT_OID, ZERO_TID, type Oid, type Storage, type Tid } from '../../../storage/contract.js';
import { bytes, expectRejection, freshStorage, put, text, type StorageFactory } from './support.js';

async function commitMany(storage: Storage, stores: [Oid, Tid, string, Oid[]][]): Promise<Tid> {
  const { tid } = await storage.commit({
    stores: stores.map(([oid, baseTid, data, refs]) => ({ oid, baseTid, data: bytes(data), refs })),
  });
  return tid;
}

export function packConformance(t: Test, factory: StorageFactory): void {
  t.test('pack keeps what snapshots at or after the pack TID see, drops the rest', async (t) => {
    const storage = await freshStorage(t, factory);
    const [a, b, c, cChild, d, e, f] = await storage.newOids(7);
    const root = ROOT_OID;
    // t1: root -> a -> b, root -> c -> cChild -> c (a cycle), d and f referenced by nobody.
    const t1 = await commitMany(storage, [
      [root, ZERO_TID, 'root1', [a!, c!]],
      [a!, ZERO_TID, 'a1', [b!]],
      [b!, ZERO_TID, 'b1', []],
      [c!, ZERO_TID, 'c1', [cChild!]],
      [cChild!, ZERO_TID, 'cChild1', [c!]],
      [d!, ZERO_TID, 'd1', []],
      [f!, ZERO_TID, 'f1', []],
    ]);
    const t2 = await put(storage, a!, t1, 'a2', [b!]);
    const t3 = await put(storage, root, t1, 'root2', [a!]); // c and cChild become garbage
    const t4 = await put(storage, b!, t1, 'b2', [a!]);
    // After the pack TID: f becomes reachable again, e is new and not linked (yet).
    const t5 = await commitMany(storage, [
      [root, t3, 'root3', [a!, f!]],
      [e!, ZERO_TID, 'e1', []],
    ]);

    const result = await storage.pack(t3);
    t.same(result, { removedRevisions: 5, removedObjects: 3 }, 'root1, a1, c, cChild and d removed');

    const historyOf = async (oid: Oid) => (await storage.history(oid)).map((h) => h.tid);
    t.same(await historyOf(root), [t5, t3], 'the root revision current at the pack TID is kept');
    t.same(await historyOf(a!), [t2], 'a revision current at the pack TID though written before it');
    t.same(await historyOf(b!), [t4, t1], 'b1 is what a snapshot at the pack TID sees');
    const b1 = await storage.loadBefore(b!, t4);
    t.same(b1 && [text(b1.data), b1.start, b1.end], ['b1', t1, t4], 'and it still loads with its range');
    t.equal(await storage.loadBefore(a!, t2), null, 'a1 is gone: nothing before t2 any more');
    t.equal(text((await storage.load(a!)).data), 'a2');
    t.equal(text((await storage.load(f!)).data), 'f1', 'reachable through a revision newer than the pack TID');
    t.equal(text((await storage.load(e!)).data), 'e1', 'written after the pack TID: kept');
    for (const [oid, name] of [[c!, 'c'], [cChild!, 'cChild'], [d!, 'd']] as const) {
      await expectRejection(t, storage.load(oid), 'ZEO_NOT_FOUND', { oid }, `unreachable ${name} is gone`);
    }

    const survivors: string[] = [];
    for await (const txn of storage.iterator()) {
      for (const record of txn.records) survivors.push(`${txn.tid}:${record.oid}:${text(record.data)}`);
    }
    t.same(survivors.sort(), [
      `${t1}:${b}:b1`, `${t1}:${f}:f1`, `${t2}:${a}:a2`, `${t3}:${root}:root2`,
      `${t4}:${b}:b2`, `${t5}:${root}:root3`, `${t5}:${e}:e1`,
    ].sort(), 'the iterator holds exactly the surviving revisions');
    t.equal(await storage.lastTransaction(), t5, 'pack does not change lastTransaction');
    t.same(await storage.pack(t3), { removedRevisions: 0, removedObjects: 0 }, 'a second pack finds nothing');
    const t6 = await put(storage, a!, t2, 'a3', [b!]);
    t.ok(t6 > t5, 'commits go on after pack');
  });

  t.test('reads and commits go on while pack runs', async (t) => {
    const storage = await freshStorage(t, factory);
    const [a, old] = await storage.newOids(2);
    const rootTid = await put(storage, ROOT_OID, ZERO_TID, 'root', [a!]);
    let aTid = await put(storage, a!, ZERO_TID, 'a0');
    for (let i = 1; i <= 20; i++) aTid = await put(storage, a!, aTid, `a${i}`);
    await put(storage, old!, ZERO_TID, 'garbage');
    const packTid = await storage.lastTransaction();
    const [packed, committed, loaded] = await Promise.all([
      storage.pack(packTid),
      put(storage, a!, aTid, 'during pack'),
      storage.load(ROOT_OID),
    ]);
    t.same(packed, { removedRevisions: 21, removedObjects: 1 }, 'a0..a19 and the garbage object');
    t.same(await storage.load(a!), { data: bytes('during pack'), tid: committed }, 'the concurrent commit stays');
    t.same((await storage.history(a!)).map((h) => h.tid), [committed, aTid]);
    t.equal(loaded.tid, rootTid, 'a load during pack sees the root');
    t.equal((await storage.load(ROOT_OID)).tid, rootTid);
  });
}
