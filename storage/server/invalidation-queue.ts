// InvalidationQueue: the storage server's bounded memory of recent invalidations, so a client
// that reconnects (or notices a gap in the prevTid chain) can ask `invalidationsSince(lastTid)`
// instead of dropping its whole cache. Bounded by count and by age; past its reach, `since`
// answers null and the client must drop or verify its cache.
//
// The entries sit in an array used as a FIFO with a moving head (amortized O(1) push and
// eviction); `since` finds its start by binary search over the TIDs, which strictly increase
// (O(log n) plus the size of the answer).

import { InvalidArgumentError } from '../../errors.js';
import type { Invalidation, Tid } from '../contract.js';
import { checkU64, toHex } from '../tid.js';

export interface InvalidationQueueOptions {
  /** Keep at most this many invalidations (>= 1). */
  maxCount: number;
  /** Forget invalidations pushed longer ago than this (> 0). */
  maxAgeMs: number;
  /**
   * The storage's last TID when the queue starts (its lastTransaction()). A client already at
   * this TID is then answered [] rather than null. Without it, the queue knows no TID until the
   * first push.
   */
  startTid?: Tid;
  /** Clock for the age bound; tests pass their own. */
  now?: () => number;
}

interface Entry {
  invalidation: Invalidation;
  pushedAt: number;
}

export class InvalidationQueue {
  private readonly maxCount: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private entries: Entry[] = [];
  /** Index of the oldest live entry in `entries`; everything before it is evicted. */
  private head = 0;
  private newestTid: Tid | undefined;

  constructor(options: InvalidationQueueOptions) {
    const { maxCount, maxAgeMs, startTid } = options;
    if (!Number.isInteger(maxCount) || maxCount < 1) {
      throw new InvalidArgumentError('maxCount', `expected an integer >= 1, got ${String(maxCount)}`);
    }
    if (typeof maxAgeMs !== 'number' || !(maxAgeMs > 0)) {
      throw new InvalidArgumentError('maxAgeMs', `expected a number > 0, got ${String(maxAgeMs)}`);
    }
    if (startTid !== undefined) checkU64(startTid, 'startTid');
    this.maxCount = maxCount;
    this.maxAgeMs = maxAgeMs;
    this.now = options.now ?? Date.now;
    this.newestTid = startTid;
  }

  /** How many invalidations the queue holds now. */
  get length(): number {
    this.evictOld();
    return this.entries.length - this.head;
  }

  /** TID of the oldest invalidation held, undefined when empty. */
  get oldestTid(): Tid | undefined {
    this.evictOld();
    return this.entries[this.head]?.invalidation.tid;
  }

  /** TID of the newest invalidation ever pushed (or startTid); kept after eviction. */
  get lastTid(): Tid | undefined {
    return this.newestTid;
  }

  /**
   * Adds the invalidation of a transaction just committed. TIDs must strictly increase. When
   * `prevTid` is not the last TID pushed (the server missed a transaction), everything older is
   * forgotten: no answer spanning the hole would be complete.
   */
  push(invalidation: Invalidation): void {
    checkU64(invalidation?.tid, 'invalidation.tid');
    checkU64(invalidation.prevTid, 'invalidation.prevTid');
    if (!Array.isArray(invalidation.oids)) {
      throw new InvalidArgumentError('invalidation.oids', 'expected an array of OIDs');
    }
    if (this.newestTid !== undefined && invalidation.tid <= this.newestTid) {
      throw new InvalidArgumentError(
        'invalidation.tid',
        `0x${toHex(invalidation.tid)} is not after the last TID 0x${toHex(this.newestTid)}; invalidations must be pushed in commit order`,
      );
    }
    if (this.newestTid !== undefined && invalidation.prevTid !== this.newestTid) {
      this.entries = [];
      this.head = 0;
    }
    this.entries.push({ invalidation, pushedAt: this.now() });
    this.newestTid = invalidation.tid;
    if (this.entries.length - this.head > this.maxCount) this.head++;
    this.evictOld();
  }

  /**
   * The invalidations committed after `tid`, oldest first; [] when `tid` is the last TID. Null
   * when the queue cannot answer completely: it no longer reaches back to `tid`, or `tid` is
   * newer than anything it knows (the client saw a different history); the client must then
   * drop or verify its cache.
   */
  since(tid: Tid): Invalidation[] | null {
    checkU64(tid, 'tid');
    this.evictOld();
    if (this.newestTid === undefined || tid > this.newestTid) return null;
    if (tid === this.newestTid) return [];
    const oldest = this.entries[this.head];
    // The oldest entry's prevTid is the last TID before it: a client at or after it misses
    // nothing the queue does not hold.
    if (!oldest || tid < oldest.invalidation.prevTid) return null;
    const result: Invalidation[] = [];
    for (let i = this.firstAfter(tid); i < this.entries.length; i++) {
      result.push(this.entries[i]!.invalidation);
    }
    return result;
  }

  /** Index of the first live entry with a TID > `tid` (binary search; TIDs increase). */
  private firstAfter(tid: Tid): number {
    let low = this.head;
    let high = this.entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.entries[middle]!.invalidation.tid > tid) high = middle;
      else low = middle + 1;
    }
    return low;
  }

  private evictOld(): void {
    const cutoff = this.now() - this.maxAgeMs;
    while (this.head < this.entries.length && this.entries[this.head]!.pushedAt < cutoff) {
      this.head++;
    }
    // Compact once the dead prefix outweighs the live part, so memory stays O(maxCount) and the
    // copying costs amortized O(1) per push.
    if (this.head > 0 && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
