// DiskCache: the persistent client cache, a RevisionCache kept in one file per app-server worker
// (config client.diskCacheDir / diskCacheBytes) so a restarted worker starts warm. The file is
// an append-only log (format in disk-cache-file.ts); only the index (OID -> revisions ->
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
// Bound: past 80% of maxBytes the file is compacted in the background, in slices between other
// work (disk-cache-compaction.ts): the most recently used revisions, up to half of
// maxBytes, go into a new file that is renamed over the old one. Should the file pass maxBytes
// first, the compaction is finished within that call, so every call returns with the file
// within maxBytes. Keeping half means copying costs under two bytes per byte appended.
// One DiskCache per file: `<path>.lock` (disk-cache-lock.ts).

import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, mkdirSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import { InvalidArgumentError } from '../../../errors.js';
import { checkRevision, type RevisionCache, type RevisionCacheStats } from './memory-cache.js';
import type { LoadBeforeResult, LoadResult, Oid, Tid } from '../../contract.js';
import { Compaction } from './disk-cache-compaction.js';
import * as format from './disk-cache-file.js';
import { DiskCacheLock } from './disk-cache-lock.js';
import { RevisionIndex, type IndexedRevision } from './revision-index.js';
import { checkU64 } from '../../tid.js';
import { processWarnings, toLogger, type Logger, type LogTarget } from '../../../log.js';

export interface DiskCacheOptions {
  /** Bound on the file's size in bytes (at least 64 KiB). */
  maxBytes: number;
  /** Where warnings go (a damaged file discarded, a failed write). Default: process warnings. */
  log?: LogTarget;
}

