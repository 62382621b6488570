// The durable OID reservation of FileStorage (storage/file/oid-reservation.ts): an OID handed
// out by newOids is never handed out again, not after a SIGKILL of the process that handed it
// out, not after a clean close with nothing committed, not after a pack swapped the file while
// OIDs were being handed out; a reservation write torn by a crash loses nothing; and the
// reservation runs ahead in blocks, so newOids rarely waits for an fsync.

import t from 'tap';
import { open, rm } from 'node:fs/promises';
import { ReadOnlyError } from '../../../errors.js';
import { FileStorage } from '../../../storage/file/storage.js';
import { RESERVATION_BLOCK, reservationPathOf } from '../../../storage/file/oid-reservation.js';
import { startChild } from './fixtures/child.js';
import { bytes, tempStoragePath } from './fixtures/helpers.js';

const TAKER = './oid-taker.js';

const max = (oids: bigint[]) => oids.reduce((a, b) => (a > b ? a : b));

t.test('OIDs handed out before a SIGKILL are never handed out again', async (t) => {
  const path = await tempStoragePath(t);
  const before: bigint[] = [];
  for (let round = 0; round < 2; round++) {
    const child = startChild(t, TAKER, [path, '5']);
    const { oids } = JSON.parse(await child.waitForLine(/^\{/)) as { oids: string[] };
    before.push(...oids.map(BigInt));
    child.process.kill('SIGKILL');
    await child.exited;
  }
  t.equal(new Set(before).size, 10, 'two processes killed in turn never repeated an OID');
  const storage = await FileStorage.open(path);
  t.teardown(() => storage.close());
  const after = await storage.newOids(5);
  t.ok(after.every((oid) => oid > max(before)), `after the last kill, OIDs start above every one handed out (${after[0]} > ${max(before)})`);
});

t.test('a clean close with nothing committed keeps the OIDs handed out', async (t) => {
  const path = await tempStoragePath(t);
  const first = await FileStorage.open(path);
  const before = await first.newOids(10);
  await first.close();
  await rm(path + '.index', { force: true });
  const second = await FileStorage.open(path);
  t.teardown(() => second.close());
  const after = await second.newOids(10);
  t.ok(after[0]! > max(before), 'the reopened storage goes on above them');
});

t.test('newOids writes a reservation once per block, not per call', async (t) => {
  const path = await tempStoragePath(t);
  const storage = await FileStorage.open(path);
  t.teardown(() => storage.close());
  const calls = 2000;
  const all: bigint[] = [];
  for (let i = 0; i < calls; i++) all.push(...(await storage.newOids(10)));
  t.equal(new Set(all).size, calls * 10, 'every OID distinct');
  const expected = Math.ceil((calls * 10) / Number(RESERVATION_BLOCK)) + 1;
  t.ok(storage.stats.oidReservations <= expected, `${storage.stats.oidReservations} reservation writes for ${calls} calls (at most ${expected})`);
  t.ok(storage.stats.oidReservations >= 1);
  const concurrent = await Promise.all(Array.from({ length: 50 }, () => storage.newOids(1000)));
  t.equal(new Set(concurrent.flat()).size, 50_000, 'concurrent calls that outrun the reservation share its writes and repeat nothing');
});

t.test('a reservation write torn by a crash loses nothing: the other slot still covers what was handed out', async (t) => {
  const path = await tempStoragePath(t);
  const storage = await FileStorage.open(path);
  const handedOut = await storage.newOids(3);
  handedOut.push(...(await storage.newOids(Number(RESERVATION_BLOCK) + 1))); // a second reservation
  t.equal(storage.stats.oidReservations, 2);
  handedOut.push(...(await storage.newOids(3)));
  await storage.close();
  // The third write would go to the first slot: tear it (half old, half garbage).
  const file = await open(reservationPathOf(path), 'r+');
  await file.write(Buffer.from('torn write'), 0, 10, 4);
  await file.close();
  const reopened = await FileStorage.open(path);
  t.teardown(() => reopened.close());
  const [next] = await reopened.newOids(1);
  t.ok(next! > max(handedOut), `the second slot covers every OID handed out (${next} > ${max(handedOut)})`);
});

t.test('a damaged reservation file warns and goes on after the highest OID stored', async (t) => {
  const path = await tempStoragePath(t);
  const storage = await FileStorage.open(path);
  const [oid] = await storage.newOids(1);
  await storage.commit({ stores: [{ oid: oid!, baseTid: 0n, data: bytes('x'), refs: [] }] });
  await storage.close();
  const file = await open(reservationPathOf(path), 'r+');
  await file.write(Buffer.alloc(64, 0xee), 0, 64, 0);
  await file.close();
  const warnings: string[] = [];
  const onWarning = (warning: Error & { code?: string }) => warnings.push(`${warning.code}: ${warning.message}`);
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));
  const reopened = await FileStorage.open(path);
  t.teardown(() => reopened.close());
  const [next] = await reopened.newOids(1);
  t.ok(next! > oid!, 'no OID in use is handed out');
  await new Promise((resolve) => setImmediate(resolve));
  t.match(warnings.join('\n'), /ZEO_OID_RESERVATION_LOST: .*\.oids: no valid OID reservation/);
});

t.test('a new data file starts a new reservation, even beside an old .oids file', async (t) => {
  const path = await tempStoragePath(t);
  const old = await FileStorage.open(path);
  await old.newOids(100);
  await old.close();
  await rm(path);
  await rm(path + '.index', { force: true });
  const fresh = await FileStorage.open(path);
  t.teardown(() => fresh.close());
  t.same(await fresh.newOids(2), [1n, 2n], 'a new database numbers its objects from 1 again');
});

t.test('OIDs handed out while a pack swaps the file are not handed out again', async (t) => {
  const path = await tempStoragePath(t);
  const storage = await FileStorage.open(path);
  t.teardown(() => storage.close());
  let tid = 0n;
  for (let i = 0; i < 20; i++) {
    tid = (await storage.commit({ stores: [{ oid: 0n, baseTid: tid, data: bytes(`root ${i}`.padEnd(20_000, '.')), refs: [] }] })).tid;
  }
  const handedOut: bigint[] = [];
  let isPacking = true;
  const taking = (async () => {
    while (isPacking) {
      handedOut.push(...(await storage.newOids(1)));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  })();
  await storage.pack(tid);
  isPacking = false;
  await taking;
  handedOut.push(...(await storage.newOids(50)));
  t.equal(new Set(handedOut).size, handedOut.length, `${handedOut.length} OIDs taken around the pack, none twice`);
});

t.test('a read-only FileStorage refuses newOids', async (t) => {
  const path = await tempStoragePath(t);
  await (await FileStorage.open(path)).close();
  const reader = await FileStorage.open(path, { isReadOnly: true });
  t.teardown(() => reader.close());
  await t.rejects(reader.newOids(1), ReadOnlyError, 'its OIDs could only collide with the writer\'s');
});
