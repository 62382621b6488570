// The in-memory index of a FileStorage (OID -> offset of its current revision, plus the file's
// end, last TID and next OID) and its saved copy `<path>.index`, which lets a large file open
// without reading every transaction. A saved index is only a hint: open.ts checks that it
// belongs to this very file (file id) and still matches it (the transaction ending where the
// index stops has the index's last TID), then scans only the tail after it.
//
// Opening with a saved index must be fast even for millions of objects, so the saved entries
// are not loaded into a Map: they stay two typed arrays (OIDs sorted, offsets), used in place
// on the file's bytes and searched by bisection. Changes since go into a Map (`recent`) that
// takes precedence; saving merges both.
//
//   Saved index format (little-endian, so the arrays load without copying)
//     0   8  magic "ZEOIDX\x00\x02"
//     8   8  file id of the FileStorage file it describes
//     16  8  end: the file length it covers (just after its last transaction)
//     24  8  last TID at `end`
//     32  8  next OID to hand out
//     40  8  entry count C
//     48 8C  OIDs, ascending
//     ..  8C offsets of their current revisions, in the same order
//     ..  4  CRC-32 of everything before

import { endianness } from 'node:os';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import type { Oid, Tid } from '../contract.js';
import { FILE_HEADER_SIZE } from './format.js';

const INDEX_MAGIC = Buffer.from('ZEOIDX\x00\x02', 'latin1');
const INDEX_HEADER_SIZE = 48;
const EMPTY = new BigUint64Array(0);
const canViewInPlace = endianness() === 'LE';

/** OIDs and offsets sorted by OID: the saved part of an index. */
export interface SortedEntries {
  oids: BigUint64Array;
  offsets: BigUint64Array;
}

export class FileIndex {
  private readonly baseOids: BigUint64Array;
  private readonly baseOffsets: BigUint64Array;
  /** Entries set since the base was made; they win over the base. */
  private readonly recent = new Map<Oid, number>();
  private count: number;
  /** Offset just after the last committed transaction: where the next one is appended. */
  end: number;
  lastTid: Tid;
  nextOid: Oid;

  constructor(
    readonly fileId: bigint,
    base: SortedEntries = { oids: EMPTY, offsets: EMPTY },
    end = FILE_HEADER_SIZE,
    lastTid: Tid = 0n,
    nextOid: Oid = 1n,
  ) {
    this.baseOids = base.oids;
    this.baseOffsets = base.offsets;
    this.count = base.oids.length;
    this.end = end;
    this.lastTid = lastTid;
    this.nextOid = nextOid;
  }

  /** Number of objects. */
  get size(): number {
    return this.count;
  }

