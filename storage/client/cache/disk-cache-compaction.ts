// One compaction of a DiskCache file (disk-cache.ts decides when; this does the copy).
//
// A compaction of a 256 MiB cache copies about 128 MiB, half a second of blocked event loop if
// done in one go, long enough for the router's health ping to give up on the worker. So it runs
// in slices between other work, while the cache keeps serving and appending to the old file:
//   1. at the start, the revisions to keep (most recently used first, up to a byte budget) are
//      fixed, and the old file's end is noted as `tailStart`;
//   2. slice by slice, those revisions are re-encoded (with their range as it is then) into
//      `<path>.compact` after a fresh header and lastTid;
//   3. at the finish, the records appended to the old file since `tailStart` are copied
//      verbatim after them: replaying them over the kept revisions reproduces every store,
//      invalidation, drop and lastTid made meanwhile; then the new file is renamed over the old
//      one (atomic: a crash at any point leaves one whole, valid file).
// A revision written meanwhile lands in the new file at a fixed shift of its old offset.

import { closeSync, openSync, readSync, renameSync, unlinkSync } from 'node:fs';
import * as format from './disk-cache-file.js';
import type { IndexedRevision } from './revision-index.js';

type Entry = IndexedRevision<number>;

/** Bytes copied per slice: a few ms (about 5 measured on a busy 2-core machine). */
export const SLICE_BYTES = 1 << 20;

export interface CompactionResult {
  fd: number;
  fileEnd: number;
  /** New offsets of the kept revisions. */
  offsets: Map<Entry, number>;
  /** Old offsets at or after this moved by `tailShift`. */
  tailStart: number;
  tailShift: number;
}

export class Compaction {
  private readonly newPath: string;
  private fd: number;
  private position = 0;
  private next = 0;
  private readonly offsets = new Map<Entry, number>();

  /**
   * @param keep the revisions to carry over, oldest use first (replay rebuilds the LRU order)
   * @param readRecord reads a whole record of the old file, or undefined if it cannot
   */
  constructor(
    private readonly path: string,
    private readonly keep: readonly Entry[],
    lastTid: bigint,
    readonly tailStart: number,
    private readonly readRecord: (entry: Entry) => Buffer | undefined,
  ) {
    this.newPath = path + '.compact';
    this.fd = openSync(this.newPath, 'w+');
    this.write(Buffer.concat([format.encodeHeader(), format.encodeLastTid(lastTid)]));
  }

  get isCopied(): boolean {
    return this.next >= this.keep.length;
  }

  /** Copies kept revisions until about `budget` bytes are written; true when all are. */
  step(budget = SLICE_BYTES): boolean {
    const batch: Buffer[] = [];
    let batchBytes = 0;
    while (this.next < this.keep.length && batchBytes < budget) {
      const entry = this.keep[this.next++]!;
      const record = this.readRecord(entry);
      // A revision that fails its checksum is left behind (and so evicted), never copied.
      if (!record || !format.hasValidCrc(record)) continue;
      // Re-encoded rather than copied: its range may have ended since it was written.
      const fresh = format.encodeStore(entry.oid, entry.start, entry.end, format.storeRecordData(record));
      this.offsets.set(entry, this.position + batchBytes);
      batch.push(fresh);
      batchBytes += fresh.byteLength;
    }
    if (batchBytes > 0) this.write(Buffer.concat(batch, batchBytes));
    return this.isCopied;
  }

  /** Copies the rest, then the old file's tail, and renames the new file into place. */
  finish(oldFd: number, oldFileEnd: number): CompactionResult {
    while (!this.step()) {
      // Keep copying: the caller wants it done now.
    }
    const tailBase = this.position;
    const chunk = Buffer.allocUnsafe(1 << 20);
    for (let at = this.tailStart; at < oldFileEnd; ) {
      const got = readSync(oldFd, chunk, 0, Math.min(chunk.byteLength, oldFileEnd - at), at);
      if (got <= 0) throw new Error(`reading ${this.path} at ${at} during compaction returned no data`);
      this.write(chunk.subarray(0, got));
      at += got;
    }
    renameSync(this.newPath, this.path);
    const fd = this.fd;
    this.fd = -1;
    return { fd, fileEnd: this.position, offsets: this.offsets, tailStart: this.tailStart, tailShift: tailBase - this.tailStart };
  }

  /** Stops and removes the half-written file; the old file is untouched. */
  abandon(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
    try {
      unlinkSync(this.newPath);
    } catch {
      // Never created or already gone.
    }
  }

  private write(bytes: Uint8Array): void {
    format.writeFully(this.fd, bytes, this.position);
    this.position += bytes.byteLength;
  }
}
