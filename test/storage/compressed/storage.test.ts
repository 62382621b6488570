import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import t from 'tap';
import { ZERO_TID } from '../../../storage/contract.js';
import { COMPRESSED_MARKER, CompressedStorage } from '../../../storage/compressed/storage.js';
import { FileStorage } from '../../../storage/file/storage.js';
import { MemoryStorage } from '../../../storage/memory/storage.js';
import { storageConformance } from '../conformance.js';

// A low threshold, so most records in the suite really go through compression.
storageConformance(t, 'CompressedStorage(MemoryStorage)', async () => ({
  storage: new CompressedStorage(new MemoryStorage(), { compressAboveBytes: 8 }),
}), {
  readOnlyFactory: async () => ({ storage: new CompressedStorage(new MemoryStorage({ isReadOnly: true })) }),
});

/** A wrapper and the storage under it, both readable by the test. */
function pair(compressAboveBytes = 512) {
  const inner = new MemoryStorage();
  return { inner, storage: new CompressedStorage(inner, { compressAboveBytes }) };
}

/** Exactly `size` bytes of text that compresses well, as typical records do. */
function repetitive(size: number): Uint8Array {
  let text = '';
  for (let i = 0; text.length < size; i++) text += `{"name":"item","i":${i}},`;
  return new TextEncoder().encode(text.slice(0, size));
}

t.test('large data is stored smaller and loads back unchanged', async (t) => {
  const { inner, storage } = pair();
  t.teardown(() => storage.close());
  const [oid] = await storage.newOids(1);
  const data = repetitive(100_000);
  const { tid } = await storage.commit({ stores: [{ oid: oid!, baseTid: ZERO_TID, data, refs: [] }] });
  const stored = await inner.load(oid!);
  t.equal(stored.data[0], COMPRESSED_MARKER, 'the inner storage holds a compressed frame');
  t.ok(stored.data.byteLength < data.byteLength / 4, `${data.byteLength} bytes stored as ${stored.data.byteLength}`);
  t.same(await storage.load(oid!), { data, tid }, 'the caller gets its bytes back');
  t.same((await storage.history(oid!)).map((h) => h.size), [data.byteLength], 'history reports the original size');
  t.same((await inner.history(oid!)).map((h) => h.size), [stored.data.byteLength]);
});

t.test('small data and incompressible data are stored untouched', async (t) => {
  const { inner, storage } = pair(512);
  t.teardown(() => storage.close());
  const [small, random] = await storage.newOids(2);
  const smallData = repetitive(512); // exactly at the threshold: not above it
  const randomData = new Uint8Array(randomBytes(4096));
  const txn = await storage.tpcBegin();
  txn.store(small!, ZERO_TID, smallData, []);
  txn.store(random!, ZERO_TID, randomData, []);
  await txn.vote();
  await txn.finish();
  t.same((await inner.load(small!)).data, smallData, 'at or below the threshold: as it is');
  t.same((await inner.load(random!)).data, randomData, 'compression that does not help is not kept');
  t.same((await storage.load(random!)).data, randomData);
});

t.test('the two-phase path compresses too', async (t) => {
  const { inner, storage } = pair();
  t.teardown(() => storage.close());
  const [oid] = await storage.newOids(1);
  const data = repetitive(20_000);
  const txn = await storage.tpcBegin();
  txn.store(oid!, ZERO_TID, data, []);
  await txn.vote();
  const { tid } = await txn.finish();
  t.ok((await inner.load(oid!)).data.byteLength < data.byteLength / 5);
  const before = await storage.loadBefore(oid!, tid + 1n);
  t.same(before && [before.data, before.start, before.end], [data, tid, null], 'loadBefore decompresses');
});

t.test('data that starts with the marker byte round-trips at any size', async (t) => {
  const { inner, storage } = pair(512);
  t.teardown(() => storage.close());
  const oids = await storage.newOids(3);
  const values = [
    new Uint8Array([COMPRESSED_MARKER]),
    new Uint8Array([COMPRESSED_MARKER, 0x05, 1, 2, 3]),
    new Uint8Array(randomBytes(2000)).fill(COMPRESSED_MARKER, 0, 1),
  ];
  await storage.commit({ stores: values.map((data, i) => ({ oid: oids[i]!, baseTid: ZERO_TID, data, refs: [] })) });
  for (const [i, data] of values.entries()) {
    t.same((await storage.load(oids[i]!)).data, data, `value ${i} reads back as written`);
    t.equal((await inner.load(oids[i]!)).data[0], COMPRESSED_MARKER, 'stored as a frame, so it cannot be misread');
  }
});

