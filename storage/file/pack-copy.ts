// Pack, phase 1: copy the live part of a FileStorage file into a new file. Pure file work with
// no shared state, so it runs on a worker thread (pack-worker.ts, through piscina) while
// the storage goes on serving reads and commits; pack.ts then copies what was committed
// meanwhile and swaps the files.
//
// What survives is what MemoryStorage.pack keeps: per object, the revision current at packTid
// and every later one; of those, only objects reachable from the root through refs, or written
// after packTid (a transaction may have created them for a link it has not made yet).

import { open } from 'node:fs/promises';
import type { Oid, Tid } from '../contract.js';
import { ROOT_OID } from '../contract.js';
import { encodeFileHeader, encodeTransaction, FILE_HEADER_SIZE, newFileId, type RecordToWrite } from './format.js';
import { scanTransactions } from './scan.js';

export interface PackCopyTask {
  /** The file to pack. */
  path: string;
  /** Its committed end when the pack began: only [header, end) is read. */
  end: number;
  /** TID of the transaction ending at `end`: the new file's TID floor. */
  lastTid: Tid;
  /** The next OID to hand out: the new file's OID floor. */
  nextOid: Oid;
  packTid: Tid;
  /** Where to write the packed copy (created, or replaced). */
  outPath: string;
}

export interface PackCopyResult {
  fileId: bigint;
  /** End of the packed copy. */
  end: number;
  /** The new index: OIDs (ascending) and the offsets of their current revisions in the copy. */
  oids: BigUint64Array;
  offsets: BigUint64Array;
  removedRevisions: number;
  removedObjects: number;
}

interface KeptRevision {
  offset: number;
  tid: Tid;
  refs: Oid[];
}

/** Bytes of output gathered before one write. */
const WRITE_CHUNK = 4 * 1024 * 1024;

export async function copyLiveTransactions(task: PackCopyTask): Promise<PackCopyResult> {
  const source = await open(task.path, 'r');
  try {
    const kept = await findKeptRevisions(source, task);
    const { reachable, removedObjects } = findReachable(kept, task.packTid);
    const keptOffsets = new Set<number>();
    for (const [oid, revisions] of kept.revisions) {
      if (!reachable.has(oid)) continue;
      for (const r of revisions) keptOffsets.add(r.offset);
    }
    const totalRevisions = kept.totalRevisions;
    const fileId = newFileId();
    const out = await open(task.outPath, 'w');
    try {
      const current = new Map<Oid, number>();
      let end = FILE_HEADER_SIZE;
      let pending: Buffer[] = [encodeFileHeader({ fileId, tidFloor: task.lastTid, oidFloor: task.nextOid })];
      let pendingBytes = FILE_HEADER_SIZE;
      let written = 0;
      const flush = async () => {
        const chunk = Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        await out.write(chunk, 0, chunk.length, written);
        written += chunk.length;
      };
      await scanTransactions(
        source,
        { file: task.path, from: FILE_HEADER_SIZE, size: task.end, lastTid: 0n, withData: true },
        (txn) => {
          const records: RecordToWrite[] = [];
          for (const r of txn.records) {
            if (!keptOffsets.has(r.offset)) continue;
            records.push({ oid: r.oid, prevOffset: current.get(r.oid) ?? 0, data: r.data, refs: r.refs });
          }
          if (records.length === 0) return;
          const { bytes, recordOffsets } = encodeTransaction(txn.header.tid, txn.meta, records, end);
          records.forEach((r, i) => current.set(r.oid, recordOffsets[i]!));
          pending.push(bytes);
          pendingBytes += bytes.length;
          end += bytes.length;
          // Writing every few megabytes keeps memory bounded on a large file.
          return pendingBytes >= WRITE_CHUNK ? flush() : undefined;
        },
      );
      await flush();
      await out.datasync();
      // Sorted here, off the main thread, so the storage can use the arrays as its index.
      const oids = BigUint64Array.from(current.keys()).sort();
      const offsets = new BigUint64Array(oids.length);
      for (let i = 0; i < oids.length; i++) offsets[i] = BigInt(current.get(oids[i]!)!);
      return {
        fileId,
        end,
        oids,
        offsets,
        removedRevisions: totalRevisions - keptOffsets.size,
        removedObjects,
      };
    } finally {
      await out.close();
    }
  } finally {
    await source.close();
  }
}

/** Per object, the revision current at packTid and all later ones (oldest first). */
async function findKeptRevisions(source: Awaited<ReturnType<typeof open>>, task: PackCopyTask) {
  const revisions = new Map<Oid, KeptRevision[]>();
  let totalRevisions = 0;
  await scanTransactions(source, { file: task.path, from: FILE_HEADER_SIZE, size: task.end, lastTid: 0n }, (txn) => {
    for (const r of txn.records) {
      totalRevisions++;
      const revision = { offset: r.offset, tid: r.tid, refs: r.refs };
      const list = revisions.get(r.oid);
      if (!list || r.tid <= task.packTid) revisions.set(r.oid, [revision]);
      else list.push(revision);
    }
  });
  return { revisions, totalRevisions };
}

function findReachable(kept: { revisions: Map<Oid, KeptRevision[]> }, packTid: Tid) {
  const reachable = new Set<Oid>();
  const stack: Oid[] = [ROOT_OID];
  for (const [oid, revisions] of kept.revisions) {
    if (revisions[revisions.length - 1]!.tid > packTid) stack.push(oid);
  }
  while (stack.length > 0) {
    const oid = stack.pop()!;
    if (reachable.has(oid)) continue;
    const revisions = kept.revisions.get(oid);
    if (!revisions) continue;
    reachable.add(oid);
    for (const r of revisions) for (const ref of r.refs) if (!reachable.has(ref)) stack.push(ref);
  }
  return { reachable, removedObjects: kept.revisions.size - reachable.size };
}
