// FileStorage.pack: the same result as MemoryStorage.pack (the reference), while commits and
// reads go on during it without a single error, and a packed file reopens with or without its
// saved index.

import t from 'tap';
import { rm, stat } from 'node:fs/promises';
import { NotFoundError, StorageClosedError } from '../../../errors.js';
import type { Oid, Storage, StoreRequest } from '../../../storage/contract.js';
import { FileStorage } from '../../../storage/file/storage.js';
import { MemoryStorage } from '../../../storage/memory/storage.js';
import { bytes, tempStoragePath, text } from './fixtures/helpers.js';

/** Commits `writes` (oid, data, refs) against the storage's current revisions. */
async function write(storage: Storage, writes: [Oid, string, Oid[]][]): Promise<bigint> {
  const stores: StoreRequest[] = [];
  for (const [oid, data, refs] of writes) {
    const baseTid = await storage.load(oid).then((r) => r.tid, () => 0n);
    stores.push({ oid, baseTid, data: bytes(data), refs });
  }
  return (await storage.commit({ stores })).tid;
}

/** Live objects 1..40 (from the root), garbage 41..60, three revisions of each. */
async function populate(storage: Storage): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const live: [Oid, string, Oid[]][] = [];
    for (let i = 1; i <= 60; i++) live.push([BigInt(i), `object ${i} round ${round}`, i < 60 ? [BigInt(i + 1)] : []]);
    await write(storage, live.slice(0, 40));
    await write(storage, live.slice(40)); // 41..60 link to each other, but nothing links to 41
    // Objects 1..40 hang off the root as a chain (1 -> 2 -> ... -> 40); 40 links on to 41 only
    // in round 0, so the garbage was once reachable.
    await write(storage, [[0n, `root ${round}`, [1n]]]);
    if (round === 0) await write(storage, [[40n, 'object 40 round 0b', [41n]]]);
    else await write(storage, [[40n, `object 40 round ${round}b`, []]]);
  }
}

async function countRevisions(storage: Storage): Promise<number> {
  let count = 0;
  for await (const txn of storage.iterator()) count += txn.records.length;
  return count;
}

async function snapshot(storage: Storage): Promise<Map<Oid, string[]>> {
  const state = new Map<Oid, string[]>();
  for (let i = 0n; i <= 70n; i++) {
    const history = await storage.history(i).catch((e: unknown) => (e instanceof NotFoundError ? null : Promise.reject(e)));
    if (!history) continue;
    const revisions: string[] = [text((await storage.load(i)).data)];
    for (const entry of history.slice(1)) {
      const before = await storage.loadBefore(i, history[0]!.tid);
      revisions.push(`${entry.size}:${before ? 'older' : 'none'}`);
    }
    state.set(i, revisions);
  }
  return state;
}