t.test('records written before compression was enabled still load, mixed with new ones', async (t) => {
  const inner = new MemoryStorage();
  const [legacy, legacyMarker, fresh] = await inner.newOids(3);
  const legacyData = repetitive(5000);
  // Opaque bytes that happen to start with the marker but are no frame of ours.
  const foreign = new Uint8Array([COMPRESSED_MARKER, 0x03, 0xff, 0xff, 0xff]);
  const t1 = (await inner.commit({
    stores: [
      { oid: legacy!, baseTid: ZERO_TID, data: legacyData, refs: [] },
      { oid: legacyMarker!, baseTid: ZERO_TID, data: foreign, refs: [] },
    ],
  })).tid;
  const storage = new CompressedStorage(inner);
  t.teardown(() => storage.close());
  t.same((await storage.load(legacy!)).data, legacyData, 'plain legacy record');
  t.same((await storage.load(legacyMarker!)).data, foreign, 'a foreign record starting with the marker');
  const freshData = repetitive(6000);
  const t2 = (await storage.commit({ stores: [{ oid: fresh!, baseTid: ZERO_TID, data: freshData, refs: [] }] })).tid;
  const t3 = (await storage.commit({ stores: [{ oid: legacy!, baseTid: t1, data: freshData, refs: [] }] })).tid;
  t.equal((await inner.load(legacy!)).data[0], COMPRESSED_MARKER, 'the rewrite is compressed');
  const seen: string[] = [];
  for await (const txn of storage.iterator()) {
    for (const r of txn.records) seen.push(`${txn.tid === t1 ? 't1' : txn.tid === t2 ? 't2' : 't3'}:${r.data.byteLength}`);
  }
  t.same(seen, ['t1:5000', 't1:5', 't2:6000', 't3:6000'], 'the iterator yields original bytes for old and new');
  const old = await storage.loadBefore(legacy!, t3);
  t.same(old?.data, legacyData, 'the old plain revision is still readable');
});

t.test('a compressed frame is plain deflate-raw behind a length header', async (t) => {
  const { inner, storage } = pair(0);
  t.teardown(() => storage.close());
  const [oid] = await storage.newOids(1);
  const data = repetitive(300); // 300 < 128 * 128: a two-byte varint
  await storage.commit({ stores: [{ oid: oid!, baseTid: ZERO_TID, data, refs: [] }] });
  const stored = (await inner.load(oid!)).data;
  t.same([...stored.subarray(0, 3)], [COMPRESSED_MARKER, (300 & 0x7f) | 0x80, 300 >> 7], 'marker, then LEB128 length');
  t.same(new Uint8Array(zlib.inflateRawSync(stored.subarray(3))), data, 'any zlib can read the rest');
});

t.test('options are checked where they enter', async (t) => {
  const inner = new MemoryStorage();
  t.throws(() => new CompressedStorage(inner, { compressAboveBytes: -1 }), { code: 'ZEO_INVALID_ARGUMENT' });
  t.throws(() => new CompressedStorage(inner, { level: 12 }), { code: 'ZEO_INVALID_ARGUMENT' });
  const storage = new CompressedStorage(inner, { level: 1 });
  t.equal(storage.name, inner.name, 'the inner name shows in logs');
  await storage.close();
  await t.rejects(inner.load(0n), { code: 'ZEO_CLOSED' }, 'closing the wrapper closes the inner storage');
});

t.test('a FileStorage file mixes plain and compressed records across reopenings', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'zeo-compressed-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'Data.fs');
  const oldData = repetitive(4000);
  const newData = repetitive(8000);

  const plain = await FileStorage.open(path);
  const [oldOid, newOid] = await plain.newOids(2);
  const t1 = (await plain.commit({ stores: [{ oid: oldOid!, baseTid: ZERO_TID, data: oldData, refs: [] }] })).tid;
  await plain.close();

  const compressed = new CompressedStorage(await FileStorage.open(path));
  t.same((await compressed.load(oldOid!)).data, oldData, 'a record written before compression loads');
  const t2 = (await compressed.commit({ stores: [{ oid: newOid!, baseTid: ZERO_TID, data: newData, refs: [] }] })).tid;
  await compressed.close();

  const reopenedPlain = await FileStorage.open(path);
  const stored = await reopenedPlain.load(newOid!);
  t.equal(stored.data[0], COMPRESSED_MARKER, 'the file holds the new record compressed');
  t.ok(stored.data.byteLength < newData.byteLength / 4);
  t.same((await reopenedPlain.load(oldOid!)).data, oldData, 'and the old one plain');
  await reopenedPlain.close();

  const reopened = new CompressedStorage(await FileStorage.open(path));
  t.teardown(() => reopened.close());
  t.same(await reopened.load(newOid!), { data: newData, tid: t2 });
  t.same(await reopened.load(oldOid!), { data: oldData, tid: t1 });
});
