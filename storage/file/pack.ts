// FileStorage.pack: rewrite the file without what no snapshot at or after packTid can see,
// while reads and commits go on.
//
//  1. Off the main thread (a piscina worker), copy the live part of the file as it was when
//     the pack began into `<path>.pack` (pack-copy.ts). Commits keep appending to the old
//     file meanwhile; readers keep reading it.
//  2. Under the commit lock: append to the copy the transactions committed meanwhile, fsync it,
//     rename it over the old file (atomic: a crash leaves the old file or the new one) and fsync
//     the directory, then swap in the new file and index in one synchronous step. Reads already
//     running finish on the old file, which closes when the last of them is done.
//
// piscina fits because phase 1 is one self-contained, CPU- and IO-heavy task. A pool is
// started for the pack and destroyed after it, so an idle storage keeps no extra thread.

import { open, rename, unlink } from 'node:fs/promises';
import { Piscina } from 'piscina';
import { StorageClosedError } from '../../errors.js';
import type { Mutex } from '../commit-lock.js';
import type { PackResult, Tid } from '../contract.js';
import { encodeMeta } from '../transaction-meta.js';
import { encodeTransaction } from './format.js';
import { FileIndex } from './oid-index.js';
import { syncDirectory } from './open.js';
import type { PackCopyResult, PackCopyTask } from './pack-copy.js';
import { FileGeneration } from './read.js';

const WORKER = new URL('./pack-worker.js', import.meta.url).href;

/** What pack needs of the FileStorage it packs (the storage passes itself). */
export interface PackTarget {
  readonly path: string;
  readonly name: string;
  readonly generation: FileGeneration;
  readonly commitLock: Mutex;
  /** Under the commit lock: the packed file replaces the current one. */
  swapGeneration(next: FileGeneration): void;
  saveIndexNow(): Promise<void>;
}

export async function packFile(storage: PackTarget, packTid: Tid, signal: AbortSignal): Promise<PackResult> {
  const outPath = storage.path + '.pack';
  const start = storage.generation;
  const task: PackCopyTask = {
    path: storage.path,
    end: start.index.end,
    lastTid: start.index.lastTid,
    nextOid: start.index.nextOid,
    packTid,
    outPath,
  };
  let isSwapped = false;
  try {
    const copy = await runInWorker(task, signal);
    const release = await storage.commitLock.acquire();
    try {
      if (signal.aborted || storage.generation !== start) throw new StorageClosedError(storage.name);
      const out = await open(outPath, 'r+');
      try {
        const index = await appendCommittedMeanwhile(storage, copy, task.end, out);
        await out.datasync();
        await rename(outPath, storage.path);
        isSwapped = true;
        await syncDirectory(storage.path);
        storage.swapGeneration(new FileGeneration(storage.path, out, index));
      } catch (error) {
        if (!isSwapped) await out.close();
        throw error;
      }
    } finally {
      release();
    }
    await storage.saveIndexNow().catch(() => {});
    return { removedRevisions: copy.removedRevisions, removedObjects: copy.removedObjects };
  } finally {
    if (!isSwapped) await unlink(outPath).catch(() => {});
  }
}

async function runInWorker(task: PackCopyTask, signal: AbortSignal): Promise<PackCopyResult> {
  const pool = new Piscina<PackCopyTask, PackCopyResult>({ filename: WORKER, minThreads: 1, maxThreads: 1 });
  try {
    return await pool.run(task, { signal });
  } catch (error) {
    if (signal.aborted) throw new StorageClosedError(task.path);
    throw error;
  } finally {
    await pool.destroy();
  }
}

/**
 * Under the commit lock: the copy's index, with the transactions committed since the copy
 * began appended to it (their revisions chained to the copy's offsets).
 */
async function appendCommittedMeanwhile(
  storage: PackTarget,
  copy: PackCopyResult,
  copiedEnd: number,
  out: Awaited<ReturnType<typeof open>>,
): Promise<FileIndex> {
  const old = storage.generation;
  const index = new FileIndex(copy.fileId, copy, copy.end, old.index.lastTid, old.index.nextOid);
  let offset = copiedEnd;
  while (offset < old.index.end) {
    const { record, length } = await old.readTransaction(offset);
    offset += length;
    const records = record.records.map((r) => ({
      oid: r.oid,
      prevOffset: index.get(r.oid) ?? 0,
      data: r.data,
      refs: r.refs,
    }));
    const { bytes, recordOffsets } = encodeTransaction(record.tid, encodeMeta(record.meta), records, index.end);
    await out.write(bytes, 0, bytes.length, index.end);
    records.forEach((r, i) => index.setCurrent(r.oid, recordOffsets[i]!));
    index.end += bytes.length;
  }
  return index;
}
