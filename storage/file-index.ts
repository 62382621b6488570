// The in-memory index of a FileStorage (OID -> offset of its current revision, plus the file's
// end, last TID and next OID) and its saved copy `<path>.index`, which lets a large file open
// without reading every transaction. A saved index is only a hint: file-open.ts checks that it
// belongs to this very file (file id) and still matches it (the transaction ending where the
// index stops has the index's last TID), then scans only the tail after it.
//
//   Saved index format (big-endian)
//     0   8  magic "ZEOIDX\x00\x01"
//     8   8  file id of the FileStorage file it describes
//     16  8  end: the file length it covers (just after its last transaction)
//     24  8  last TID at `end`
//     32  8  next OID to hand out
//     40  8  entry count C
//     48 16C entries: OID, offset of the current revision
//     ..  4  CRC-32 of everything before

import { open, readFile, rename, unlink } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import type { Oid, Tid } from './contract.js';
import { FILE_HEADER_SIZE } from './file-format.js';

const INDEX_MAGIC = Buffer.from('ZEOIDX\x00\x01', 'latin1');
const INDEX_HEADER_SIZE = 48;

export class FileIndex {
  /** OID -> absolute offset of the data record of its current revision. */
  readonly current: Map<Oid, number>;
  /** Offset just after the last committed transaction: where the next one is appended. */
  end: number;
  lastTid: Tid;
  nextOid: Oid;

  constructor(
    readonly fileId: bigint,
    current = new Map<Oid, number>(),
    end = FILE_HEADER_SIZE,
    lastTid: Tid = 0n,
    nextOid: Oid = 1n,
  ) {
    this.current = current;
    this.end = end;
    this.lastTid = lastTid;
    this.nextOid = nextOid;
  }

  /** Records a revision written at `offset` (a scan, or a commit once it is durable). */
  setCurrent(oid: Oid, offset: number): void {
    this.current.set(oid, offset);
    if (oid >= this.nextOid) this.nextOid = oid + 1n;
  }

  /** The saved form: built synchronously, so it is a consistent snapshot between commits. */
  serialize(): Buffer {
    const count = this.current.size;
    const bytes = Buffer.allocUnsafe(INDEX_HEADER_SIZE + 16 * count + 4);
    INDEX_MAGIC.copy(bytes, 0);
    bytes.writeBigUInt64BE(this.fileId, 8);
    bytes.writeBigUInt64BE(BigInt(this.end), 16);
    bytes.writeBigUInt64BE(this.lastTid, 24);
    bytes.writeBigUInt64BE(this.nextOid, 32);
    bytes.writeBigUInt64BE(BigInt(count), 40);
    let at = INDEX_HEADER_SIZE;
    for (const [oid, offset] of this.current) {
      bytes.writeBigUInt64BE(oid, at);
      bytes.writeBigUInt64BE(BigInt(offset), at + 8);
      at += 16;
    }
    bytes.writeUInt32BE(crc32(bytes.subarray(0, at)), at);
    return bytes;
  }

  /** Parses a saved index, or returns why it cannot be used. */
  static deserialize(bytes: Buffer): FileIndex | string {
    if (bytes.length < INDEX_HEADER_SIZE + 4 || !bytes.subarray(0, 8).equals(INDEX_MAGIC)) {
      return 'not a zeo-ts index file';
    }
    const count = Number(bytes.readBigUInt64BE(40));
    const crcAt = INDEX_HEADER_SIZE + 16 * count;
    if (bytes.length !== crcAt + 4) return 'wrong length for its entry count';
    if (bytes.readUInt32BE(crcAt) !== crc32(bytes.subarray(0, crcAt))) return 'bad checksum';
    const current = new Map<Oid, number>();
    for (let at = INDEX_HEADER_SIZE; at < crcAt; at += 16) {
      current.set(bytes.readBigUInt64BE(at), Number(bytes.readBigUInt64BE(at + 8)));
    }
    return new FileIndex(
      bytes.readBigUInt64BE(8),
      current,
      Number(bytes.readBigUInt64BE(16)),
      bytes.readBigUInt64BE(24),
      bytes.readBigUInt64BE(32),
    );
  }
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
