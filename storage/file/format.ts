// The on-disk format of FileStorage: encoding and decoding of the file header, transactions and
// data records, with their CRC-32 checksums. Everything here is pure (bytes in, bytes out);
// scan.ts walks a file with it and storage.ts appends with it.
//
// The file is append-only. All integers are big-endian; offsets are absolute byte offsets.
//
//   File header (48 bytes, at offset 0)
//     0   8  magic "ZEOFS\x00\x00\x01"
//     8   4  format version (1)
//     12  4  reserved (0)
//     16  8  file id: random, new for every file (a packed file gets a new one), so a saved
//             index can tell it belongs to this very file
//     24  8  TID floor: every TID committed to this file or after it is greater (pack may
//             drop the last transactions entirely; their TIDs must never be handed out again)
//     32  8  OID floor: OIDs below it were handed out before (pack may drop the objects)
//     40  4  CRC-32 of bytes 0..40
//     44  4  reserved (0)
//
//   Transaction (repeated until the end of the file)
//     0   4  magic "ZTXN"
//     4   4  length L of the whole transaction, header to trailer inclusive
//     8   8  TID
//     16  4  number of data records N
//     20  4  length M of the metadata
//     24  M  metadata (msgpack of {user, description, extension}; M = 0 for none)
//     ..     N data records:
//              0   8  OID
//              8   8  TID (the transaction's; lets a revision be read on its own)
//              16  8  offset of the previous revision of this OID (0 = none): the chain that
//                     loadBefore and history walk, as in ZODB's FileStorage
//              24  4  data length D
//              28  4  number of refs R
//              32  8R refs (OIDs this revision references; pack follows them)
//              ..  D  data
//     L-12 4  CRC-32 of bytes 0..L-12 of this transaction
//     L-8  4  L again, so the file can be walked backwards from its end
//     L-4  4  magic "ZEND"
//
// A transaction is committed once it is completely written with a valid checksum and fsynced.
// A transaction that is incomplete or fails its checksum at the very end of the file is a torn
// write from a crash and is cut off; anywhere else it is damage (see scan.ts).

import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { Oid, Tid } from '../contract.js';

export const FILE_MAGIC = Buffer.from('ZEOFS\x00\x00\x01', 'latin1');
export const FORMAT_VERSION = 1;
export const FILE_HEADER_SIZE = 48;
export const TXN_MAGIC = 0x5a54584e; // "ZTXN"
export const TXN_END_MAGIC = 0x5a454e44; // "ZEND"
export const TXN_HEADER_SIZE = 24;
export const TXN_TRAILER_SIZE = 12;
export const RECORD_HEADER_SIZE = 32;
/** Transactions are limited by their 32-bit length field. */
export const MAX_TRANSACTION_BYTES = 0xffff_ffff;

export interface FileHeader {
  fileId: bigint;
  tidFloor: Tid;
  oidFloor: Oid;
}

export function encodeFileHeader(header: Partial<FileHeader> = {}): Buffer {
  const bytes = Buffer.alloc(FILE_HEADER_SIZE);
  FILE_MAGIC.copy(bytes, 0);
  bytes.writeUInt32BE(FORMAT_VERSION, 8);
  bytes.writeBigUInt64BE(header.fileId ?? newFileId(), 16);
  bytes.writeBigUInt64BE(header.tidFloor ?? 0n, 24);
  bytes.writeBigUInt64BE(header.oidFloor ?? 0n, 32);
  bytes.writeUInt32BE(crc32(bytes.subarray(0, 40)), 40);
  return bytes;
}

export function newFileId(): bigint {
  return randomBytes(8).readBigUInt64BE(0);
}

/** What is wrong with a file header, or null when it is sound. */
export function fileHeaderProblem(header: Buffer): string | null {
  if (header.length < FILE_HEADER_SIZE) {
    return `expected a ${FILE_HEADER_SIZE}-byte zeo-ts FileStorage header, found ${header.length} bytes`;
  }
  if (!header.subarray(0, 8).equals(FILE_MAGIC)) {
    return 'expected the zeo-ts FileStorage magic "ZEOFS\\0\\0\\1": this is not a zeo-ts FileStorage file';
  }
  const version = header.readUInt32BE(8);
  if (version !== FORMAT_VERSION) {
    return `expected format version ${FORMAT_VERSION}, found ${version}`;
  }
  if (header.readUInt32BE(40) !== crc32(header.subarray(0, 40))) {
    return 'expected a valid file header checksum';
  }
  return null;
}

