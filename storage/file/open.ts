// Opening a FileStorage file: create it if new, check its header, take the saved index if it
// still matches the file (else rebuild it by a scan), scan the tail the index does not cover,
// and cut a torn tail back to the last complete transaction (writers only: a reader just stops
// there, as a writer may be in the middle of appending).

import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CorruptFileError, InvalidArgumentError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { decodeFileHeader, encodeFileHeader, fileHeaderProblem, FILE_HEADER_SIZE } from './format.js';
import { FileIndex, readSavedIndex } from './oid-index.js';
import { FileGeneration } from './read.js';
import { readTransactionEndingAt, scanTransactions } from './scan.js';

export interface OpenedFile {
  generation: FileGeneration;
  /** How the index was obtained, for tests and logs. */
  usedSavedIndex: boolean;
  /** Where the saved index stopped (the scan went on from there), or null without one. */
  savedIndexEnd: number | null;
  scannedBytes: number;
  /** Bytes cut off (or, read-only, ignored) as a torn tail. */
  tornBytes: number;
  /** The file was created by this open (or found empty): a new database. */
  isNew: boolean;
}

/** fsync a directory, so a file created or renamed in it survives a crash. */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(dirname(path), 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function openHandle(path: string, isReadOnly: boolean): Promise<{ handle: FileHandle; isCreated: boolean }> {
  try {
    return { handle: await open(path, isReadOnly ? 'r' : 'r+'), isCreated: false };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw error;
    if (isReadOnly) {
      throw new InvalidArgumentError('path', `${path} does not exist, and a read-only FileStorage cannot create it`);
    }
  }
  try {
    const handle = await open(path, 'wx+');
    await handle.write(encodeFileHeader(), 0, FILE_HEADER_SIZE, 0);
    await handle.datasync();
    await syncDirectory(path);
    return { handle, isCreated: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { handle: await open(path, 'r+'), isCreated: false };
    throw error;
  }
}

export async function openStorageFile(
  path: string,
  options: { isReadOnly: boolean; showProgress: boolean; log: Logger },
): Promise<OpenedFile> {
  const { handle, isCreated } = await openHandle(path, options.isReadOnly);
  try {
    let size = (await handle.stat()).size;
    const isNew = isCreated || size === 0;
    if (size === 0 && !options.isReadOnly) {
      // Created by a process that crashed before writing the header: nothing was committed.
      await handle.write(encodeFileHeader(), 0, FILE_HEADER_SIZE, 0);
      await handle.datasync();
      size = FILE_HEADER_SIZE;
    }
    if (size === 0) {
      // A writer is creating it right now: an empty storage as far as this reader can see.
      const index = new FileIndex(0n);
      return { generation: new FileGeneration(path, handle, index), usedSavedIndex: false, savedIndexEnd: null, scannedBytes: 0, tornBytes: 0, isNew };
    }
    const header = Buffer.alloc(FILE_HEADER_SIZE);
    const { bytesRead } = await handle.read(header, 0, FILE_HEADER_SIZE, 0);
    const problem = fileHeaderProblem(header.subarray(0, bytesRead));
    if (problem) throw new CorruptFileError(path, 0, problem);
    const { fileId, tidFloor, oidFloor } = decodeFileHeader(header);

    const saved = await usableSavedIndex(path, handle, fileId, tidFloor, size);
    const index = saved ?? new FileIndex(fileId, undefined, FILE_HEADER_SIZE, tidFloor, oidFloor > 0n ? oidFloor : 1n);
    const from = index.end;
    const onProgress = options.showProgress && size - from > 16 * 1024 * 1024
      ? (fraction: number) => process.stderr.write(`\rzeo: indexing ${path}: ${Math.floor(fraction * 100)}%`)
      : undefined;
    const scan = await scanTransactions(
      handle,
      // A packed file's transactions lie below its TID floor; later ones are above it.
      { file: path, from, size, lastTid: saved ? index.lastTid : 0n, onProgress },
      (txn) => {
        for (const record of txn.records) index.setCurrent(record.oid, record.offset);
      },
    );
    if (onProgress) process.stderr.write(`\rzeo: indexing ${path}: done\n`);
    index.end = scan.end;
    index.lastTid = scan.lastTid > tidFloor ? scan.lastTid : tidFloor;
    const tornBytes = scan.tornAt === null ? 0 : size - scan.tornAt;
    if (scan.tornAt !== null && !options.isReadOnly) {
      options.log.warn(
        `${path}: cut off ${tornBytes} bytes of an incomplete last transaction at byte offset ${scan.tornAt} ` +
          `(${scan.tornReason}); it was never acknowledged`,
        { code: 'ZEO_TORN_TAIL', file: path, tornBytes, offset: scan.tornAt },
      );
      await handle.truncate(scan.tornAt);
      await handle.datasync();
    }
    return {
      generation: new FileGeneration(path, handle, index),
      usedSavedIndex: saved !== null,
      savedIndexEnd: saved ? from : null,
      scannedBytes: size - from,
      tornBytes,
      isNew,
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * The saved index if it describes this file as it is now: same file id, and the transaction
 * ending where the index stops carries the index's last TID. A file shorter than its own saved
 * index lost committed transactions: that is damage, not a stale index.
 */
async function usableSavedIndex(
  path: string,
  handle: FileHandle,
  fileId: bigint,
  tidFloor: bigint,
  size: number,
): Promise<FileIndex | null> {
  const index = await readSavedIndex(path);
  if (!index || index.fileId !== fileId) return null;
  if (index.end > size) {
    throw new CorruptFileError(
      path,
      size,
      `expected committed transactions up to byte ${index.end} (its saved index records them); the file was truncated`,
    );
  }
  if (index.end === FILE_HEADER_SIZE) return index.lastTid === tidFloor ? index : null;
  const last = await readTransactionEndingAt(handle, index.end, size);
  if (!last) return null;
  const lastTid = last.header.tid > tidFloor ? last.header.tid : tidFloor;
  return lastTid === index.lastTid ? index : null;
}
