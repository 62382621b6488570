// FileStorage on its own: reopening, the saved index, argument errors, group commit and
// two-phase commit. Crash recovery, locking and pack have their own files next to this one.

import t from 'tap';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { ConflictError, InvalidArgumentError, NotFoundError, ReadOnlyError, StorageClosedError, TransactionStateError } from '../../../errors.js';
import { FILE_HEADER_SIZE } from '../../../storage/file/format.js';
import { FileStorage } from '../../../storage/file/storage.js';
import { bytes, tempStoragePath } from './fixtures/helpers.js';

t.test('committed data survives close and reopen, with its history', async (t) => {
  const path = await tempStoragePath(t);
  const storage = await FileStorage.open(path);
  const [child] = await storage.newOids(1);
  const first = await storage.commit({
    stores: [
      { oid: 0n, baseTid: 0n, data: bytes('root v1'), refs: [child!] },
      { oid: child!, baseTid: 0n, data: bytes('child'), refs: [] },
    ],
    meta: { user: 'ann', description: 'create', extension: { n: 1 } },
  });
  const second = await storage.commit({ stores: [{ oid: 0n, baseTid: first.tid, data: bytes('root v2'), refs: [child!] }] });
  await storage.close();

  const reopened = await FileStorage.open(path);
  t.teardown(() => reopened.close());
  t.same(await reopened.load(0n), { data: bytes('root v2'), tid: second.tid });
  t.same(await reopened.loadBefore(0n, second.tid), { data: bytes('root v1'), start: first.tid, end: second.tid });
  t.equal(await reopened.loadBefore(0n, first.tid), null, 'nothing before the first revision');
  t.same(await reopened.history(0n), [
    { tid: second.tid, size: 7 },
    { tid: first.tid, size: 7 },
  ]);
  t.equal(await reopened.lastTransaction(), second.tid);
  const [next] = await reopened.newOids(1);
  t.ok(next! > child!, 'OIDs handed out before the close are not handed out again');
  const seen = [];
  for await (const txn of reopened.iterator()) seen.push(txn);
  t.equal(seen.length, 2);
  t.same(seen[0]!.meta, { user: 'ann', description: 'create', extension: { n: 1 } });
  t.same(seen[0]!.records.map((r) => r.refs), [[child], []]);
  const fromSecond = [];
  for await (const txn of reopened.iterator(second.tid)) fromSecond.push(txn.tid);
  t.same(fromSecond, [second.tid], 'iterator(fromTid) starts at that transaction');
});

t.test('the saved index is used on reopen, and a stale one is rebuilt by a scan', async (t) => {
  const path = await tempStoragePath(t);
  const storage = await FileStorage.open(path);
  let tid = 0n;
  for (let i = 0; i < 20; i++) {
    tid = (await storage.commit({ stores: [{ oid: 0n, baseTid: tid, data: bytes(`v${i}`), refs: [] }] })).tid;
  }
  await storage.close();
  const staleIndex = await readFile(path + '.index');

  const withIndex = await FileStorage.open(path);
  t.equal(withIndex.openInfo.usedSavedIndex, true);
  t.equal(withIndex.openInfo.scannedBytes, 0, 'nothing left to scan');
  tid = (await withIndex.commit({ stores: [{ oid: 1n, baseTid: 0n, data: bytes('new'), refs: [] }] })).tid;
  const { size } = await stat(path);
  await withIndex.close();
  // As after a crash that came after more commits: the index on disk is an older one.
  await writeFile(path + '.index', staleIndex);

  const tail = await FileStorage.open(path);
  t.equal(tail.openInfo.usedSavedIndex, true, 'an older index of the same file still helps');
  t.ok(tail.openInfo.scannedBytes > 0 && tail.openInfo.scannedBytes < size / 2, 'only the tail was scanned');
  t.same(await tail.load(1n), { data: bytes('new'), tid });
  t.equal(await tail.lastTransaction(), tid);
  await tail.close();

  await writeFile(path + '.index', Buffer.from('garbage'));
  const rebuilt = await FileStorage.open(path);
  t.teardown(() => rebuilt.close());
  t.equal(rebuilt.openInfo.usedSavedIndex, false, 'an unreadable index is ignored');
  t.equal(rebuilt.openInfo.scannedBytes, size - FILE_HEADER_SIZE, 'the whole file was scanned');
  t.same((await rebuilt.load(0n)).data, bytes('v19'));
});

t.test('bad arguments give typed errors and change nothing', async (t) => {
  const path = await tempStoragePath(t);
  await t.rejects(FileStorage.open(''), InvalidArgumentError);
  await t.rejects(FileStorage.open(path + '.missing', { isReadOnly: true }), InvalidArgumentError);
  const storage = await FileStorage.open(path);
  t.teardown(() => storage.close());
  await t.rejects(storage.load(-1n), InvalidArgumentError);
  await t.rejects(storage.load(5 as unknown as bigint), InvalidArgumentError);
  await t.rejects(storage.load(7n), NotFoundError);
  await t.rejects(storage.history(7n), NotFoundError);
  await t.rejects(
    storage.commit({ stores: [{ oid: 1n, baseTid: 0n, data: 'text' as unknown as Uint8Array, refs: [] }] }),
    InvalidArgumentError,
  );
  await t.rejects(
    storage.commit({
      stores: [
        { oid: 1n, baseTid: 0n, data: bytes('a'), refs: [] },
        { oid: 1n, baseTid: 0n, data: bytes('b'), refs: [] },
      ],
    }),
    InvalidArgumentError,
  );
  await t.rejects(storage.commit({ stores: [{ oid: 1n, baseTid: 0n, data: bytes('a'), refs: [-3n] }] }), InvalidArgumentError);
  t.equal(await storage.lastTransaction(), 0n, 'nothing was written');

  const txn = await storage.tpcBegin();
  await t.rejects(txn.finish(), TransactionStateError, 'finish before vote');
  txn.store(1n, 0n, bytes('x'), []);
  await txn.vote();
  t.throws(() => txn.store(2n, 0n, bytes('y'), []), TransactionStateError, 'store after vote');
  const { tid } = await txn.finish();
  await t.rejects(txn.vote(), TransactionStateError, 'vote after finish');
  await txn.abort();
  t.same(await storage.load(1n), { data: bytes('x'), tid });
});

