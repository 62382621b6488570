// The OID high-water mark of a FileStorage, kept durable in `<path>.oids`: newOids hands out an
// OID only once a reservation covering it is on disk, so an OID once handed out is never handed
// out again, not after a SIGKILL, not after a restart. (ZODB's connections ask for OIDs inside
// the two-phase commit; ours fetch them ahead, and a ClientStorage keeps them across a storage
// server restart, so the storage itself must remember what it gave away.) Reservations run
// ahead in blocks, so only about one newOids call in RESERVATION_BLOCK OIDs waits for an fsync;
// a restart skips the rest of the last block, which costs nothing in a 64-bit space.
//
//   File format: two slots of 32 bytes, written alternately (big-endian)
//     0   8  magic "ZEOOID\x00\x01"
//     8   8  reserved: every OID handed out so far is below it
//     16  4  CRC-32 of bytes 0..16
//     20  12 zero
// A write replaces one slot and is fdatasync'ed before any OID it covers is handed out; the
// other slot keeps the previous reservation, which covers everything handed out before the
// write began, so a torn write loses nothing. On open the valid slot with the larger value wins.
// The file only grows the mark: the storage takes the larger of it and the data file's own next
// OID, so a stale or foreign `.oids` file can only make OIDs skip, never repeat. A new data file
// starts a new mark.

import { open, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { StorageClosedError } from '../../errors.js';
import type { Oid } from '../contract.js';
import { syncDirectory } from './open.js';

const MAGIC = Buffer.from('ZEOOID\x00\x01', 'latin1');
const SLOT_BYTES = 32;
const FILE_BYTES = 2 * SLOT_BYTES;
/** How far a reservation runs ahead of what is handed out. */
export const RESERVATION_BLOCK = 16_384n;

export function reservationPathOf(path: string): string {
  return path + '.oids';
}

function encodeSlot(reserved: Oid): Buffer {
  const slot = Buffer.alloc(SLOT_BYTES);
  MAGIC.copy(slot, 0);
  slot.writeBigUInt64BE(reserved, 8);
  slot.writeUInt32BE(crc32(slot.subarray(0, 16)), 16);
  return slot;
}

function decodeSlot(slot: Buffer): Oid | null {
  if (slot.length < SLOT_BYTES || !slot.subarray(0, 8).equals(MAGIC)) return null;
  if (slot.readUInt32BE(16) !== crc32(slot.subarray(0, 16))) return null;
  return slot.readBigUInt64BE(8);
}

export class OidReservation {
  /** fdatasync'ed reservation writes so far (for stats and tests). */
  writes = 0;
  private writing: Promise<void> | null = null;
  private isClosed = false;

  private constructor(
    private readonly path: string,
    private handle: FileHandle | null,
    /** Every OID below it may have been handed out; durable. */
    private reserved: Oid,
    /** The slot the next write replaces (the other one holds `reserved`). */
    private nextSlot: number,
  ) {}

  /**
   * The reservation of the data file at `storagePath` (writers only). `isNewFile` says the data
   * file was just created: a reservation left by an earlier file of that name is dropped.
   */
  static async open(storagePath: string, isNewFile: boolean): Promise<OidReservation> {
    const path = reservationPathOf(storagePath);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r+');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      return new OidReservation(path, null, 0n, 0);
    }
    try {
      if (isNewFile) {
        await handle.truncate(0);
        await handle.datasync();
        return new OidReservation(path, handle, 0n, 0);
      }
      const bytes = Buffer.alloc(FILE_BYTES);
      const { bytesRead } = await handle.read(bytes, 0, FILE_BYTES, 0);
      const slots = [decodeSlot(bytes.subarray(0, Math.min(bytesRead, SLOT_BYTES))), decodeSlot(bytes.subarray(SLOT_BYTES, bytesRead))];
      if (bytesRead > 0 && slots[0] === null && slots[1] === null) {
        // Only damage from outside can do this (a write never touches both slots): carry on from
        // the data file's own next OID; the object layer copes with an OID that comes back.
        process.emitWarning(`${path}: no valid OID reservation in this file; OIDs continue after the highest one stored`, {
          code: 'ZEO_OID_RESERVATION_LOST',
        });
      }
      const current = (slots[1] ?? -1n) > (slots[0] ?? -1n) ? 1 : 0;
      return new OidReservation(path, handle, slots[current] ?? 0n, 1 - current);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Every OID below this may have been handed out before. */
  get reservedBelow(): Oid {
    return this.reserved;
  }

  /**
   * Resolves once every OID below `end` is covered by a durable reservation. Calls within the
   * reservation cost nothing; concurrent calls beyond it share one write.
   */
  async cover(end: Oid): Promise<void> {
    while (end > this.reserved) {
      this.writing ??= this.write(end + RESERVATION_BLOCK).finally(() => (this.writing = null));
      await this.writing;
    }
  }

  private async write(reserved: Oid): Promise<void> {
    if (this.isClosed) throw new StorageClosedError(this.path);
    if (this.handle === null) {
      // A new file: both slots at once (the second one invalid), then the directory entry.
      const handle = await open(this.path, 'w+');
      try {
        await handle.write(Buffer.concat([encodeSlot(reserved), Buffer.alloc(SLOT_BYTES)]), 0, FILE_BYTES, 0);
        await handle.datasync();
        await syncDirectory(this.path);
      } catch (error) {
        await handle.close();
        throw error;
      }
      this.handle = handle;
      this.nextSlot = 1;
    } else {
      await this.handle.write(encodeSlot(reserved), 0, SLOT_BYTES, this.nextSlot * SLOT_BYTES);
      await this.handle.datasync();
      this.nextSlot = 1 - this.nextSlot;
    }
    this.reserved = reserved;
    this.writes++;
  }

  /** Waits for a write in progress, then releases the file. */
  async close(): Promise<void> {
    await this.writing?.catch(() => undefined);
    this.isClosed = true;
    await this.handle?.close();
    this.handle = null;
  }
}