export const MIN_DISK_CACHE_BYTES = 64 * 1024;
const RESERVED_BYTES = format.HEADER_BYTES + format.encodeLastTid(0n).byteLength;
/** Fraction of maxBytes at which a background compaction starts. */
const BACKGROUND_COMPACTION_AT = 0.8;

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
  private compaction: Compaction | undefined;
  private compactions = 0;
  private compactionStep: NodeJS.Immediate | undefined;

  private constructor(
    readonly path: string,
    private fd: number,
    private readonly lock: DiskCacheLock,
    readonly maxBytes: number,
    private readonly log: Logger,
  ) {}

  /** Opens (or creates) the cache file, rebuilding the index; StorageLockedError if in use. */
  static async open(path: string, options: DiskCacheOptions): Promise<DiskCache> {
    const { maxBytes } = options;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < MIN_DISK_CACHE_BYTES) {
      throw new InvalidArgumentError('maxBytes', `expected at least ${MIN_DISK_CACHE_BYTES} bytes, got ${String(maxBytes)}`);
    }
    const log = toLogger(options.log, 'disk-cache', () => processWarnings);
    mkdirSync(dirname(path), { recursive: true });
    const lock = await DiskCacheLock.acquire(path);
    let fd = -1;
    try {
      format.removeIfPresent(path + '.compact');
      fd = format.openReadWrite(path);
      const cache = new DiskCache(path, fd, lock, maxBytes, log);
      cache.rebuild();
      return cache;
    } catch (error) {
      if (fd >= 0) closeSync(fd);
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

  /** Record bytes a compaction keeps; also the largest revision worth writing. */
  private get keepBudget(): number {
    return Math.floor(this.maxBytes / 2) - RESERVED_BYTES;
  }

  /** Compactions completed since open (for metrics). */
  get compactionCount(): number {
    return this.compactions;
  }

  /** True while a background compaction is copying. */
  get isCompacting(): boolean {
    return this.compaction !== undefined;
  }

  /** The cache file's current size: live records plus superseded ones awaiting compaction. */
  get fileBytes(): number {
    return this.fileEnd;
  }

  loadBefore(oid: Oid, beforeTid: Tid): LoadBeforeResult | undefined {
    const entry = this.isOff ? undefined : this.index.findBefore(oid, beforeTid);
    const data = this.serve(entry);
    return entry && data ? { data, start: entry.start, end: entry.end } : undefined;
  }

  load(oid: Oid): LoadResult | undefined {
    const entry = this.isOff ? undefined : this.index.findCurrent(oid);
    const data = this.serve(entry);
    return entry && data ? { data, tid: entry.start } : undefined;
  }

  /** The data of a found revision (undefined if unreadable), counted as a hit or a miss. */
  private serve(entry: Entry | undefined): Uint8Array | undefined {
    const data = entry && this.readData(entry);
    if (!entry || !data) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.index.touch(entry);
    return data;
  }

  store(oid: Oid, start: Tid, end: Tid | null, data: Uint8Array): void {
    checkRevision(oid, start, end, data);
    if (this.isOff) return;
    const size = format.storeRecordBytes(data.byteLength);
    if (size > this.keepBudget) {
      // Too big to survive a compaction, so not worth writing. An older current revision has
      // just become stale: forget it for good.
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
    this.stopCompaction();
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
      this.log.warn(`disk cache ${this.path}: not a zeo-ts cache file (bad header); discarded, starting empty`);
      return this.startEmpty(0n);
    }
    const outcome = format.scanRecords(this.fd, fileSize, (record) => this.replay(record));
    if (outcome.kind === 'damaged') {
      this.log.warn(
        `disk cache ${this.path}: damaged at byte offset ${outcome.offset} (${outcome.reason}); ` +
          'discarded, starting empty',
      );
      return this.startEmpty(0n);
    }
    if (outcome.validEnd < fileSize) {
      this.log.warn(`disk cache ${this.path}: cut a torn tail of ${fileSize - outcome.validEnd} bytes (the last write was interrupted)`);
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
    this.stopCompaction();
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
    let record: Buffer | undefined;
    try {
      record = this.readRecordOrThrow(entry);
    } catch (error) {
      this.turnOff(error);
      return undefined;
    }
    if (!record) return undefined;
    const problem = !format.hasValidCrc(record)
      ? 'fails its checksum'
      : !format.isStoreRecordOf(record, entry.oid, entry.start)
        ? 'holds another revision than the index says'
        : undefined;
    if (problem) {
      this.log.warn(`disk cache ${this.path}: record at byte offset ${entry.value} ${problem}; dropped`);
      this.drop(entry);
      return undefined;
    }
    // A copy with its own buffer (not Buffer#slice, which is a view): the scratch is reused.
    return new Uint8Array(format.storeRecordData(record));
  }

  /** The whole record in a scratch buffer (valid until the next read); undefined if short. */
  private readRecordOrThrow(entry: Entry): Buffer | undefined {
    if (this.scratch.byteLength < entry.size) this.scratch = Buffer.alloc(entry.size * 2);
    const got = readSync(this.fd, this.scratch, 0, entry.size, entry.value);
    return got === entry.size ? this.scratch.subarray(0, entry.size) : undefined;
  }

  private append(record: Buffer): void {
    if (this.isOff) return;
    try {
      format.writeFully(this.fd, record, this.fileEnd);
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
    this.stopCompaction();
    this.index.clear();
    this.log.warn(`disk cache ${this.path}: ${(error as Error).message}; the disk cache is off until restart and its file is discarded`);
    try {
      ftruncateSync(this.fd, 0);
    } catch {
      // The next open will find a bad header and discard the file anyway.
    }
  }

  private compactIfOverBound(): void {
    if (this.isOff) return;
    const isOver = this.fileEnd > this.maxBytes;
    if (!this.compaction) {
      if (!isOver && this.fileEnd <= this.maxBytes * BACKGROUND_COMPACTION_AT) return;
      this.startCompaction();
    }
    if (!isOver) return this.scheduleCompactionStep();
    this.finishCompaction();
    if (this.fileEnd > this.maxBytes && !this.isOff) {
      // Records written meanwhile came along whole; a huge one can leave the file over the
      // bound. A second pass has no such tail and keeps at most half.
      this.startCompaction();
      this.finishCompaction();
    }
  }

  /** Fixes what to keep: the most recently used revisions, up to half of maxBytes. */
  private startCompaction(): void {
    const keep: Entry[] = [];
    let keptBytes = 0;
    for (const entry of this.index.mostRecentFirst()) {
      if (keptBytes + entry.size > this.keepBudget) break;
      keep.push(entry);
      keptBytes += entry.size;
    }
    try {
      const read = (entry: Entry) => this.readRecordOrThrow(entry);
      this.compaction = new Compaction(this.path, keep.reverse(), this.persistedLastTid, this.fileEnd, read);
    } catch (error) {
      this.turnOff(error);
    }
  }

  private scheduleCompactionStep(): void {
    if (this.compactionStep) return;
    this.compactionStep = setImmediate(() => {
      this.compactionStep = undefined;
      if (!this.compaction) return;
      try {
        if (this.compaction.step()) this.finishCompaction();
        else this.scheduleCompactionStep();
      } catch (error) {
        this.turnOff(error);
      }
    });
    // A cache must not keep a process alive; an unfinished compaction is simply dropped.
    this.compactionStep.unref();
  }

  /** Completes the compaction now and moves the index over to the new file. */
  private finishCompaction(): void {
    const compaction = this.compaction!;
    try {
      const result = compaction.finish(this.fd, this.fileEnd);
      this.stopCompaction();
      closeSync(this.fd);
      this.fd = result.fd;
      this.fileEnd = result.fileEnd;
      this.compactions++;
      for (const entry of [...this.index.mostRecentFirst()]) {
        const moved = result.offsets.get(entry);
        if (moved !== undefined) entry.value = moved;
        else if (entry.value >= result.tailStart) entry.value += result.tailShift;
        else {
          this.index.remove(entry);
          this.evictions++;
        }
      }
    } catch (error) {
      this.turnOff(error);
    }
  }

  private stopCompaction(): void {
    if (this.compactionStep) clearImmediate(this.compactionStep);
    this.compactionStep = undefined;
    this.compaction?.abandon();
    this.compaction = undefined;
  }
}
