// The on-disk cache's file format and its low-level I/O (disk-cache.ts uses both): an
// append-only log of records, each checked by a CRC-32, so that a process killed mid-write
// leaves a file whose every complete record is trustworthy and whose torn tail can be cut.
//
//   header (16 bytes): "ZEOCACHE" | u32 version (1) | u32 zero
//   records, each ending with the CRC-32 of the record's bytes before the CRC (big-endian):
//     'S' store      u8 | oid u64 | start u64 | end u64 (0 = current) | length u32 | data | crc u32
//     'I' invalidate u8 | oid u64 | tid u64 | crc u32     the current revision ends at tid
//     'D' drop       u8 | oid u64 | start u64 | crc u32   the revision is gone from the cache
//     'L' lastTid    u8 | tid u64 | crc u32               invalidations applied up to tid
//
// Replaying the records in order through the same rules the live cache applies rebuilds the
// cache. Any prefix of the log is a consistent cache: an invalidation is always written before
// the lastTid that covers it, so a cut never keeps a lastTid whose invalidations were lost.
// (An end of 0 can stand for "current" because a real end is always greater than its start.)

import { openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import type { Oid, Tid } from '../../contract.js';

export const MAGIC = 'ZEOCACHE';
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 16;
export const STORE = 0x53; // 'S'
export const INVALIDATE = 0x49; // 'I'
export const DROP = 0x44; // 'D'
export const LAST_TID = 0x4c; // 'L'
/** Bytes of a store record before its data. */
export const STORE_HEAD_BYTES = 29;
const CRC_BYTES = 4;
const FIXED_BYTES: Record<number, number> = { [INVALIDATE]: 17, [DROP]: 17, [LAST_TID]: 9 };

export type CacheRecord =
  | { type: typeof STORE; offset: number; size: number; oid: Oid; start: Tid; end: Tid | null }
  | { type: typeof INVALIDATE; oid: Oid; tid: Tid }
  | { type: typeof DROP; oid: Oid; start: Tid }
  | { type: typeof LAST_TID; tid: Tid };

export function encodeHeader(): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(MAGIC, 0, 'latin1');
  header.writeUInt32BE(FORMAT_VERSION, 8);
  return header;
}

export function isValidHeader(header: Uint8Array): boolean {
  if (header.byteLength < HEADER_BYTES) return false;
  const view = Buffer.from(header.buffer, header.byteOffset, HEADER_BYTES);
  return view.toString('latin1', 0, 8) === MAGIC && view.readUInt32BE(8) === FORMAT_VERSION;
}

/** Total bytes of a store record holding `dataBytes` of data. */
export function storeRecordBytes(dataBytes: number): number {
  return STORE_HEAD_BYTES + dataBytes + CRC_BYTES;
}

export function encodeStore(oid: Oid, start: Tid, end: Tid | null, data: Uint8Array): Buffer {
  const record = Buffer.allocUnsafe(storeRecordBytes(data.byteLength));
  record[0] = STORE;
  record.writeBigUInt64BE(oid, 1);
  record.writeBigUInt64BE(start, 9);
  record.writeBigUInt64BE(end ?? 0n, 17);
  record.writeUInt32BE(data.byteLength, 25);
  record.set(data, STORE_HEAD_BYTES);
  sealRecord(record);
  return record;
}

export function encodeInvalidate(oid: Oid, tid: Tid): Buffer {
  return encodePair(INVALIDATE, oid, tid);
}

export function encodeDrop(oid: Oid, start: Tid): Buffer {
  return encodePair(DROP, oid, start);
}

export function encodeLastTid(tid: Tid): Buffer {
  const record = Buffer.allocUnsafe(9 + CRC_BYTES);
  record[0] = LAST_TID;
  record.writeBigUInt64BE(tid, 1);
  sealRecord(record);
  return record;
}

function encodePair(type: number, first: bigint, second: bigint): Buffer {
  const record = Buffer.allocUnsafe(17 + CRC_BYTES);
  record[0] = type;
  record.writeBigUInt64BE(first, 1);
  record.writeBigUInt64BE(second, 9);
  sealRecord(record);
  return record;
}

function sealRecord(record: Buffer): void {
  const body = record.byteLength - CRC_BYTES;
  record.writeUInt32BE(crc32(record.subarray(0, body)), body);
}

/** True when the record's last four bytes are the CRC-32 of the rest. */
export function hasValidCrc(record: Uint8Array): boolean {
  const body = record.byteLength - CRC_BYTES;
  if (body < 1) return false;
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  return view.getUint32(body) === crc32(record.subarray(0, body));
}

/** True when a whole record read back is the store record of (oid, start): a guard against a wrong offset. */
export function isStoreRecordOf(record: Uint8Array, oid: Oid, start: Tid): boolean {
  if (record.byteLength < STORE_HEAD_BYTES || record[0] !== STORE) return false;
  const view = new DataView(record.buffer, record.byteOffset, STORE_HEAD_BYTES);
  return view.getBigUint64(1) === oid && view.getBigUint64(9) === start;
}