t.test('pack keeps what MemoryStorage.pack keeps, while commits and reads go on', async (t) => {
  const path = await tempStoragePath(t);
  const storage = await FileStorage.open(path);
  const reference = new MemoryStorage();
  await populate(storage);
  await populate(reference);
  const packTid = await storage.lastTransaction();
  const revisionsBefore = await countRevisions(storage);

  let isPacking = true;
  let readErrors = 0;
  let reads = 0;
  const readers = Array.from({ length: 3 }, async () => {
    while (isPacking) {
      const oid = BigInt(1 + Math.floor(Math.random() * 40));
      try {
        const current = await storage.load(oid);
        if (!text(current.data).startsWith(`object ${oid} `)) readErrors++;
        await storage.loadBefore(oid, current.tid);
        for await (const txn of storage.iterator(packTid)) if (txn.tid < packTid) readErrors++;
        reads++;
      } catch {
        readErrors++;
      }
    }
  });
  let commitsDuringPack = 0;
  const writer = (async () => {
    while (isPacking) {
      await write(storage, [[BigInt(100 + commitsDuringPack), `new ${commitsDuringPack}`, []], [2n, `object 2 update ${commitsDuringPack}`, [3n]]]);
      commitsDuringPack++;
    }
  })();
  const result = await storage.pack(packTid).finally(() => (isPacking = false));
  await Promise.all([...readers, writer]);
  const expected = await reference.pack(await reference.lastTransaction());

  t.same(result, expected, 'the same revisions and objects are removed');
  t.equal(readErrors, 0, `${reads} reads during the pack, none failed`);
  t.ok(commitsDuringPack > 0, `${commitsDuringPack} commits went on during the pack`);
  for (let i = 0; i < commitsDuringPack; i++) await write(reference, [[BigInt(100 + i), `new ${i}`, []], [2n, `object 2 update ${i}`, [3n]]]);
  const state = await snapshot(storage);
  t.same(state, await snapshot(reference), 'every object and its history match the reference');
  t.notOk(state.has(41n), 'garbage is gone');
  t.equal(
    await countRevisions(storage),
    revisionsBefore - result.removedRevisions + 2 * commitsDuringPack,
    'the file holds only the kept revisions and those committed since',
  );
  const lastTid = await storage.lastTransaction();
  await storage.close();

  const reopened = await FileStorage.open(path);
  t.equal(reopened.openInfo.usedSavedIndex, true, 'the packed file has its own saved index');
  t.same(await snapshot(reopened), state);
  await reopened.close();
  await rm(path + '.index');
  const rescanned = await FileStorage.open(path);
  t.teardown(() => rescanned.close());
  t.same(await snapshot(rescanned), state, 'a scan of the packed file gives the same state');
  t.equal(await rescanned.lastTransaction(), lastTid);
});

t.test('TIDs and OIDs are never reused after pack drops the newest objects', async (t) => {
  const path = await tempStoragePath(t);
  const storage = await FileStorage.open(path);
  await write(storage, [[0n, 'root', []]]);
  const [oid] = await storage.newOids(1);
  const garbageTid = await write(storage, [[oid!, 'garbage', []]]);
  const result = await storage.pack(garbageTid);
  t.same(result, { removedRevisions: 1, removedObjects: 1 });
  t.equal(await storage.lastTransaction(), garbageTid, 'lastTransaction does not go back');
  await storage.close();
  await rm(path + '.index');
  const reopened = await FileStorage.open(path);
  t.teardown(() => reopened.close());
  t.equal(await reopened.lastTransaction(), garbageTid, 'not even after a rescan');
  const [next] = await reopened.newOids(1);
  t.ok(next! > oid!, 'the OID of the dropped object is not handed out again');
  t.ok((await write(reopened, [[0n, 'root 2', []]])) > garbageTid);
});

t.test('close during a pack stops it and leaves the file as it was', async (t) => {
  const path = await tempStoragePath(t);
  const storage = await FileStorage.open(path);
  await populate(storage);
  const before = await storage.lastTransaction();
  const packing = storage.pack(before).then(
    () => 'packed',
    (e: unknown) => e,
  );
  await storage.close();
  const outcome = await packing;
  t.ok(outcome === 'packed' || outcome instanceof StorageClosedError, 'the pack finished first or was stopped');
  await t.rejects(stat(path + '.pack'), 'no half-written pack file is left');
  const reopened = await FileStorage.open(path);
  t.teardown(() => reopened.close());
  t.equal(await reopened.lastTransaction(), before);
  t.equal(text((await reopened.load(1n)).data), 'object 1 round 2');
});

t.test('two packs at once run one after the other; a reader cannot pack', async (t) => {
  const path = await tempStoragePath(t);
  const storage = await FileStorage.open(path);
  t.teardown(() => storage.close());
  await populate(storage);
  const packTid = await storage.lastTransaction();
  const [first, second] = await Promise.all([storage.pack(packTid), storage.pack(packTid)]);
  t.ok(first.removedRevisions > 0, 'the first pack removed revisions');
  t.same(second, { removedRevisions: 0, removedObjects: 0 }, 'the second found nothing left to remove');
  t.equal(text((await storage.load(40n)).data), 'object 40 round 2b');
  const reader = await FileStorage.open(path, { isReadOnly: true });
  t.teardown(() => reader.close());
  await t.rejects(reader.pack(packTid), { code: 'ZEO_READ_ONLY' });
});