  private findInBase(oid: Oid): number {
    let low = 0;
    let high = this.baseOids.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const found = this.baseOids[middle]!;
      if (found === oid) return middle;
      if (found < oid) low = middle + 1;
      else high = middle - 1;
    }
    return -1;
  }

  /** Offset of the data record of the object's current revision, or undefined. */
  get(oid: Oid): number | undefined {
    const recent = this.recent.get(oid);
    if (recent !== undefined) return recent;
    const at = this.findInBase(oid);
    return at < 0 ? undefined : Number(this.baseOffsets[at]!);
  }

  /** Records a revision written at `offset` (a scan, or a commit once it is durable). */
  setCurrent(oid: Oid, offset: number): void {
    if (!this.recent.has(oid) && this.findInBase(oid) < 0) this.count++;
    this.recent.set(oid, offset);
    if (oid >= this.nextOid) this.nextOid = oid + 1n;
  }

  /** All entries sorted by OID: the base and the (sorted) recent entries merged. */
  sorted(): SortedEntries {
    const base = this.baseOids;
    const recent = BigUint64Array.from(this.recent.keys()).sort();
    const oids = new BigUint64Array(this.count);
    const offsets = new BigUint64Array(this.count);
    let i = 0;
    let j = 0;
    for (let n = 0; n < this.count; n++) {
      if (j >= recent.length || (i < base.length && base[i]! < recent[j]!)) {
        oids[n] = base[i]!;
        offsets[n] = this.baseOffsets[i++]!;
      } else {
        if (i < base.length && base[i] === recent[j]) i++;
        oids[n] = recent[j]!;
        offsets[n] = BigInt(this.recent.get(recent[j++]!)!);
      }
    }
    return { oids, offsets };
  }

  /** The saved form: built synchronously, so it is a consistent snapshot between commits. */
  serialize(): Buffer {
    const { oids, offsets } = this.sorted();
    const count = oids.length;
    const bytes = Buffer.alloc(INDEX_HEADER_SIZE + 16 * count + 4);
    INDEX_MAGIC.copy(bytes, 0);
    bytes.writeBigUInt64LE(this.fileId, 8);
    bytes.writeBigUInt64LE(BigInt(this.end), 16);
    bytes.writeBigUInt64LE(this.lastTid, 24);
    bytes.writeBigUInt64LE(this.nextOid, 32);
    bytes.writeBigUInt64LE(BigInt(count), 40);
    const oidsAt = INDEX_HEADER_SIZE;
    const offsetsAt = oidsAt + 8 * count;
    if (canViewInPlace && bytes.byteOffset % 8 === 0) {
      new BigUint64Array(bytes.buffer, bytes.byteOffset + oidsAt, count).set(oids);
      new BigUint64Array(bytes.buffer, bytes.byteOffset + offsetsAt, count).set(offsets);
    } else {
      for (let i = 0; i < count; i++) {
        bytes.writeBigUInt64LE(oids[i]!, oidsAt + 8 * i);
        bytes.writeBigUInt64LE(offsets[i]!, offsetsAt + 8 * i);
      }
    }
    const crcAt = offsetsAt + 8 * count;
    bytes.writeUInt32LE(crc32(bytes.subarray(0, crcAt)), crcAt);
    return bytes;
  }

  /** Parses a saved index, or returns why it cannot be used. */
  static deserialize(bytes: Buffer): FileIndex | string {
    if (bytes.length < INDEX_HEADER_SIZE + 4 || !bytes.subarray(0, 8).equals(INDEX_MAGIC)) {
      return 'not a zeo-ts index file';
    }
    const count = Number(bytes.readBigUInt64LE(40));
    const crcAt = INDEX_HEADER_SIZE + 16 * count;
    if (bytes.length !== crcAt + 4) return 'wrong length for its entry count';
    if (bytes.readUInt32LE(crcAt) !== crc32(bytes.subarray(0, crcAt))) return 'bad checksum';
    return new FileIndex(
      bytes.readBigUInt64LE(8),
      entriesOf(bytes, count),
      Number(bytes.readBigUInt64LE(16)),
      bytes.readBigUInt64LE(24),
      bytes.readBigUInt64LE(32),
    );
  }
}

/** The two arrays of a saved index, as views on its bytes when the machine allows. */
function entriesOf(bytes: Buffer, count: number): SortedEntries {
  const oidsAt = INDEX_HEADER_SIZE;
  const offsetsAt = oidsAt + 8 * count;
  if (canViewInPlace && (bytes.byteOffset + oidsAt) % 8 === 0) {
    return {
      oids: new BigUint64Array(bytes.buffer, bytes.byteOffset + oidsAt, count),
      offsets: new BigUint64Array(bytes.buffer, bytes.byteOffset + offsetsAt, count),
    };
  }
  const oids = new BigUint64Array(count);
  const offsets = new BigUint64Array(count);
  for (let i = 0; i < count; i++) {
    oids[i] = bytes.readBigUInt64LE(oidsAt + 8 * i);
    offsets[i] = bytes.readBigUInt64LE(offsetsAt + 8 * i);
  }
  return { oids, offsets };
}

export function indexPathOf(path: string): string {
  return path + '.index';
}

/**
 * Writes the saved index atomically (temp file, fsync, rename): a crash leaves the old index
 * or the new one, never half of one.
 */
export async function saveIndex(path: string, bytes: Buffer): Promise<void> {
  const target = indexPathOf(path);
  const temp = `${target}.${process.pid}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
}

/** The saved index, or null when there is none or it is unreadable (then the file is scanned). */
export async function readSavedIndex(path: string): Promise<FileIndex | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(indexPathOf(path));
  } catch {
    return null;
  }
  const index = FileIndex.deserialize(bytes);
  return typeof index === 'string' ? null : index;
}