export function decodeFileHeader(header: Buffer): FileHeader {
  return {
    fileId: header.readBigUInt64BE(16),
    tidFloor: header.readBigUInt64BE(24),
    oidFloor: header.readBigUInt64BE(32),
  };
}

/** A revision about to be written: its place in the chain is known (prevOffset). */
export interface RecordToWrite {
  oid: Oid;
  prevOffset: number;
  data: Uint8Array;
  refs: readonly Oid[];
}

export function recordSize(record: { data: Uint8Array; refs: readonly Oid[] }): number {
  return RECORD_HEADER_SIZE + 8 * record.refs.length + record.data.byteLength;
}

/** The size a transaction will take, to check it fits before encoding. */
export function transactionSize(metaBytes: number, records: readonly { data: Uint8Array; refs: readonly Oid[] }[]): number {
  let size = TXN_HEADER_SIZE + metaBytes + TXN_TRAILER_SIZE;
  for (const r of records) size += recordSize(r);
  return size;
}

/**
 * Encodes one transaction to be written at `offset`. Returns the bytes and the absolute
 * offset of each data record (in the order given), which the index will point at.
 */
export function encodeTransaction(
  tid: Tid,
  meta: Buffer,
  records: readonly RecordToWrite[],
  offset: number,
): { bytes: Buffer; recordOffsets: number[] } {
  const length = transactionSize(meta.length, records);
  const bytes = Buffer.allocUnsafe(length);
  bytes.writeUInt32BE(TXN_MAGIC, 0);
  bytes.writeUInt32BE(length, 4);
  bytes.writeBigUInt64BE(tid, 8);
  bytes.writeUInt32BE(records.length, 16);
  bytes.writeUInt32BE(meta.length, 20);
  meta.copy(bytes, TXN_HEADER_SIZE);
  let at = TXN_HEADER_SIZE + meta.length;
  const recordOffsets: number[] = [];
  for (const r of records) {
    recordOffsets.push(offset + at);
    bytes.writeBigUInt64BE(r.oid, at);
    bytes.writeBigUInt64BE(tid, at + 8);
    bytes.writeBigUInt64BE(BigInt(r.prevOffset), at + 16);
    bytes.writeUInt32BE(r.data.byteLength, at + 24);
    bytes.writeUInt32BE(r.refs.length, at + 28);
    at += RECORD_HEADER_SIZE;
    for (const ref of r.refs) {
      bytes.writeBigUInt64BE(ref, at);
      at += 8;
    }
    bytes.set(r.data, at);
    at += r.data.byteLength;
  }
  bytes.writeUInt32BE(crc32(bytes.subarray(0, at)), at);
  bytes.writeUInt32BE(length, at + 4);
  bytes.writeUInt32BE(TXN_END_MAGIC, at + 8);
  return { bytes, recordOffsets };
}

export interface TransactionHeader {
  length: number;
  tid: Tid;
  recordCount: number;
  metaLength: number;
}

/** Decodes a transaction header, or returns what is wrong with it. */
export function decodeTransactionHeader(bytes: Buffer): TransactionHeader | string {
  if (bytes.length < TXN_HEADER_SIZE) return 'expected a complete transaction header';
  if (bytes.readUInt32BE(0) !== TXN_MAGIC) return 'expected a transaction (magic "ZTXN")';
  const header = {
    length: bytes.readUInt32BE(4),
    tid: bytes.readBigUInt64BE(8),
    recordCount: bytes.readUInt32BE(16),
    metaLength: bytes.readUInt32BE(20),
  };
  const smallest = TXN_HEADER_SIZE + header.metaLength + TXN_TRAILER_SIZE;
  if (header.length < smallest + header.recordCount * RECORD_HEADER_SIZE) {
    return `expected a transaction length of at least ${smallest}, found ${header.length}`;
  }
  return header;
}

