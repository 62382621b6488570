// The client-side revision cache: the RevisionCache contract that ClientStorage reads through,
// and ClientCache, its in-memory implementation (bounded in bytes, LRU eviction). The on-disk
// implementation is disk-cache.ts; CacheStack (stack.ts) layers the two.
//
// Entries carry their validity range (MVCC): a transaction reads the snapshot at the client's
// lastTid, so an invalidation ENDS the current entry's range instead of dropping it; a
// transaction that began before that invalidation still finds the old revision here.
//
// Why not node-cache: it bounds by key count, not bytes; it has no LRU (only TTL expiry and a
// maxKeys that refuses new keys once full); and it deep-clones values by default. A revision
// cache needs a byte bound, least-recently-used eviction and several revisions per OID with
// range lookups, so the small index in revision-index.ts serves better.

import { InvalidArgumentError } from '../../../errors.js';
import type { LoadBeforeResult, LoadResult, Oid, Tid } from '../../contract.js';
import { RevisionIndex } from './revision-index.js';
import { checkU64 } from '../../tid.js';

export interface RevisionCacheStats {
  /** Loads answered from the cache (load and loadBefore). */
  hits: number;
  misses: number;
  /** Bytes charged against the bound: data plus ENTRY_OVERHEAD_BYTES each in memory, whole records on disk. */
  bytes: number;
  /** Revisions held. */
  entries: number;
  /** Revisions dropped to stay within the bound. */
  evictions: number;
}

/**
 * A client's cache of object revisions with validity ranges. `data` handed out must be treated
 * as immutable: the cache returns the bytes it holds, not a copy.
 */
export interface RevisionCache {
  /**
   * Revision valid just before `beforeTid`: start < beforeTid && (end === null || beforeTid <= end).
   * An open range (end === null) is only known to hold up to lastTid (later invalidations have
   * not been applied yet), so ask for snapshots with beforeTid <= lastTid + 1.
   */
  loadBefore(oid: Oid, beforeTid: Tid): LoadBeforeResult | undefined;
  /** The current revision (end === null). */
  load(oid: Oid): LoadResult | undefined;
  /**
   * Remember a revision. end=null means current. Storing a current revision for an oid whose
   * current entry has a later start is ignored (never replace newer with older).
   */
  store(oid: Oid, start: Tid, end: Tid | null, data: Uint8Array): void;
  /** Object changed in transaction `tid`: the current entry (if any, with start < tid) gets end = tid and stays as a non-current revision. */
  invalidate(oid: Oid, tid: Tid): void;
  /** The TID up to which invalidations have been applied to this cache (persisted by the disk cache). */
  lastTid: Tid;
  /** Drops every entry; `lastTid` is left for the caller to set. */
  clear(): void;
  readonly stats: RevisionCacheStats;
}

export interface ClientCacheOptions {
  /** Bound on data bytes plus ENTRY_OVERHEAD_BYTES per revision. */
  maxBytes: number;
}

/**
 * Estimated heap cost of one revision besides its data: the index record with its LRU links,
 * its slot in the per-OID array and map, the bigint keys, the Uint8Array object. Measured with
 * process.memoryUsage() over 100 000 16-byte entries on Node 20: about 390 bytes each beyond
 * the data with one revision per OID, about 375 with four.
 */
export const ENTRY_OVERHEAD_BYTES = 400;

export class ClientCache implements RevisionCache {
  readonly maxBytes: number;
  private appliedTid: Tid = 0n;
  private readonly index = new RevisionIndex<Uint8Array>();
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(options: ClientCacheOptions) {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 0) {
      throw new InvalidArgumentError('maxBytes', `expected a byte count >= 0, got ${String(options.maxBytes)}`);
    }
    this.maxBytes = options.maxBytes;
  }

  get lastTid(): Tid {
    return this.appliedTid;
  }

  set lastTid(tid: Tid) {
    checkU64(tid, 'lastTid');
    this.appliedTid = tid;
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

  loadBefore(oid: Oid, beforeTid: Tid): LoadBeforeResult | undefined {
    const revision = this.index.findBefore(oid, beforeTid);
    if (!revision) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.index.touch(revision);
    return { data: revision.value, start: revision.start, end: revision.end };
  }

  load(oid: Oid): LoadResult | undefined {
    const revision = this.index.findCurrent(oid);
    if (!revision) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.index.touch(revision);
    return { data: revision.value, tid: revision.start };
  }

  store(oid: Oid, start: Tid, end: Tid | null, data: Uint8Array): void {
    checkRevision(oid, start, end, data);
    const size = data.byteLength + ENTRY_OVERHEAD_BYTES;
    if (size > this.maxBytes) {
      // Too big to ever fit. An older current revision we hold has just become stale: drop it.
      const current = end === null ? this.index.findCurrent(oid) : undefined;
      if (current && current.start < start) this.index.remove(current);
      return;
    }
    const outcome = this.index.add(oid, start, end, ownBytes(data), size);
    if (outcome.kind === 'added') this.evictToBound();
  }

  invalidate(oid: Oid, tid: Tid): void {
    checkU64(tid, 'tid');
    this.index.endCurrent(oid, tid);
  }

  clear(): void {
    this.index.clear();
  }

  private evictToBound(): void {
    while (this.index.bytes > this.maxBytes) {
      const victim = this.index.leastRecentlyUsed();
      if (!victim) return;
      this.index.remove(victim);
      this.evictions++;
    }
  }
}

/** Shared argument checks for every RevisionCache implementation. */
export function checkRevision(oid: Oid, start: Tid, end: Tid | null, data: Uint8Array): void {
  checkU64(oid, 'oid');
  checkU64(start, 'start');
  if (end !== null) {
    checkU64(end, 'end');
    if (end <= start) {
      throw new InvalidArgumentError('end', `a revision's end (${end}) must be after its start (${start})`);
    }
  }
  if (!(data instanceof Uint8Array)) throw new InvalidArgumentError('data', 'expected a Uint8Array');
}

/**
 * A view into a larger buffer (a slice of a network frame) would pin the whole buffer and make
 * the byte bound a lie; such views are copied, whole buffers are kept as they are.
 */
function ownBytes(data: Uint8Array): Uint8Array {
  // new Uint8Array(view) copies; Buffer#slice would not.
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : new Uint8Array(data);
}