/** Decodes the data of a whole store record read back from the file (CRC already checked). */
export function storeRecordData(record: Uint8Array): Uint8Array {
  return record.subarray(STORE_HEAD_BYTES, record.byteLength - CRC_BYTES);
}

export type ScanOutcome =
  /** Every byte up to `validEnd` is complete records; what follows (if anything) is a torn tail. */
  | { kind: 'ok'; validEnd: number }
  /** A record in the middle is damaged: the file cannot be trusted. */
  | { kind: 'damaged'; offset: number; reason: string };

/**
 * Reads every record after the header, in order, calling `onRecord` for each valid one. A record
 * cut short by the end of the file, or a bad final record, is a torn tail; anything wrong with
 * complete records after it is damage.
 */
export function scanRecords(fd: number, fileSize: number, onRecord: (record: CacheRecord) => void): ScanOutcome {
  const reader = new ChunkReader(fd, fileSize);
  let offset = HEADER_BYTES;
  while (offset < fileSize) {
    const type = reader.read(offset, 1)?.[0] ?? -1;
    let size: number;
    if (type === STORE) {
      const head = reader.read(offset, STORE_HEAD_BYTES);
      if (!head) return { kind: 'ok', validEnd: offset };
      size = storeRecordBytes(Buffer.from(head.buffer, head.byteOffset, head.byteLength).readUInt32BE(25));
    } else if (FIXED_BYTES[type] !== undefined) {
      size = FIXED_BYTES[type]! + CRC_BYTES;
    } else if (reader.isZeroFrom(offset)) {
      // A file extended but never written (a crash between size and data reaching the disk).
      return { kind: 'ok', validEnd: offset };
    } else {
      return { kind: 'damaged', offset, reason: `unknown record type 0x${type.toString(16)}` };
    }
    const record = reader.read(offset, size);
    if (!record) return { kind: 'ok', validEnd: offset };
    if (!hasValidCrc(record)) {
      if (offset + size === fileSize) return { kind: 'ok', validEnd: offset };
      return { kind: 'damaged', offset, reason: 'record checksum does not match' };
    }
    onRecord(decodeRecord(record, offset));
    offset += size;
  }
  return { kind: 'ok', validEnd: offset };
}

function decodeRecord(record: Uint8Array, offset: number): CacheRecord {
  const view = Buffer.from(record.buffer, record.byteOffset, record.byteLength);
  const type = view[0]!;
  if (type === STORE) {
    const end = view.readBigUInt64BE(17);
    return {
      type,
      offset,
      size: record.byteLength,
      oid: view.readBigUInt64BE(1),
      start: view.readBigUInt64BE(9),
      end: end === 0n ? null : end,
    };
  }
  if (type === LAST_TID) return { type, tid: view.readBigUInt64BE(1) };
  if (type === INVALIDATE) return { type, oid: view.readBigUInt64BE(1), tid: view.readBigUInt64BE(9) };
  return { type: DROP, oid: view.readBigUInt64BE(1), start: view.readBigUInt64BE(9) };
}

/** Sequential reads through a 1 MiB window, so a scan makes few system calls. */
class ChunkReader {
  private buffer = Buffer.alloc(0);
  private bufferStart = 0;
  private bufferFilled = 0;

  constructor(
    private readonly fd: number,
    private readonly fileSize: number,
  ) {}

  /** `length` bytes at `offset`, or null if the file ends first. Valid until the next read. */
  read(offset: number, length: number): Uint8Array | null {
    if (offset + length > this.fileSize) return null;
    const inBuffer = offset - this.bufferStart;
    if (inBuffer < 0 || inBuffer + length > this.bufferFilled) {
      const want = Math.min(Math.max(length, 1 << 20), this.fileSize - offset);
      if (this.buffer.byteLength < want) this.buffer = Buffer.allocUnsafe(Math.max(want, 1 << 20));
      const got = readSync(this.fd, this.buffer, 0, want, offset);
      this.bufferStart = offset;
      this.bufferFilled = got;
      if (got < length) return null;
      return this.buffer.subarray(0, length);
    }
    return this.buffer.subarray(inBuffer, inBuffer + length);
  }

  isZeroFrom(offset: number): boolean {
    for (let at = offset; at < this.fileSize; at += 1 << 16) {
      const chunk = this.read(at, Math.min(1 << 16, this.fileSize - at));
      if (!chunk || chunk.some((byte) => byte !== 0)) return false;
    }
    return true;
  }
}

/** Writes all of `bytes` at `position` (writeSync may write less than asked). */
export function writeFully(fd: number, bytes: Uint8Array, position: number): void {
  let written = 0;
  while (written < bytes.byteLength) {
    written += writeSync(fd, bytes, written, bytes.byteLength - written, position + written);
  }
}

/** Opens read-write without truncating, creating the file if needed (positional writes need r+). */
export function openReadWrite(path: string): number {
  try {
    return openSync(path, 'r+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return openSync(path, 'w+');
  }
}

export function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
