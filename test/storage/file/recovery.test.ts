// FileStorage after damage: a torn last transaction is cut back; damage before the end, a
// truncated file and a foreign file are refused with CorruptFileError naming file and offset,
// and a refused file is left exactly as it was.

import t, { type Test } from 'tap';
import { appendFile, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { CorruptFileError } from '../../../errors.js';
import { FileStorage } from '../../../storage/file/storage.js';
import { bytes, tempStoragePath, transactionOffsets } from './fixtures/helpers.js';

/** A storage file with `count` committed transactions (one object each), closed. */
async function fileWith(t: Test, count: number): Promise<{ path: string; tids: bigint[] }> {
  const path = await tempStoragePath(t);
  const storage = await FileStorage.open(path);
  const tids: bigint[] = [];
  for (let i = 0; i < count; i++) {
    tids.push((await storage.commit({ stores: [{ oid: BigInt(i), baseTid: 0n, data: bytes(`object ${i} `.repeat(20)), refs: [] }] })).tid);
  }
  await storage.close();
  return { path, tids };
}

async function expectCorrupt(t: Test, path: string, offset: number, pattern: RegExp): Promise<void> {
  const before = await readFile(path);
  const error = await FileStorage.open(path).then(
    async (s) => {
      await s.close();
      return null;
    },
    (e: unknown) => e,
  );
  t.type(error, CorruptFileError);
  const corrupt = error as CorruptFileError;
  t.equal(corrupt.file, path, 'the error names the file');
  t.equal(corrupt.offset, offset, 'the error names the byte offset');
  t.match(corrupt.message, pattern, 'the error says what was expected');
  t.same(await readFile(path), before, 'a refused file is left untouched');
}

t.test('a torn last transaction is cut back to the last complete one', async (t) => {
  const { path, tids } = await fileWith(t, 5);
  const offsets = await transactionOffsets(path);
  const { size } = await stat(path);
  const lastLength = size - offsets[4]!;
  // Half of the last transaction reached the disk, and the index never covered it.
  await rm(path + '.index');
  await truncate(path, offsets[4]! + Math.floor(lastLength / 2));
  const storage = await FileStorage.open(path);
  t.equal(storage.openInfo.tornBytes, Math.floor(lastLength / 2));
  t.equal(await storage.lastTransaction(), tids[3], 'the last complete transaction is the last one');
  t.equal((await stat(path)).size, offsets[4], 'the file was cut at the start of the torn transaction');
  t.same((await storage.load(3n)).tid, tids[3]);
  const { tid } = await storage.commit({ stores: [{ oid: 4n, baseTid: 0n, data: bytes('again'), refs: [] }] });
  t.ok(tid > tids[3]!, 'new commits are accepted after the cut');
  await storage.close();
  const reopened = await FileStorage.open(path);
  t.teardown(() => reopened.close());
  t.equal(reopened.openInfo.tornBytes, 0);
  t.same(await reopened.load(4n), { data: bytes('again'), tid });
});

t.test('zeros or garbage after the last transaction are a torn tail too', async (t) => {
  const { path, tids } = await fileWith(t, 3);
  const { size } = await stat(path);
  await appendFile(path, Buffer.alloc(300));
  const zeros = await FileStorage.open(path);
  t.equal(zeros.openInfo.tornBytes, 300);
  t.equal(await zeros.lastTransaction(), tids[2]);
  await zeros.close();
  t.equal((await stat(path)).size, size);
  await appendFile(path, Buffer.from('ZTXN\x00\x00\x01\x00 a header whose body never arrived'));
  const garbage = await FileStorage.open(path);
  t.teardown(() => garbage.close());
  t.ok(garbage.openInfo.tornBytes > 0);
  t.equal(await garbage.lastTransaction(), tids[2]);
});

t.test('a read-only opener ignores a torn tail without cutting it', async (t) => {
  const { path, tids } = await fileWith(t, 2);
  await appendFile(path, Buffer.alloc(50, 7));
  const { size } = await stat(path);
  const reader = await FileStorage.open(path, { isReadOnly: true });
  t.teardown(() => reader.close());
  t.equal(await reader.lastTransaction(), tids[1]);
  t.equal((await stat(path)).size, size, 'a reader never writes');
});

t.test('a damaged checksum before the last transaction is an error naming its offset', async (t) => {
  const { path } = await fileWith(t, 5);
  const offsets = await transactionOffsets(path);
  const file = await readFile(path);
  file[offsets[2]! + 80]! ^= 0xff; // a byte of object 2's data
  await writeFile(path, file);
  await rm(path + '.index');
  await expectCorrupt(t, path, offsets[2]!, /checksum.*valid transaction follows at byte \d+/);
});

t.test('a damaged length field in the middle is an error, not a torn tail', async (t) => {
  const { path } = await fileWith(t, 5);
  const offsets = await transactionOffsets(path);
  const file = await readFile(path);
  file.writeUInt32BE(0x7fff_ffff, offsets[1]! + 4);
  await writeFile(path, file);
  await rm(path + '.index');
  await expectCorrupt(t, path, offsets[1]!, /only \d+ remain.*valid transaction follows/);
});

t.test('a file shorter than its saved index covers was truncated: an error', async (t) => {
  const { path } = await fileWith(t, 5);
  const offsets = await transactionOffsets(path);
  await truncate(path, offsets[3]!);
  await expectCorrupt(t, path, offsets[3]!, /up to byte \d+ .*truncated/);
});

t.test('a foreign file is refused at offset 0 with a clear message', async (t) => {
  const path = await tempStoragePath(t);
  await writeFile(path, 'name,balance\nann,10\nbob,20\n'.repeat(10));
  await expectCorrupt(t, path, 0, /not a zeo-ts FileStorage file/);
  await t.rejects(FileStorage.open(path, { isReadOnly: true }), CorruptFileError, 'read-only too');
  const header = await tempStoragePath(t, 'Short.fs');
  await writeFile(header, 'ZEO');
  await expectCorrupt(t, header, 0, /header/);
});
