// CacheStack: the memory cache in front of the optional disk cache, as one RevisionCache, so
// ClientStorage talks to a single cache whatever the config (client.cacheBytes alone, or with
// client.diskCacheDir). Reads try memory, then disk, and a disk hit is promoted into memory;
// writes (store, invalidate, lastTid, clear) go to both layers, so the two always describe the
// same history and the disk layer is a warm start for the next run of the worker.

import type { ClientCache, RevisionCache, RevisionCacheStats } from './memory-cache.js';
import type { LoadBeforeResult, LoadResult, Oid, Tid } from '../../contract.js';
import type { DiskCache } from './disk-cache.js';

export class CacheStack implements RevisionCache {
  private hits = 0;
  private misses = 0;

  constructor(
    readonly memory: ClientCache,
    readonly disk?: DiskCache,
  ) {
    // The disk layer remembers how far invalidations were applied; the memory layer starts empty.
    if (disk) memory.lastTid = disk.lastTid;
  }

  get lastTid(): Tid {
    return this.memory.lastTid;
  }

  set lastTid(tid: Tid) {
    if (this.disk) this.disk.lastTid = tid;
    this.memory.lastTid = tid;
  }

  /** hits/misses are end to end (a disk hit is one hit); bytes, entries, evictions add up the layers. */
  get stats(): RevisionCacheStats {
    const memory = this.memory.stats;
    const disk = this.disk?.stats;
    return {
      hits: this.hits,
      misses: this.misses,
      bytes: memory.bytes + (disk?.bytes ?? 0),
      entries: memory.entries + (disk?.entries ?? 0),
      evictions: memory.evictions + (disk?.evictions ?? 0),
    };
  }

  loadBefore(oid: Oid, beforeTid: Tid): LoadBeforeResult | undefined {
    const found = this.memory.loadBefore(oid, beforeTid) ?? this.promote(oid, this.disk?.loadBefore(oid, beforeTid));
    this.count(found);
    return found;
  }

  load(oid: Oid): LoadResult | undefined {
    let found: LoadResult | undefined = this.memory.load(oid);
    if (!found && this.disk) {
      const fromDisk = this.disk.load(oid);
      if (fromDisk) this.memory.store(oid, fromDisk.tid, null, fromDisk.data);
      found = fromDisk;
    }
    this.count(found);
    return found;
  }

  store(oid: Oid, start: Tid, end: Tid | null, data: Uint8Array): void {
    this.memory.store(oid, start, end, data);
    this.disk?.store(oid, start, end, data);
  }

  invalidate(oid: Oid, tid: Tid): void {
    this.memory.invalidate(oid, tid);
    this.disk?.invalidate(oid, tid);
  }

  clear(): void {
    this.memory.clear();
    this.disk?.clear();
  }

  /** Closes the disk layer (flushing it); the memory layer needs nothing. */
  async close(): Promise<void> {
    await this.disk?.close();
  }

  private promote(oid: Oid, found: LoadBeforeResult | undefined): LoadBeforeResult | undefined {
    if (found) this.memory.store(oid, found.start, found.end, found.data);
    return found;
  }

  private count(found: unknown): void {
    if (found) this.hits++;
    else this.misses++;
  }
}
