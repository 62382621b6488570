// Reading a FileStorage file transaction by transaction from some offset to its end: used to
// build the index when it is missing or stale, to catch up on the tail a saved index does not
// cover, and by pack. This is also where crash recovery decides what a bad transaction means:
//
//  - a bad transaction (incomplete, bad magic, bad checksum) with no valid transaction after
//    it is a torn write from a crash: the scan stops there and reports `tornAt`, and a writer
//    cuts the file back to it. It was never acknowledged: a commit returns only after the fsync
//    of the write that holds it, and each write appends after the previous one's fsync;
//  - a bad transaction followed by a valid one is damage in the middle: CorruptFileError,
//    never a silent loss of the transactions after it. (One case errs on the safe side: a
//    power cut that persisted a later transaction of the last group-commit write but not an
//    earlier one is reported as damage, although cutting would have been right.)

import type { FileHandle } from 'node:fs/promises';
import { CorruptFileError } from '../../errors.js';
import type { Tid } from '../contract.js';
import { toHex } from '../tid.js';
import {
  decodeTransaction,
  decodeTransactionHeader,
  type DecodedRecord,
  TXN_HEADER_SIZE,
  TXN_MAGIC,
  TXN_TRAILER_SIZE,
  type TransactionHeader,
} from './format.js';

const CHUNK = 4 * 1024 * 1024;

/** A read-ahead window over a file, so scanning costs one read per few megabytes. */
export class ChunkReader {
  private buffer = Buffer.alloc(0);
  private start = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly size: number,
    private readonly chunkSize = CHUNK,
  ) {}

  /** Up to `length` bytes at `offset` (fewer at the end of the file). */
  async read(offset: number, length: number): Promise<Buffer> {
    const want = Math.min(length, this.size - offset);
    if (want <= 0) return Buffer.alloc(0);
    if (offset < this.start || offset + want > this.start + this.buffer.length) {
      const size = Math.min(Math.max(want, this.chunkSize), this.size - offset);
      const buffer = Buffer.allocUnsafe(size);
      const { bytesRead } = await this.handle.read(buffer, 0, size, offset);
      this.buffer = buffer.subarray(0, bytesRead);
      this.start = offset;
    }
    const at = offset - this.start;
    return this.buffer.subarray(at, Math.min(at + want, this.buffer.length));
  }
}

export interface ScannedTransaction {
  offset: number;
  header: TransactionHeader;
  meta: Buffer;
  records: DecodedRecord[];
}

export interface ScanOptions {
  /** Name of the file, for errors. */
  file: string;
  from: number;
  size: number;
  /** TID of the transaction before `from` (TIDs must increase). */
  lastTid: Tid;
  withData?: boolean;
  /** Called every few megabytes with the fraction done. */
  onProgress?: (fraction: number) => void;
}

export interface ScanResult {
  /** Offset just after the last complete transaction. */
  end: number;
  lastTid: Tid;
  /** Where a torn tail starts (then equal to `end`), or null. */
  tornAt: number | null;
  tornReason: string | null;
}

/** Reads every transaction in [from, size), oldest first, handing each to `onTransaction`. */
export async function scanTransactions(
  handle: FileHandle,
  options: ScanOptions,
  onTransaction: (txn: ScannedTransaction) => void | Promise<void>,
): Promise<ScanResult> {
  const { file, size } = options;
  const reader = new ChunkReader(handle, size);
  let offset = options.from;
  let lastTid = options.lastTid;
  let nextProgress = offset + CHUNK;
  while (offset < size) {
    const problem = await readOne(reader, offset, size, options.withData ?? false);
    if (typeof problem === 'string') {
      const valid = await findValidTransactionAfter(handle, offset, size);
      if (valid !== null) {
        throw new CorruptFileError(file, offset, `${problem} (a valid transaction follows at byte ${valid})`);
      }
      return { end: offset, lastTid, tornAt: offset, tornReason: problem };
    }
    if (problem.header.tid <= lastTid) {
      throw new CorruptFileError(
        file,
        offset,
        `expected a TID greater than 0x${toHex(lastTid)}, found 0x${toHex(problem.header.tid)}`,
      );
    }
    const pending = onTransaction(problem);
    if (pending) await pending;
    lastTid = problem.header.tid;
    offset += problem.header.length;
    if (options.onProgress && offset >= nextProgress) {
      options.onProgress(offset / size);
      nextProgress = offset + CHUNK;
    }
  }
  return { end: offset, lastTid, tornAt: null, tornReason: null };
}

/** The transaction at `offset`, or what is wrong with it. */
async function readOne(
  reader: ChunkReader,
  offset: number,
  size: number,
  withData: boolean,
): Promise<ScannedTransaction | string> {
  const head = await reader.read(offset, TXN_HEADER_SIZE);
  const header = decodeTransactionHeader(head);
  if (typeof header === 'string') return header;
  if (offset + header.length > size) {
    return `expected ${header.length} bytes of transaction, only ${size - offset} remain`;
  }
  const bytes = await reader.read(offset, header.length);
  const decoded = decodeTransaction(bytes, offset, withData);
  if (typeof decoded === 'string') return decoded;
  return { offset, ...decoded };
}

/**
 * The offset of the first complete, checksummed transaction after `offset`, or null. A hit
 * means the bad bytes at `offset` are damage, not a torn tail.
 */
export async function findValidTransactionAfter(
  handle: FileHandle,
  offset: number,
  size: number,
): Promise<number | null> {
  const magic = Buffer.alloc(4);
  magic.writeUInt32BE(TXN_MAGIC);
  const probe = new ChunkReader(handle, size);
  for (let start = offset + 1; start < size; start += CHUNK) {
    // Overlap chunks by 3 bytes so a magic split across two chunks is still seen.
    const chunk = Buffer.from(await probe.read(start, CHUNK + 3));
    for (let at = chunk.indexOf(magic); at >= 0 && at < CHUNK; at = chunk.indexOf(magic, at + 1)) {
      const candidate = start + at;
      const result = await readOne(new ChunkReader(handle, size, 64 * 1024), candidate, size, false);
      if (typeof result !== 'string') return candidate;
    }
  }
  return null;
}

/**
 * Reads the transaction that ends exactly at `end` (walking back through its trailer), or null
 * when the bytes there are not one. Used to check that a saved index still matches the file.
 */
export async function readTransactionEndingAt(
  handle: FileHandle,
  end: number,
  size: number,
): Promise<ScannedTransaction | null> {
  if (end < TXN_HEADER_SIZE + TXN_TRAILER_SIZE || end > size) return null;
  const trailer = Buffer.alloc(TXN_TRAILER_SIZE);
  await handle.read(trailer, 0, TXN_TRAILER_SIZE, end - TXN_TRAILER_SIZE);
  const length = trailer.readUInt32BE(4);
  if (length > end) return null;
  const result = await readOne(new ChunkReader(handle, size, 64 * 1024), end - length, size, false);
  return typeof result === 'string' || result.header.length !== length ? null : result;
}