t.test('two-phase commit: conflicts at vote, the lock held until finish or abort', async (t) => {
  const path = await tempStoragePath(t);
  const storage = await FileStorage.open(path);
  t.teardown(() => storage.close());
  const base = await storage.commit({ stores: [{ oid: 0n, baseTid: 0n, data: bytes('a'), refs: [] }] });

  const holder = await storage.tpcBegin({ user: 'holder' });
  holder.store(0n, base.tid, bytes('b'), []);
  await holder.vote();
  let isWaiterDone = false;
  const waiter = storage
    .commit({ stores: [{ oid: 1n, baseTid: 0n, data: bytes('c'), refs: [] }] })
    .finally(() => (isWaiterDone = true));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(isWaiterDone, false, 'a commit waits while another transaction holds the lock');
  const held = await holder.finish();
  const waited = await waiter;
  t.ok(waited.tid > held.tid, 'it commits after the holder');

  const loser = await storage.tpcBegin();
  loser.store(0n, base.tid, bytes('late'), []);
  const error = await loser.vote().catch((e: unknown) => e);
  t.type(error, ConflictError);
  t.equal((error as ConflictError).currentTid, held.tid);
  await t.rejects(loser.finish(), TransactionStateError, 'a transaction that lost its vote is aborted');

  const reader = await storage.tpcBegin();
  reader.checkCurrent(0n, base.tid);
  reader.store(5n, 0n, bytes('d'), []);
  const readError = (await reader.vote().catch((e: unknown) => e)) as ConflictError;
  t.equal(readError.isReadConflict, true, 'a stale read is a read conflict');

  const aborted = await storage.tpcBegin();
  aborted.store(6n, 0n, bytes('e'), []);
  await aborted.vote();
  await aborted.abort();
  await t.rejects(storage.load(6n), NotFoundError, 'an aborted transaction leaves no trace');
  const after = await storage.commit({ stores: [{ oid: 6n, baseTid: 0n, data: bytes('f'), refs: [] }] });
  t.ok(after.tid > waited.tid, 'the lock was released by abort');
});

t.test('concurrent one-call commits share fsyncs, and queued writes of one object conflict', async (t) => {
  const path = await tempStoragePath(t);
  const storage = await FileStorage.open(path);
  t.teardown(() => storage.close());
  const invalidations: bigint[] = [];
  storage.onInvalidation((inv) => invalidations.push(inv.tid));
  const before = storage.stats;
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      storage.commit({ stores: [{ oid: BigInt(10 + i), baseTid: 0n, data: bytes(`n${i}`), refs: [] }] }),
    ),
  );
  const after = storage.stats;
  t.equal(after.commits - before.commits, 50);
  t.ok(after.fsyncs - before.fsyncs < 50, `50 commits took ${after.fsyncs - before.fsyncs} fsyncs`);
  const tids = results.map((r) => r.tid);
  t.same([...tids].sort((a, b) => (a < b ? -1 : 1)), tids, 'TIDs follow the order of the calls');
  t.same(invalidations, tids, 'listeners hear every commit in TID order');

  const racing = await Promise.allSettled(
    [1, 2, 3].map((n) => storage.commit({ stores: [{ oid: 99n, baseTid: 0n, data: bytes(`w${n}`), refs: [] }] })),
  );
  t.equal(racing.filter((r) => r.status === 'fulfilled').length, 1, 'one of three creators of one object wins');
  t.equal(racing.filter((r) => r.status === 'rejected' && r.reason instanceof ConflictError).length, 2);
});

t.test('read-only and closed storages refuse what they must', async (t) => {
  const path = await tempStoragePath(t);
  const writer = await FileStorage.open(path);
  const { tid } = await writer.commit({ stores: [{ oid: 0n, baseTid: 0n, data: bytes('r'), refs: [] }] });
  const reader = await FileStorage.open(path, { isReadOnly: true });
  t.equal(reader.isReadOnly, true);
  t.same(await reader.load(0n), { data: bytes('r'), tid }, 'a reader opens while the writer holds the file');
  await t.rejects(reader.commit({ stores: [{ oid: 1n, baseTid: 0n, data: bytes('x'), refs: [] }] }), ReadOnlyError);
  await t.rejects(reader.tpcBegin(), ReadOnlyError);
  await reader.close();
  await writer.close();
  await writer.close();
  await t.rejects(writer.load(0n), StorageClosedError);
  await t.rejects(writer.commit({ stores: [] }), StorageClosedError);
});

t.test('a new file is created with its folder; close lets running reads finish', async (t) => {
  const path = await tempStoragePath(t, 'var/deeper/Data.fs');
  const storage = await FileStorage.open(path);
  const { tid } = await storage.commit({ stores: [{ oid: 0n, baseTid: 0n, data: bytes('x'.repeat(5000)), refs: [] }] });
  const reads = Array.from({ length: 20 }, () => storage.load(0n));
  await storage.close();
  const results = await Promise.all(reads);
  t.ok(results.every((r) => r.tid === tid && r.data.length === 5000), 'reads started before close all succeeded');
  await t.rejects(storage.load(0n), StorageClosedError, 'reads after close are refused');
});
