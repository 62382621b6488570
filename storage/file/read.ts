// The read side of FileStorage: one "generation" (an open file plus its index; pack replaces
// both at once) and the reads over it: a revision at an offset, load, loadBefore and history by
// walking the chain of previous-revision offsets, and transactions for the iterator.
//
// A read takes its generation synchronously (index and file together) and holds a reference
// to it while its preads run, so a pack that swaps in a new file meanwhile never pulls the old
// file out from under it: the old handle closes when its last reader is done.

import type { FileHandle } from 'node:fs/promises';
import { CorruptFileError, NotFoundError } from '../../errors.js';
import type { HistoryEntry, LoadBeforeResult, LoadResult, Oid, Tid, TransactionRecord } from '../contract.js';
import { decodeMeta } from '../transaction-meta.js';
import {
  decodeRecordAt,
  decodeTransaction,
  decodeTransactionHeader,
  type DecodedRecord,
  recordSizeFromHeader,
  RECORD_HEADER_SIZE,
  TXN_HEADER_SIZE,
  TXN_TRAILER_SIZE,
} from './format.js';
import type { FileIndex } from './oid-index.js';

/** Most records fit in one read of this size; bigger ones take a second read. */
const FIRST_READ = 1024;

export class FileGeneration {
  private readers = 0;
  private isRetired = false;
  private closed: Promise<void> | null = null;

  constructor(
    /** For errors: the path of the file. */
    readonly file: string,
    readonly handle: FileHandle,
    readonly index: FileIndex,
  ) {}

  /** Keeps this generation's file open until the returned function is called. */
  acquire(): () => void {
    this.readers++;
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      this.readers--;
      if (this.isRetired && this.readers === 0) void this.close();
    };
  }

  /** Runs `read` with this generation's file kept open until it is done. */
  async use<T>(read: (generation: FileGeneration) => Promise<T>): Promise<T> {
    const release = this.acquire();
    try {
      return await read(this);
    } finally {
      release();
    }
  }

  /** Replaced by a packed file, or the storage closed: closes once no read uses it any more. */
  retire(): void {
    this.isRetired = true;
    if (this.readers === 0) void this.close();
  }

  close(): Promise<void> {
    this.closed ??= this.handle.close().catch(() => {});
    return this.closed;
  }

  /** The data record at `offset`, checked to be a revision of `oid`. */
  async readRecord(offset: number, oid: Oid, withData = true): Promise<DecodedRecord> {
    let bytes = Buffer.allocUnsafe(FIRST_READ);
    let { bytesRead } = await this.handle.read(bytes, 0, FIRST_READ, offset);
    if (bytesRead < RECORD_HEADER_SIZE) {
      throw new CorruptFileError(this.file, offset, `expected the data record of object ${oid}, found the end of the file`);
    }
    const size = recordSizeFromHeader(bytes);
    if (offset + size > this.index.end) {
      throw new CorruptFileError(this.file, offset, `expected the data record of object ${oid} to end before byte ${this.index.end}`);
    }
    if (size > bytesRead) {
      bytes = Buffer.allocUnsafe(size);
      ({ bytesRead } = await this.handle.read(bytes, 0, size, offset));
    }
    const record = decodeRecordAt(bytes.subarray(0, bytesRead), 0, offset, withData);
    if (typeof record === 'string') throw new CorruptFileError(this.file, offset, record);
    if (record.oid !== oid) {
      throw new CorruptFileError(this.file, offset, `expected a revision of object ${oid}, found object ${record.oid}`);
    }
    return record;
  }

  /** The TID of the current revision, or undefined for an object that does not exist. */
  async currentTid(oid: Oid): Promise<Tid | undefined> {
    const offset = this.index.get(oid);
    if (offset === undefined) return undefined;
    return (await this.readRecord(offset, oid, false)).tid;
  }

  private currentOffset(oid: Oid): number {
    const offset = this.index.get(oid);
    if (offset === undefined) throw new NotFoundError(oid);
    return offset;
  }

  async load(oid: Oid): Promise<LoadResult> {
    const record = await this.readRecord(this.currentOffset(oid), oid);
    return { data: record.data, tid: record.tid };
  }

  async loadBefore(oid: Oid, beforeTid: Tid): Promise<LoadBeforeResult | null> {
    let offset = this.currentOffset(oid);
    let end: Tid | null = null;
    while (offset !== 0) {
      const record = await this.readRecord(offset, oid, false);
      if (record.tid < beforeTid) {
        const full = await this.readRecord(offset, oid, true);
        return { data: full.data, start: record.tid, end };
      }
      end = record.tid;
      offset = record.prevOffset;
    }
    return null;
  }

  async history(oid: Oid, limit: number): Promise<HistoryEntry[]> {
    let offset = this.currentOffset(oid);
    const entries: HistoryEntry[] = [];
    while (offset !== 0 && entries.length < limit) {
      const record = await this.readRecord(offset, oid, false);
      entries.push({ tid: record.tid, size: record.dataLength });
      offset = record.prevOffset;
    }
    return entries;
  }

  /** The transaction at `offset` (which must start one), decoded with its data. */
  async readTransaction(offset: number): Promise<{ record: TransactionRecord; length: number }> {
    const head = Buffer.allocUnsafe(TXN_HEADER_SIZE);
    await this.handle.read(head, 0, TXN_HEADER_SIZE, offset);
    const header = decodeTransactionHeader(head);
    if (typeof header === 'string') throw new CorruptFileError(this.file, offset, header);
    const bytes = Buffer.allocUnsafe(header.length);
    await this.handle.read(bytes, 0, header.length, offset);
    const decoded = decodeTransaction(bytes, offset, true);
    if (typeof decoded === 'string') throw new CorruptFileError(this.file, offset, decoded);
    return {
      length: header.length,
      record: {
        tid: header.tid,
        meta: decodeMeta(decoded.meta),
        records: decoded.records.map((r) => ({ oid: r.oid, tid: r.tid, data: r.data, refs: r.refs })),
      },
    };
  }

  /**
   * Where the first transaction with tid >= fromTid starts, before `end`. Walks back from the
   * end through the trailers, so catching up on recent transactions (replicas, clients) does
   * not read the whole file.
   */
  async findTransactionFrom(fromTid: Tid, start: number, end: number): Promise<number> {
    if (fromTid === 0n) return start;
    let offset = end;
    const trailer = Buffer.allocUnsafe(TXN_TRAILER_SIZE);
    const head = Buffer.allocUnsafe(TXN_HEADER_SIZE);
    while (offset > start) {
      await this.handle.read(trailer, 0, TXN_TRAILER_SIZE, offset - TXN_TRAILER_SIZE);
      const previous = offset - trailer.readUInt32BE(4);
      await this.handle.read(head, 0, TXN_HEADER_SIZE, previous);
      const header = decodeTransactionHeader(head);
      if (typeof header === 'string' || previous < start) {
        throw new CorruptFileError(this.file, previous, typeof header === 'string' ? header : 'expected a transaction');
      }
      if (header.tid < fromTid) return offset;
      offset = previous;
    }
    return offset;
  }
}