/** A stored revision as decoded from the file. */
export interface DecodedRecord {
  offset: number;
  oid: Oid;
  tid: Tid;
  prevOffset: number;
  /** Empty when decoded without data; `dataLength` is the stored size either way. */
  data: Uint8Array;
  dataLength: number;
  refs: Oid[];
}

/**
 * Checks a whole transaction (`bytes` is exactly L bytes read at `offset`) and decodes it, or
 * returns what is wrong with it. `withData` false skips copying record data (scans, pack).
 */
export function decodeTransaction(
  bytes: Buffer,
  offset: number,
  withData = true,
): { header: TransactionHeader; meta: Buffer; records: DecodedRecord[] } | string {
  const header = decodeTransactionHeader(bytes);
  if (typeof header === 'string') return header;
  if (bytes.length !== header.length) return `expected ${header.length} bytes of transaction`;
  const trailer = header.length - TXN_TRAILER_SIZE;
  if (bytes.readUInt32BE(trailer + 8) !== TXN_END_MAGIC || bytes.readUInt32BE(trailer + 4) !== header.length) {
    return 'expected a transaction trailer (magic "ZEND" and the length again)';
  }
  if (bytes.readUInt32BE(trailer) !== crc32(bytes.subarray(0, trailer))) {
    return 'expected a valid transaction checksum';
  }
  const meta = bytes.subarray(TXN_HEADER_SIZE, TXN_HEADER_SIZE + header.metaLength);
  const records: DecodedRecord[] = [];
  let at = TXN_HEADER_SIZE + header.metaLength;
  for (let i = 0; i < header.recordCount; i++) {
    if (at + RECORD_HEADER_SIZE > trailer) return `expected data record ${i} inside the transaction`;
    const record = decodeRecordAt(bytes, at, offset + at, withData);
    if (typeof record === 'string') return record;
    if (record.tid !== header.tid) return `expected data record ${i} to carry the transaction's TID`;
    records.push(record);
    at += RECORD_HEADER_SIZE + record.refs.length * 8 + record.dataLength;
  }
  if (at !== trailer) return 'expected the data records to fill the transaction exactly';
  return { header, meta, records };
}

/** Size of a data record from its 32-byte header. */
export function recordSizeFromHeader(bytes: Buffer, at = 0): number {
  return RECORD_HEADER_SIZE + 8 * bytes.readUInt32BE(at + 28) + bytes.readUInt32BE(at + 24);
}

/**
 * Decodes the data record that starts at `at` in `bytes` (absolute file offset `offset`).
 * Returns a string naming the problem if it does not fit in `bytes`.
 */
export function decodeRecordAt(
  bytes: Buffer,
  at: number,
  offset: number,
  withData = true,
): DecodedRecord | string {
  if (at + RECORD_HEADER_SIZE > bytes.length) return 'expected a complete data record header';
  const dataLength = bytes.readUInt32BE(at + 24);
  const refCount = bytes.readUInt32BE(at + 28);
  const end = at + RECORD_HEADER_SIZE + refCount * 8 + dataLength;
  if (end > bytes.length) return 'expected the data record to fit inside its transaction';
  const refs: Oid[] = new Array(refCount);
  let p = at + RECORD_HEADER_SIZE;
  for (let i = 0; i < refCount; i++, p += 8) refs[i] = bytes.readBigUInt64BE(p);
  let data: Uint8Array = EMPTY;
  if (withData) {
    // A copy that owns its memory, so callers may keep it while the read buffer is reused.
    data = new Uint8Array(dataLength);
    data.set(bytes.subarray(p, p + dataLength));
  }
  return {
    offset,
    oid: bytes.readBigUInt64BE(at),
    tid: bytes.readBigUInt64BE(at + 8),
    prevOffset: Number(bytes.readBigUInt64BE(at + 16)),
    data,
    refs,
    dataLength,
  };
}

const EMPTY = new Uint8Array(0);
