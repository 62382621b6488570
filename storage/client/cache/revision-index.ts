// RevisionIndex: the bookkeeping both client caches share (memory-cache.ts keeps the
// data itself in it, disk-cache.ts keeps file offsets). It holds, per OID, revisions with
// their validity ranges [start, end), applies the MVCC rules of the RevisionCache contract
// (what a store or an invalidation does to the ranges), and keeps every revision on one LRU list
// so the owner can evict the least recently used in O(1).
//
// The index never evicts on its own and never counts hits: those are the owner's policies.

import type { Oid, Tid } from '../../contract.js';

/** One cached revision. `value` is whatever the owner keeps (bytes, a file location). */
export interface IndexedRevision<V> {
  readonly oid: Oid;
  readonly start: Tid;
  /** TID of the next revision, or null while this one is current. */
  end: Tid | null;
  value: V;
  /** Bytes charged against the owner's bound. */
  readonly size: number;
  /** LRU links: `older` points toward the eviction end. */
  older: IndexedRevision<V> | undefined;
  newer: IndexedRevision<V> | undefined;
}

/** What `add` did, so a persistent owner can log exactly the effective changes. */
export type AddOutcome<V> =
  | { kind: 'added'; revision: IndexedRevision<V>; replaced: IndexedRevision<V> | undefined }
  | { kind: 'ended'; revision: IndexedRevision<V> }
  | { kind: 'ignored'; revision: IndexedRevision<V> | undefined };

export class RevisionIndex<V> {
  /** Revisions of each OID, sorted by start (oldest first); a handful per OID at most. */
  private readonly byOid = new Map<Oid, IndexedRevision<V>[]>();
  private leastRecent: IndexedRevision<V> | undefined;
  private mostRecent: IndexedRevision<V> | undefined;
  bytes = 0;
  entries = 0;

  /** The revision valid just before `beforeTid`: start < beforeTid <= end (or end open). */
  findBefore(oid: Oid, beforeTid: Tid): IndexedRevision<V> | undefined {
    const revisions = this.byOid.get(oid);
    if (!revisions) return undefined;
    for (let i = revisions.length - 1; i >= 0; i--) {
      const revision = revisions[i]!;
      if (revision.start < beforeTid) {
        return revision.end === null || beforeTid <= revision.end ? revision : undefined;
      }
    }
    return undefined;
  }

  findCurrent(oid: Oid): IndexedRevision<V> | undefined {
    const revisions = this.byOid.get(oid);
    const newest = revisions?.[revisions.length - 1];
    return newest?.end === null ? newest : undefined;
  }

  /**
   * Apply a store. Rules (the RevisionCache contract):
   *  - the same (oid, start) is the same revision: at most its open end gets closed;
   *  - a current revision never replaces a current one with a later start;
   *  - a current revision with a later start replaces the older current one, whose true end we
   *    do not know (an invalidation was missed), so it is dropped rather than guessed;
   *  - a range that overlaps a known range is contradictory and ignored: what we have came
   *    from the same server and keeping it is never worse than a guess.
   */
  add(oid: Oid, start: Tid, end: Tid | null, value: V, size: number): AddOutcome<V> {
    let revisions = this.byOid.get(oid);
    if (revisions) {
      const same = revisions.find((r) => r.start === start);
      if (same) {
        this.touch(same);
        if (same.end === null && end !== null) {
          same.end = end;
          return { kind: 'ended', revision: same };
        }
        return { kind: 'ignored', revision: same };
      }
    }
    let replaced: IndexedRevision<V> | undefined;
    if (end === null) {
      const current = this.findCurrent(oid);
      if (current && current.start > start) return { kind: 'ignored', revision: current };
      if (current) {
        this.remove(current);
        replaced = current;
        revisions = this.byOid.get(oid);
      }
    }
    if (revisions?.some((r) => overlaps(r, start, end))) return { kind: 'ignored', revision: undefined };

    const revision: IndexedRevision<V> = { oid, start, end, value, size, older: undefined, newer: undefined };
    if (!revisions) {
      // A literal, not [] + push: V8 would give the empty array room for 17 (most OIDs hold one).
      this.byOid.set(oid, [revision]);
    } else {
      let at = revisions.length;
      while (at > 0 && revisions[at - 1]!.start > start) at--;
      revisions.splice(at, 0, revision);
    }
    this.linkMostRecent(revision);
    this.bytes += size;
    this.entries++;
    return { kind: 'added', revision, replaced };
  }

  /** The current revision (if it started before `tid`) ends at `tid`; returns it if changed. */
  endCurrent(oid: Oid, tid: Tid): IndexedRevision<V> | undefined {
    const current = this.findCurrent(oid);
    if (!current || current.start >= tid) return undefined;
    current.end = tid;
    return current;
  }

  /** Mark as most recently used. */
  touch(revision: IndexedRevision<V>): void {
    if (this.mostRecent === revision) return;
    this.unlink(revision);
    this.linkMostRecent(revision);
  }

  remove(revision: IndexedRevision<V>): void {
    const revisions = this.byOid.get(revision.oid);
    const at = revisions ? revisions.indexOf(revision) : -1;
    if (!revisions || at < 0) return;
    revisions.splice(at, 1);
    if (revisions.length === 0) this.byOid.delete(revision.oid);
    this.unlink(revision);
    this.bytes -= revision.size;
    this.entries--;
  }

  /** The eviction candidate. */
  leastRecentlyUsed(): IndexedRevision<V> | undefined {
    return this.leastRecent;
  }

  /** Every revision, most recently used first. */
  *mostRecentFirst(): IterableIterator<IndexedRevision<V>> {
    for (let r = this.mostRecent; r; r = r.older) yield r;
  }

  clear(): void {
    this.byOid.clear();
    this.leastRecent = this.mostRecent = undefined;
    this.bytes = 0;
    this.entries = 0;
  }

  private linkMostRecent(revision: IndexedRevision<V>): void {
    revision.older = this.mostRecent;
    revision.newer = undefined;
    if (this.mostRecent) this.mostRecent.newer = revision;
    this.mostRecent = revision;
    if (!this.leastRecent) this.leastRecent = revision;
  }

  private unlink(revision: IndexedRevision<V>): void {
    if (revision.older) revision.older.newer = revision.newer;
    else if (this.leastRecent === revision) this.leastRecent = revision.newer;
    if (revision.newer) revision.newer.older = revision.older;
    else if (this.mostRecent === revision) this.mostRecent = revision.older;
    revision.older = revision.newer = undefined;
  }
}

function overlaps<V>(r: IndexedRevision<V>, start: Tid, end: Tid | null): boolean {
  const startsBeforeOurEnd = end === null || r.start < end;
  const endsAfterOurStart = r.end === null || start < r.end;
  return startsBeforeOurEnd && endsAfterOurStart;
}
