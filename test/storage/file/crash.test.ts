// Crash safety with real processes: a child commits numbered transactions as fast as it can
// (several committers at once, so group commit is on) and reports each commit that returned;
// the parent SIGKILLs it at random moments. After every kill the file must open, hold exactly
// a prefix of the child's transactions (contiguous numbers, intact data), include every
// transaction whose commit had returned, and accept new commits.

import t from 'tap';
import { appendFile, readFile } from 'node:fs/promises';
import { FileStorage } from '../../../storage/file/storage.js';
import { startChild } from './fixtures/child.js';
import { expectedData, tempStoragePath, transactionOffsets } from './fixtures/helpers.js';

const KILLS = 21;

/** Appends a random-length prefix of the file's last transaction; returns its length. */
async function appendTornTransaction(path: string): Promise<number> {
  const offsets = await transactionOffsets(path);
  const file = await readFile(path);
  const last = file.subarray(offsets.at(-1) ?? file.length);
  if (last.length < 2) return 0;
  const torn = last.subarray(0, 1 + Math.floor(Math.random() * (last.length - 1)));
  await appendFile(path, torn);
  return torn.length;
}
const COMMITTER = './committer.js';

t.test(`the file holds a prefix of what was committed, across ${KILLS} SIGKILLs`, async (t) => {
  const path = await tempStoragePath(t);
  let acknowledgedTotal = 0;
  let count = 0;
  let failures = 0;
  for (let round = 0; round < KILLS; round++) {
    const child = startChild(t, COMMITTER, [path, String(1 + (round % 4) * 2)]);
    const ready = await child.waitForLine(/^ready /);
    t.equal(Number(ready.split(' ')[1]), count, `round ${round}: the child continues after transaction ${count - 1}`);
    // Kill at a random moment of the commit loop: 0-150 ms after it started committing.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 150));
    child.process.kill('SIGKILL');
    await child.exited;
    const acknowledged = child.lines.filter((l) => /^\d+ \d+$/.test(l)).map((l) => l.split(' ').map(BigInt));
    acknowledgedTotal += acknowledged.length;

    // Every third round also leaves what a power cut can: the first bytes of one more
    // transaction (SIGKILL alone never tears a write that the kernel accepted).
    let tornWrite = 0;
    if (round % 3 === 2) tornWrite = await appendTornTransaction(path);

    const storage = await FileStorage.open(path);
    t.equal(storage.openInfo.tornBytes, tornWrite, `round ${round}: a torn write of ${tornWrite} bytes is cut off`);
    const seqs: number[] = [];
    const tids = new Map<number, bigint>();
    let isDataIntact = true;
    for await (const txn of storage.iterator()) {
      const seq = Number(txn.meta.extension?.['seq']);
      seqs.push(seq);
      tids.set(seq, txn.tid);
      const record = txn.records[0];
      if (txn.records.length !== 1 || record?.oid !== BigInt(seq + 1) || !Buffer.from(record.data).equals(expectedData(seq))) {
        isDataIntact = false;
      }
    }
    const isPrefix = seqs.every((seq, i) => seq === i);
    const missing = acknowledged.filter(([seq, tid]) => tids.get(Number(seq)) !== tid);
    if (!isPrefix || !isDataIntact || missing.length > 0 || seqs.length < count) failures++;
    t.ok(isPrefix, `round ${round}: transactions 0..${seqs.length - 1} in order, none missing`);
    t.ok(isDataIntact, `round ${round}: every record holds what the child wrote`);
    t.same(missing, [], `round ${round}: all ${acknowledged.length} acknowledged commits are there`);
    t.ok(seqs.length >= count, `round ${round}: nothing committed earlier was lost`);
    count = seqs.length;
    await storage.close();
  }
  t.equal(failures, 0);
  t.ok(acknowledgedTotal > KILLS, `${acknowledgedTotal} commits were acknowledged before the kills`);

  const storage = await FileStorage.open(path);
  t.teardown(() => storage.close());
  const { tid } = await storage.commit({ stores: [{ oid: 0n, baseTid: 0n, data: expectedData(0), refs: [] }] });
  t.equal(await storage.lastTransaction(), tid, 'the file accepts new commits after the last kill');
});
