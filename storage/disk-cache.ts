// DiskCache: the persistent client cache, a RevisionCache kept in one file per app-server worker
// (config client.diskCacheDir / diskCacheBytes) so a restarted worker starts warm. The file is
// an append-only log (format in storage/disk-cache-file.ts); only the index (OID -> revisions ->
// record offsets) lives in memory, data is read back on a hit.
//
// Why it is safe to trust after a crash: every record carries a CRC-32; opening replays the log
// and cuts a torn tail; an invalidation and the lastTid that covers it are appended in that
// order, so whatever prefix survives a SIGKILL, lastTid never claims more than was applied and
// ClientStorage catches up from there (invalidationsSince(lastTid)). A file damaged anywhere
// else is discarded with a warning and the cache starts empty: a cache may forget, never lie.
// Writes go straight to the file (no user-space buffer) so a killed process loses nothing it
// was told succeeded; fdatasync only on close, since after an OS crash a damaged or stale-but-
// consistent cache is still safe for the same reason.
//
// I/O is synchronous (readSync/writeSync at explicit offsets): a hit is one pread of a page-cache
// resident record, cheaper than a promise round trip, and it keeps store/invalidate/lastTid
// strictly ordered in the file without a write queue.
//
// Bound: when the file grows past maxBytes it is compacted: the most recently used revisions,
// up to half of maxBytes, are rewritten to `<path>.compact`, which is renamed over the file
// (atomic: a crash mid-compaction leaves the old file whole). Half, so that the copying costs at
// most one byte per byte appended. One DiskCache per file: `<path>.lock` (disk-cache-lock.ts).

import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { checkRevision, type RevisionCache, type RevisionCacheStats } from './client-cache.js';
import type { LoadBeforeResult, LoadResult, Oid, Tid } from './contract.js';
import * as format from './disk-cache-file.js';
import { DiskCacheLock } from './disk-cache-lock.js';
import { RevisionIndex, type IndexedRevision } from './revision-index.js';
import { checkU64 } from './tid.js';

export interface DiskCacheOptions {
  /** Bound on the file's size in bytes (at least 64 KiB). */
  maxBytes: number;
  /** Where warnings go (a damaged file discarded, a failed write). Default: process.emitWarning. */
  log?: (message: string) => void;
}

export const MIN_DISK_CACHE_BYTES = 64 * 1024;
const RESERVED_BYTES = format.HEADER_BYTES + format.encodeLastTid(0n).byteLength;

/** A revision in the index; its value is the file offset of its store record. */
type Entry = IndexedRevision<number>;

export class DiskCache implements RevisionCache {
  private readonly index = new RevisionIndex<number>();
  private fileEnd = 0;
  private persistedLastTid: Tid = 0n;
  private isOff = false;
  private scratch = Buffer.alloc(64 * 1024);
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  private constructor(
    readonly path: string,
    private fd: number,
    private readonly lock: DiskCacheLock,
    readonly maxBytes: number,
    private readonly log: (message: string) => void,
  ) {}

