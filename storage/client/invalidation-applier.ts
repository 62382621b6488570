// The client's consistency core: applies invalidations strictly in TID order, whichever way
// they arrive (pushed by the server, from Redis, in a commit reply, fetched after a gap), and
// keeps `lastTid`, the TID up to which every invalidation has been applied. A new DB
// transaction reads the snapshot at lastTid, so lastTid must never run ahead of the cache.
//
//  - An invalidation whose prevTid is not lastTid reveals a gap: it waits in `pending` while
//    catchUp() asks the server for invalidationsSince(lastTid). If the server's queue no longer
//    reaches back, every cache is dropped and lastTid restarts at the server's current TID
//    (reset listeners tell the object layer to drop its objects too).
//  - A load racing an invalidation must not put stale data into the cache as current: every
//    load in flight holds a ticket; applying an invalidation of its OID (or a reset) marks the
//    ticket stale and the load's result is then not cached as current.

import { TimeoutError } from '../../errors.js';
import { hex, type Logger } from '../../log.js';
import type { Invalidation, Oid, Tid } from '../contract.js';
import type { RevisionCache } from './cache/memory-cache.js';

export interface LoadTicket {
  readonly oid: Oid;
  isStale: boolean;
}

export interface ApplierHost {
  cache: RevisionCache;
  /** The server's invalidationsSince; rejects while disconnected. */
  fetchSince(tid: Tid): Promise<Invalidation[] | null>;
  /** The server's last TID (ping). */
  fetchLastTid(): Promise<Tid>;
  /** Called for each applied invalidation, in TID order. */
  emit(invalidation: Invalidation): void;
  /** Called after the caches were dropped because history could not be followed. */
  emitReset(lastTid: Tid): void;
  log: Logger;
}

export class InvalidationApplier {
  private readonly pending = new Map<Tid, Invalidation>();
  private readonly tickets = new Map<Oid, Set<LoadTicket>>();
  private readonly waiters = new Set<{ tid: Tid; settle: (error?: Error) => void }>();
  private catchingUp: Promise<void> | null = null;
  private isCatchUpWanted = false;
  /** Invalidations applied (for stats). */
  applied = 0;
  resets = 0;

  constructor(private readonly host: ApplierHost) {}

  get lastTid(): Tid {
    return this.host.cache.lastTid;
  }

  /** An invalidation from any source. Returns true if it was applied now. */
  receive(invalidation: Invalidation): void {
    if (invalidation.tid <= this.lastTid) return;
    if (invalidation.prevTid === this.lastTid) {
      this.apply(invalidation);
      this.drainPending();
      return;
    }
    this.pending.set(invalidation.prevTid, invalidation);
    void this.catchUp().catch(() => undefined);
  }

  /** A commit reply: what the committer missed up to its own TID (null = out of the server's reach). */
  receiveCommitReply(tid: Tid, invalidations: Invalidation[] | null): void {
    if (invalidations === null) {
      if (tid > this.lastTid) this.reset(tid);
      return;
    }
    for (const invalidation of invalidations) this.receive(invalidation);
  }

  /**
   * Fetches from the server whatever was missed since lastTid and applies it; drops the caches
   * if the server's queue no longer reaches back. Concurrent calls share one round trip (plus
   * one more if asked again meanwhile). Rejects while the server is unreachable.
   */
  catchUp(): Promise<void> {
    if (this.catchingUp) {
      this.isCatchUpWanted = true;
      return this.catchingUp;
    }
    this.catchingUp = (async () => {
      try {
        do {
          this.isCatchUpWanted = false;
          await this.catchUpOnce();
        } while (this.isCatchUpWanted);
      } finally {
        this.catchingUp = null;
      }
    })();
    return this.catchingUp;
  }

