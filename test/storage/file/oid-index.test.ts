// The FileStorage index on its own (pure logic): a saved base searched in place plus recent
// changes, merged on save, must always answer like a plain Map.

import t from 'tap';
import { FileIndex } from '../../../storage/file/oid-index.js';

t.test('base plus recent entries answer like a Map, and survive save and load', async (t) => {
  const model = new Map<bigint, number>();
  let index = new FileIndex(7n);
  let mismatches = 0;
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 2000; i++) {
      // Spread OIDs wide (and past 2^53) so ordering by bigint, not by number, is exercised.
      const oid = BigInt(Math.floor(Math.random() * 5000)) * (round % 2 === 0 ? 1n : 1n << 40n);
      const offset = 48 + Math.floor(Math.random() * 1e9);
      index.setCurrent(oid, offset);
      model.set(oid, offset);
    }
    index.end = 1000 + round;
    index.lastTid = BigInt(round + 1) << 40n;
    for (const [oid, offset] of model) if (index.get(oid) !== offset) mismatches++;
    t.equal(index.size, model.size, `round ${round}: size`);
    const saved = FileIndex.deserialize(index.serialize());
    if (typeof saved === 'string') throw new Error(saved);
    index = saved;
  }
  t.equal(mismatches, 0, 'every lookup matched the model');
  t.equal(index.size, model.size);
  for (const [oid, offset] of model) if (index.get(oid) !== offset) mismatches++;
  t.equal(mismatches, 0, 'after the last load too');
  t.equal(index.get(123456789n), undefined, 'an unknown OID is not found');
  const { oids } = index.sorted();
  t.ok(oids.every((oid, i) => i === 0 || oids[i - 1]! < oid), 'saved OIDs are strictly ascending');
  t.equal(index.end, 1003);
  t.equal(index.lastTid, 4n << 40n);
  t.equal(index.fileId, 7n);
  t.ok(index.nextOid > oids[oids.length - 1]!, 'next OID is past every stored OID');
});

t.test('a damaged saved index is refused, never half used', async (t) => {
  const index = new FileIndex(1n);
  for (let i = 0n; i < 100n; i++) index.setCurrent(i, Number(i) * 10 + 48);
  const bytes = index.serialize();
  const flipped = Buffer.from(bytes);
  flipped[60]! ^= 1;
  t.equal(FileIndex.deserialize(flipped), 'bad checksum');
  t.equal(FileIndex.deserialize(bytes.subarray(0, bytes.length - 8)), 'wrong length for its entry count');
  t.equal(FileIndex.deserialize(Buffer.from('not an index at all, just some text here to be long enough')), 'not a zeo-ts index file');
  // An odd byte offset forces the copying path instead of views on the bytes.
  const unaligned = Buffer.alloc(bytes.length + 1);
  bytes.copy(unaligned, 1);
  const loaded = FileIndex.deserialize(unaligned.subarray(1));
  t.not(typeof loaded, 'string');
  t.equal((loaded as FileIndex).get(42n), 468);
});