  /** Opens (or creates) the cache file, rebuilding the index; StorageLockedError if in use. */
  static async open(path: string, options: DiskCacheOptions): Promise<DiskCache> {
    const { maxBytes } = options;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < MIN_DISK_CACHE_BYTES) {
      throw new InvalidArgumentError('maxBytes', `expected at least ${MIN_DISK_CACHE_BYTES} bytes, got ${String(maxBytes)}`);
    }
    const log = options.log ?? ((message: string) => process.emitWarning(message, 'ZeoDiskCacheWarning'));
    mkdirSync(dirname(path), { recursive: true });
    const lock = await DiskCacheLock.acquire(path);
    try {
      removeIfPresent(path + '.compact');
      const fd = openReadWrite(path);
      const cache = new DiskCache(path, fd, lock, maxBytes, log);
      cache.rebuild();
      return cache;
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  get lastTid(): Tid {
    return this.persistedLastTid;
  }

  set lastTid(tid: Tid) {
    checkU64(tid, 'lastTid');
    if (tid === this.persistedLastTid) return;
    this.persistedLastTid = tid;
    this.append(format.encodeLastTid(tid));
    this.compactIfOverBound();
  }

  get stats(): RevisionCacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      bytes: this.index.bytes,
      entries: this.index.entries,
      evictions: this.evictions,
    };
  }

  /** The cache file's current size: live records plus superseded ones awaiting compaction. */
  get fileBytes(): number {
    return this.fileEnd;
  }

  loadBefore(oid: Oid, beforeTid: Tid): LoadBeforeResult | undefined {
    const entry = this.isOff ? undefined : this.index.findBefore(oid, beforeTid);
    const data = entry && this.readData(entry);
    if (!entry || !data) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.index.touch(entry);
    return { data, start: entry.start, end: entry.end };
  }

  load(oid: Oid): LoadResult | undefined {
    const entry = this.isOff ? undefined : this.index.findCurrent(oid);
    const data = entry && this.readData(entry);
    if (!entry || !data) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.index.touch(entry);
    return { data, tid: entry.start };
  }

  store(oid: Oid, start: Tid, end: Tid | null, data: Uint8Array): void {
    checkRevision(oid, start, end, data);
    if (this.isOff) return;
    const size = format.storeRecordBytes(data.byteLength);
    if (size > this.maxBytes - RESERVED_BYTES) {
      // Too big to keep. An older current revision has just become stale: forget it for good.
      const current = end === null ? this.index.findCurrent(oid) : undefined;
      if (current && current.start < start) this.drop(current);
      return;
    }
    const outcome = this.index.add(oid, start, end, this.fileEnd, size);
    if (outcome.kind === 'added') {
      this.append(format.encodeStore(oid, start, end, data));
    } else if (outcome.kind === 'ended') {
      this.append(format.encodeInvalidate(oid, outcome.revision.end!));
    }
    this.compactIfOverBound();
  }

  invalidate(oid: Oid, tid: Tid): void {
    checkU64(tid, 'tid');
    if (this.isOff) return;
    if (this.index.endCurrent(oid, tid)) this.append(format.encodeInvalidate(oid, tid));
    this.compactIfOverBound();
  }

  clear(): void {
    if (this.isOff) return;
    this.startEmpty(this.persistedLastTid);
  }

  /** Flushes the file to disk and releases it and its lock. Idempotent. */
  async close(): Promise<void> {
    if (this.fd < 0) return;
    try {
      if (!this.isOff) fdatasyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = -1;
      this.isOff = true;
      this.index.clear();
      this.lock.release();
    }
  }

  /** Replays the log into the index; a foreign or damaged file is discarded, a torn tail cut. */
  private rebuild(): void {
    const fileSize = fstatSync(this.fd).size;
    if (fileSize === 0) return this.startEmpty(0n);
    const header = Buffer.alloc(format.HEADER_BYTES);
    const got = readSync(this.fd, header, 0, format.HEADER_BYTES, 0);
    if (got < format.HEADER_BYTES || !format.isValidHeader(header)) {
      this.log(`disk cache ${this.path}: not a zeo-ts cache file (bad header); discarded, starting empty`);
      return this.startEmpty(0n);
    }
    const outcome = format.scanRecords(this.fd, fileSize, (record) => this.replay(record));
    if (outcome.kind === 'damaged') {
      this.log(
        `disk cache ${this.path}: damaged at byte offset ${outcome.offset} (${outcome.reason}); ` +
          'discarded, starting empty',
      );
      return this.startEmpty(0n);
    }
    if (outcome.validEnd < fileSize) {
      this.log(`disk cache ${this.path}: cut a torn tail of ${fileSize - outcome.validEnd} bytes (the last write was interrupted)`);
      ftruncateSync(this.fd, outcome.validEnd);
    }
    this.fileEnd = outcome.validEnd;
    this.compactIfOverBound();
  }

  private replay(record: format.CacheRecord): void {
    switch (record.type) {
      case format.STORE:
        this.index.add(record.oid, record.start, record.end, record.offset, record.size);
        break;
      case format.INVALIDATE:
        this.index.endCurrent(record.oid, record.tid);
        break;
      case format.DROP: {
        const entry = this.index.findBefore(record.oid, record.start + 1n);
        if (entry?.start === record.start) this.index.remove(entry);
        break;
      }
      case format.LAST_TID:
        this.persistedLastTid = record.tid;
        break;
    }
  }

  private startEmpty(lastTid: Tid): void {
    this.index.clear();
    ftruncateSync(this.fd, 0);
    this.fileEnd = 0;
    this.persistedLastTid = lastTid;
    this.append(format.encodeHeader());
    this.append(format.encodeLastTid(lastTid));
  }

  private drop(entry: Entry): void {
    this.index.remove(entry);
    this.append(format.encodeDrop(entry.oid, entry.start));
  }

  /** The data of a revision, its checksum verified; a bad record is dropped, never served. */
  private readData(entry: Entry): Uint8Array | undefined {
    const record = this.readRecord(this.fd, entry);
    if (!record) return undefined;
    if (!format.hasValidCrc(record)) {
      this.log(`disk cache ${this.path}: record at byte offset ${entry.value} fails its checksum; dropped`);
      this.drop(entry);
      return undefined;
    }
    // A copy with its own buffer: the scratch buffer is reused by the next read.
    return format.storeRecordData(record).slice();
  }

  private readRecord(fd: number, entry: Entry): Buffer | undefined {
    if (this.scratch.byteLength < entry.size) this.scratch = Buffer.alloc(entry.size * 2);
    try {
      const got = readSync(fd, this.scratch, 0, entry.size, entry.value);
      return got === entry.size ? this.scratch.subarray(0, entry.size) : undefined;
    } catch (error) {
      this.turnOff(error);
      return undefined;
    }
  }

  private append(record: Buffer): void {
    if (this.isOff) return;
    try {
      writeFully(this.fd, record, this.fileEnd);
      this.fileEnd += record.byteLength;
    } catch (error) {
      this.turnOff(error);
    }
  }

  /**
   * After a failed write (disk full, I/O error) later records could land where an earlier one
   * is missing, and a lost invalidation would serve stale data after a restart. So the file is
   * emptied and the cache stays off until the worker restarts.
   */
  private turnOff(error: unknown): void {
    if (this.isOff) return;
    this.isOff = true;
    this.index.clear();
    this.log(`disk cache ${this.path}: ${(error as Error).message}; the disk cache is off until restart and its file is discarded`);
    try {
      ftruncateSync(this.fd, 0);
    } catch {
      // The next open will find a bad header and discard the file anyway.
    }
  }

  private compactIfOverBound(): void {
    if (this.fileEnd > this.maxBytes && !this.isOff) this.compact();
  }

  /** Rewrites the most recently used revisions (up to maxBytes / 2) into a fresh file. */
  private compact(): void {
    const budget = Math.floor(this.maxBytes / 2) - RESERVED_BYTES;
    const kept: Entry[] = [];
    const evicted: Entry[] = [];
    let keptBytes = 0;
    for (const entry of this.index.mostRecentFirst()) {
      if (evicted.length === 0 && keptBytes + entry.size <= budget) {
        kept.push(entry);
        keptBytes += entry.size;
      } else {
        evicted.push(entry);
      }
    }
    const compactPath = this.path + '.compact';
    let newFd = -1;
    try {
      newFd = openSync(compactPath, 'w+');
      const { offsets: newOffsets, fileEnd } = this.copyInto(newFd, kept.reverse());
      renameSync(compactPath, this.path);
      closeSync(this.fd);
      this.fd = newFd;
      this.fileEnd = fileEnd;
      newFd = -1;
      for (const [entry, offset] of newOffsets) entry.value = offset;
      for (const entry of kept) if (!newOffsets.has(entry)) this.index.remove(entry);
      for (const entry of evicted) this.index.remove(entry);
      this.evictions += evicted.length + kept.length - newOffsets.size;
    } catch (error) {
      if (newFd >= 0) closeSync(newFd);
      removeIfPresent(compactPath);
      this.turnOff(error);
    }
  }

  /** Writes header, lastTid and `entries` (oldest first) to `fd`; returns their new offsets. */
  private copyInto(fd: number, entries: Entry[]): { offsets: Map<Entry, number>; fileEnd: number } {
    const offsets = new Map<Entry, number>();
    const batch: Buffer[] = [format.encodeHeader(), format.encodeLastTid(this.persistedLastTid)];
    let batchBytes = RESERVED_BYTES;
    let fileEnd = 0;
    const flush = () => {
      const bytes = Buffer.concat(batch, batchBytes);
      writeFully(fd, bytes, fileEnd);
      fileEnd += bytes.byteLength;
      batch.length = 0;
      batchBytes = 0;
    };
    for (const entry of entries) {
      const record = this.readRecord(this.fd, entry);
      if (this.isOff) throw new Error('reading the old cache file failed');
      if (!record || !format.hasValidCrc(record)) continue;
      // Re-encoded rather than copied: the range may have been ended since it was written.
      const fresh = format.encodeStore(entry.oid, entry.start, entry.end, format.storeRecordData(record));
      offsets.set(entry, fileEnd + batchBytes);
      batch.push(fresh);
      batchBytes += fresh.byteLength;
      if (batchBytes >= 1 << 20) flush();
    }
    flush();
    return { offsets, fileEnd };
  }
}

function writeFully(fd: number, bytes: Uint8Array, position: number): void {
  let written = 0;
  while (written < bytes.byteLength) {
    written += writeSync(fd, bytes, written, bytes.byteLength - written, position + written);
  }
}

/** Opens read-write without truncating, creating the file if needed (positional writes need r+). */
function openReadWrite(path: string): number {
  try {
    return openSync(path, 'r+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return openSync(path, 'w+');
  }
}

function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