  /**
   * Catches up until lastTid reaches `tid` (a TID the server has committed), for at most
   * `timeoutMs`: the server's queue may lag its storage a moment (another storage server's commit
   * on a shared PostgreSQL schema). Rejects while the server is unreachable.
   */
  async catchUpTo(tid: Tid, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.lastTid < tid) {
      await this.catchUp();
      if (this.lastTid >= tid || Date.now() >= deadline) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private async catchUpOnce(): Promise<void> {
    const from = this.lastTid;
    const missed = await this.host.fetchSince(from);
    if (missed !== null) {
      for (const invalidation of missed) {
        if (invalidation.tid <= this.lastTid) continue;
        if (invalidation.prevTid !== this.lastTid) {
          // The server's answer itself has a hole (it lost history): follow it no further.
          return this.reset(await this.host.fetchLastTid());
        }
        this.apply(invalidation);
      }
      this.drainPending();
      return;
    }
    // The server cannot say what changed since `from` (queue overrun, or it restarted with a
    // different history): nothing cached can be trusted.
    const serverTid = await this.host.fetchLastTid();
    if (this.lastTid === from) this.reset(serverTid);
    else this.isCatchUpWanted = true;
  }

  private apply(invalidation: Invalidation): void {
    const cache = this.host.cache;
    for (const oid of invalidation.oids) {
      cache.invalidate(oid, invalidation.tid);
      const tickets = this.tickets.get(oid);
      if (tickets) for (const ticket of tickets) ticket.isStale = true;
    }
    cache.lastTid = invalidation.tid;
    this.applied++;
    this.host.emit(invalidation);
    this.wakeWaiters();
  }

  private drainPending(): void {
    for (;;) {
      const next = this.pending.get(this.lastTid);
      if (!next) break;
      this.pending.delete(this.lastTid);
      if (next.tid > this.lastTid) this.apply(next);
    }
    for (const [prevTid, invalidation] of this.pending) {
      if (invalidation.tid <= this.lastTid) this.pending.delete(prevTid);
    }
    if (this.pending.size > 0) void this.catchUp().catch(() => undefined);
  }

  /** Drops every cache and restarts the invalidation chain at `tid`. */
  reset(tid: Tid): void {
    this.host.log.warn(`cannot follow invalidations from ${hex(this.lastTid)}; dropping the caches and restarting at ${hex(tid)}`, {
      lastTid: this.lastTid, serverTid: tid,
    });
    this.host.cache.clear();
    for (const tickets of this.tickets.values()) for (const ticket of tickets) ticket.isStale = true;
    this.host.cache.lastTid = tid;
    this.resets++;
    for (const [prevTid, invalidation] of this.pending) {
      if (invalidation.tid <= tid) this.pending.delete(prevTid);
    }
    this.host.emitReset(tid);
    this.wakeWaiters();
    this.drainPending();
  }

  /** Begin tracking a load of `oid`; call endLoad when its reply is handled. */
  beginLoad(oid: Oid): LoadTicket {
    const ticket: LoadTicket = { oid, isStale: false };
    let set = this.tickets.get(oid);
    if (!set) this.tickets.set(oid, (set = new Set()));
    set.add(ticket);
    return ticket;
  }

  endLoad(ticket: LoadTicket): void {
    const set = this.tickets.get(ticket.oid);
    set?.delete(ticket);
    if (set?.size === 0) this.tickets.delete(ticket.oid);
  }

  /** Resolves once lastTid >= tid; TimeoutError after timeoutMs. */
  waitFor(tid: Tid, timeoutMs: number): Promise<void> {
    if (this.lastTid >= tid) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const settle = (error?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        if (error) reject(error);
        else resolve();
      };
      const waiter = { tid, settle };
      const timer = setTimeout(
        () => settle(new TimeoutError(`not caught up to TID ${hex(tid)} within ${timeoutMs} ms (still at ${hex(this.lastTid)})`)),
        timeoutMs,
      );
      this.waiters.add(waiter);
    });
  }

  private wakeWaiters(): void {
    for (const waiter of [...this.waiters]) if (this.lastTid >= waiter.tid) waiter.settle();
  }

  /** Ends every wait (the storage is closing) so no timer keeps the process alive. */
  close(error: Error): void {
    for (const waiter of [...this.waiters]) waiter.settle(error);
  }
}
