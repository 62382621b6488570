// ClientStorage: a Storage whose data lives on a storage server (storage/server/). To the object
// layer it is just a Storage; underneath it keeps a connection with failover (server-link.ts),
// a revision cache with validity ranges (cache/), and applies every
// invalidation in TID order (invalidation-applier.ts) so that `lastTransaction()` is a snapshot
// its cache can serve consistently.
//
// Invalidations arrive pushed on the storage connection (the embedded default) or, when
// `redis` is given, from Redis pub/sub. In Redis mode the server does not push; the client
// fills gaps and every Redis (re)connection from the server (invalidationsSince). While its
// Redis link is down it asks the server to push on the storage connection instead (and polls
// every redisPollIntervalMs as a backstop), so an outage costs neither staleness nor commits
// lost to stale snapshots. After each (re)connect to
// the storage server the cache is verified with invalidationsSince(cache lastTid) and dropped
// if the server's queue no longer reaches back. A commit reply brings the committer current up
// to its own TID, and a ConflictError up to the conflicting commit (catchUpAfter), so a retry
// reads a fresh snapshot even when no invalidation has arrived (Redis down: the poll is slow).

import { ReadOnlyError, StorageClosedError, UnavailableError, ZeoError } from '../../errors.js';
import type { RevisionCache, RevisionCacheStats } from './cache/memory-cache.js';
import {
  isConflict,
  type CommitRequest,
  type CommitResult,
  type HistoryEntry,
  type Invalidation,
  type InvalidationListener,
  type LoadBeforeResult,
  type LoadResult,
  type Oid,
  type PackResult,
  type Storage,
  type StorageTransaction,
  type StoreRequest,
  type Tid,
  type TransactionMeta,
  type TransactionRecord,
} from '../contract.js';
import { checkCommitRequest, checkCount } from '../commit-checks.js';
import { InvalidationListeners } from '../invalidation-listeners.js';
import { invalidationChannel } from '../redis/messages.js';
import { RedisInvalidationSubscriber } from '../redis/subscriber.js';
import type { LoadManyEntry, Op, ServerStats, WireCommitResult } from '../protocol/messages.js';
import { decodeError } from '../protocol/messages.js';
import { checkU64 } from '../tid.js';
import { ClientTransaction } from './transaction.js';
import { checkOptions, openCache, type CheckedOptions, type ClientStorageOptions } from './options.js';
import type { Connection } from './connection.js';
import { InvalidationApplier } from './invalidation-applier.js';
import { ServerLink } from './server-link.js';

export interface ClientStorageStats {
  lastTid: Tid;
  isConnected: boolean;
  server: string | null;
  invalidationsApplied: number;
  cacheResets: number;
  cache: RevisionCacheStats;
}

export type CacheResetListener = (lastTid: Tid) => void;

export type { ClientStorageOptions };

/** How long close() waits for commits in progress and voted transactions to finish. */
const CLOSE_GRACE_MS = 5_000;
/** How long a ConflictError waits, at most, for this client to apply the commit it lost to. */
const CONFLICT_CATCH_UP_MS = 1_000;

export class ClientStorage implements Storage {
  readonly name: string;
  private readonly options: CheckedOptions;
  private readonly cache: RevisionCache;
  private readonly link: ServerLink;
  private readonly applier: InvalidationApplier;
  private readonly listeners = new InvalidationListeners();
  private readonly resetListeners = new Set<CacheResetListener>();
  private subscriber: RedisInvalidationSubscriber | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private isClosed = false;
  private closing: Promise<void> | null = null;
  private readonly writesInProgress = new Set<Promise<unknown>>();
  private hasConnectedOnce = false;
  /** Redis mode: the connection on which the server pushes because our Redis link is down. */
  private fallbackPushOn: Connection | null = null;

  private constructor(options: CheckedOptions, servers: string[], cache: RevisionCache) {
    this.options = options;
    this.name = `${servers.join(',')}/${options.storage}`;
    this.cache = cache;
    this.applier = new InvalidationApplier({
      cache: this.cache,
      fetchSince: (tid) => this.call<Invalidation[] | null>('invalidationsSince', [tid]),
      fetchLastTid: () => this.call<Tid>('ping', []),
      emit: (invalidation) => this.listeners.emit(invalidation),
      emitReset: (tid) => {
        for (const listener of this.resetListeners) listener(tid);
      },
      log: options.log,
    });
    this.link = new ServerLink({
      servers: options.servers,
      readOnlyFallback: options.readOnlyFallback,
      connection: {
        storage: options.storage,
        key: options.key,
        isReadOnly: options.isReadOnly,
        wantsPush: options.redis === null,
        tls: options.tls,
        connectTimeoutMs: options.connectTimeoutMs,
      },
      unavailableTimeoutMs: options.unavailableTimeoutMs,
      log: options.log,
      onConnected: (connection) => this.connected(connection),
    });
  }

  /** Connects (waiting up to unavailableTimeoutMs); rejects with AccessDeniedError or UnavailableError. */
  static async open(options: ClientStorageOptions): Promise<ClientStorage> {
    const checked = checkOptions(options);
    const storage = new ClientStorage(checked, options.servers, await openCache(checked));
    storage.link.start();
    try {
      await storage.link.opened();
      await storage.applier.catchUp();
    } catch (error) {
      await storage.close();
      throw error;
    }
    storage.startRedis();
    return storage;
  }

  private connected(connection: Connection): void {
    if (!this.hasConnectedOnce && this.cache.lastTid === 0n && this.cache.stats.entries === 0) {
      // An empty cache has nothing to verify: start following at the server's current TID.
      this.cache.lastTid = connection.serverLastTid;
    }
    this.hasConnectedOnce = true;
    // In Redis mode pushes come only while asked for (syncFallbackPush).
    connection.setPushHandler((invalidation) => this.applier.receive(invalidation));
    this.syncFallbackPush();
    // Verify the cache against what the server committed while we were away.
    this.applier.catchUp().catch((error) => this.options.log.warn(`catching up after connect failed: ${String(error)}`));
  }

  private startRedis(): void {
    const redis = this.options.redis;
    if (!redis || this.isClosed) return;
    this.subscriber = new RedisInvalidationSubscriber({
      url: redis.url,
      channel: invalidationChannel(redis.prefix, this.options.storage),
      onInvalidation: (invalidation) => this.applier.receive(invalidation),
      onConnectionChange: () => {
        this.syncFallbackPush();
        void this.applier.catchUp().catch(() => undefined);
      },
      log: this.options.log,
    });
    // The backstop, and how an outage that began before the first subscription is noticed.
    this.pollTimer = setInterval(() => {
      if (this.subscriber?.isConnected || !this.link.connection) return;
      this.syncFallbackPush();
      void this.applier.catchUp().catch(() => undefined);
    }, this.options.redisPollIntervalMs);
    this.pollTimer.unref();
  }

  /**
   * Redis mode: pushes on the storage connection exactly while the Redis link is down (not
   * before the subscriber has had its first chance to connect). Duplicates from both ways are
   * ignored by the applier, and a gap at the switch is filled like any other.
   */
  private syncFallbackPush(): void {
    const connection = this.link.connection;
    if (!this.subscriber || !connection || this.isClosed) return;
    const wantsPush = !this.subscriber.isConnected;
    if (wantsPush === (this.fallbackPushOn === connection)) return;
    this.fallbackPushOn = wantsPush ? connection : null;
    // A server that predates setPush refuses it: the poll still covers the outage.
    connection.request('setPush', [wantsPush]).catch(() => undefined);
  }

  get isReadOnly(): boolean {
    return this.options.isReadOnly || (this.link.connection?.isReadOnly ?? false);
  }

  /**
   * One request, waiting for a connection first. Reads are retried on the next connection if
   * the current one is lost or the server is shutting down; writes only when the server
   * refused them before doing anything (a lost commit reply leaves the outcome unknown).
   */
  private async call<T>(op: Op, args: unknown[], isIdempotent = true): Promise<T> {
    if (this.isClosed) throw new StorageClosedError(this.name);
    const deadline = Date.now() + this.options.unavailableTimeoutMs;
    for (;;) {
      const connection = await this.link.connected();
      try {
        return await connection.request<T>(op, args);
      } catch (error) {
        const isLost = error instanceof UnavailableError;
        const isRefused = !isLost && (error as ZeoError).code === 'ZEO_UNAVAILABLE';
        if (this.isClosed || Date.now() > deadline || !(isRefused || (isLost && isIdempotent))) {
          if (isLost && !isIdempotent) {
            throw new UnavailableError(`${error.message} during ${op}: the outcome is unknown (check before retrying)`, { cause: error });
          }
          throw error;
        }
        if (isRefused) await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  private assertOpen(): void {
    if (this.isClosed) throw new StorageClosedError(this.name);
  }

  async load(oid: Oid): Promise<LoadResult> {
    this.assertOpen();
    checkU64(oid, 'oid');
    const cached = this.cache.load(oid);
    if (cached) return cached;
    const ticket = this.applier.beginLoad(oid);
    try {
      const reply = await this.call<{ data: Uint8Array; tid: Tid; lastTid: Tid }>('load', [oid]);
      this.cacheCurrent(oid, reply.tid, reply.data, ticket.isStale);
      return { data: reply.data, tid: reply.tid };
    } finally {
      this.applier.endLoad(ticket);
    }
  }

  /**
   * A revision read as current is cached as current only if no invalidation of its OID was
   * applied while the load was in flight, and it is not newer than what this client has
   * applied (a snapshot at lastTid must not see it).
   */
  private cacheCurrent(oid: Oid, start: Tid, data: Uint8Array, isStale: boolean): void {
    if (!isStale && start <= this.applier.lastTid) this.cache.store(oid, start, null, data);
  }

  async loadBefore(oid: Oid, beforeTid: Tid): Promise<LoadBeforeResult | null> {
    this.assertOpen();
    checkU64(oid, 'oid');
    checkU64(beforeTid, 'beforeTid');
    const cached = this.cache.loadBefore(oid, beforeTid);
    // An open-ended entry is known current only up to lastTid.
    if (cached && (cached.end !== null || beforeTid <= this.applier.lastTid + 1n)) return cached;
    const ticket = this.applier.beginLoad(oid);
    try {
      const { result } = await this.call<{ result: LoadBeforeResult | null; lastTid: Tid }>('loadBefore', [oid, beforeTid]);
      if (result) {
        if (result.end !== null) this.cache.store(oid, result.start, result.end, result.data);
        else if (beforeTid <= this.applier.lastTid + 1n) this.cacheCurrent(oid, result.start, result.data, ticket.isStale);
      }
      return result;
    } finally {
      this.applier.endLoad(ticket);
    }
  }

  /** Current revisions of many objects in one round trip (prefetch); missing objects are left out. */
  async loadMany(oids: readonly Oid[]): Promise<Map<Oid, LoadResult>> {
    this.assertOpen();
    const found = new Map<Oid, LoadResult>();
    const missing: Oid[] = [];
    for (const oid of oids) {
      checkU64(oid, 'oid');
      const cached = this.cache.load(oid);
      if (cached) found.set(oid, cached);
      else missing.push(oid);
    }
    if (missing.length === 0) return found;
    const tickets = missing.map((oid) => this.applier.beginLoad(oid));
    try {
      const { results } = await this.call<{ results: LoadManyEntry[] }>('loadMany', [missing]);
      results.forEach((entry, i) => {
        if ('error' in entry) {
          const error = decodeError(entry.error);
          if ((error as ZeoError).code !== 'ZEO_NOT_FOUND') throw error;
          return;
        }
        this.cacheCurrent(entry.oid, entry.tid, entry.data, tickets[i]!.isStale);
        found.set(entry.oid, { data: entry.data, tid: entry.tid });
      });
      // The server stops early to keep its reply under the frame limit; fetch the rest.
      for (const oid of missing.slice(results.length)) {
        try {
          found.set(oid, await this.load(oid));
        } catch (error) {
          if ((error as ZeoError).code !== 'ZEO_NOT_FOUND') throw error;
        }
      }
      return found;
    } finally {
      for (const ticket of tickets) this.applier.endLoad(ticket);
    }
  }

  /** The TID up to which every invalidation has been applied: the snapshot a new transaction reads. */
  async lastTransaction(): Promise<Tid> {
    this.assertOpen();
    return this.applier.lastTid;
  }

  /** Waits until this client has applied every invalidation up to `tid` (read-your-writes). */
  async sync(tid: Tid, timeoutMs = 5_000): Promise<void> {
    checkU64(tid, 'tid');
    if (this.applier.lastTid >= tid) return;
    void this.applier.catchUp().catch(() => undefined);
    await this.applier.waitFor(tid, timeoutMs);
  }

  async history(oid: Oid, limit?: number): Promise<HistoryEntry[]> {
    this.assertOpen();
    checkU64(oid, 'oid');
    if (limit !== undefined) checkCount(limit, 'limit', true);
    return this.call('history', [oid, limit ?? null]);
  }

  async *iterator(fromTid: Tid = 0n, toTid?: Tid): AsyncIterableIterator<TransactionRecord> {
    this.assertOpen();
    checkU64(fromTid, 'fromTid');
    if (toTid !== undefined) checkU64(toTid, 'toTid');
    let from = fromTid;
    for (;;) {
      const page = await this.call<TransactionRecord[]>('iterate', [from, toTid ?? null, 100]);
      if (page.length === 0) return;
      for (const txn of page) yield txn;
      from = page[page.length - 1]!.tid + 1n;
    }
  }

  async newOids(count = 1): Promise<Oid[]> {
    this.assertOpen();
    // A read-only server (a fallback, a replica) must not hand out OIDs the primary will reuse.
    if (this.isReadOnly) throw new ReadOnlyError(`storage ${JSON.stringify(this.name)}`);
    checkCount(count, 'count');
    return this.call('newOids', [count]);
  }

  async tpcBegin(meta: TransactionMeta = {}): Promise<StorageTransaction> {
    if (this.isClosed) throw new StorageClosedError(this.name);
    if (this.isReadOnly) throw new ReadOnlyError(`storage ${JSON.stringify(this.name)}`);
    return new ClientTransaction(
      {
        connected: () => {
          this.assertOpen();
          return this.link.connected();
        },
        lastTid: () => this.applier.lastTid,
        committed: (reply, stores) => this.committed(reply, stores),
        catchUpAfter: (error) => this.catchUpAfter(error),
        track: (settled) => this.track(settled),
      },
      meta,
    );
  }

  async commit(request: CommitRequest): Promise<CommitResult> {
    checkCommitRequest(request);
    if (this.isClosed) throw new StorageClosedError(this.name);
    if (this.isReadOnly) throw new ReadOnlyError(`storage ${JSON.stringify(this.name)}`);
    const wire = { stores: request.stores, readCurrent: request.readCurrent ?? [], meta: request.meta ?? {} };
    let reply: WireCommitResult;
    try {
      reply = await this.track(this.call<WireCommitResult>('commit', [wire, this.applier.lastTid], false));
    } catch (error) {
      await this.catchUpAfter(error);
      throw error;
    }
    const result = this.committed(reply, request.stores);
    if (this.applier.lastTid < result.tid) await this.sync(result.tid);
    return result;
  }

  /**
   * A ConflictError says the server holds commits this client has not applied: apply them (up
   * to the newest conflicting one) before the caller retries, or the retry begins at the same
   * stale snapshot and loses again, as long as no invalidation arrives. Best effort: a failure
   * to catch up leaves the conflict to be retried as it is.
   */
  private async catchUpAfter(error: unknown): Promise<void> {
    if (!isConflict(error) || this.isClosed) return;
    const newest = error.conflicts.reduce((tid, c) => (c.currentTid > tid ? c.currentTid : tid), 0n);
    await this.applier.catchUpTo(newest, CONFLICT_CATCH_UP_MS).catch(() => undefined);
  }

  /** Registers a write in progress; close() lets it settle before the connection goes. */
  private track<T>(write: Promise<T>): Promise<T> {
    this.writesInProgress.add(write);
    const forget = () => this.writesInProgress.delete(write);
    write.then(forget, forget);
    return write;
  }

  /** Applies what the commit reply says this client missed, then caches its own writes. */
  private committed(reply: WireCommitResult, stores: readonly StoreRequest[]): CommitResult {
    this.applier.receiveCommitReply(reply.tid, reply.invalidations);
    if (this.applier.lastTid === reply.tid) {
      for (const s of stores) this.cache.store(s.oid, reply.tid, null, s.data);
    }
    return { tid: reply.tid, invalidations: (reply.invalidations ?? []).filter((i) => i.tid < reply.tid) };
  }

  async pack(beforeTid: Tid): Promise<PackResult> {
    this.assertOpen();
    checkU64(beforeTid, 'beforeTid');
    const result = await this.call<PackResult>('pack', [beforeTid], false);
    // Cached old revisions may be gone on the server now; current ones would be fine, but the
    // cache cannot tell which objects pack removed, so it starts over (lastTid stays).
    this.cache.clear();
    return result;
  }

  onInvalidation(listener: InvalidationListener): () => void {
    return this.listeners.add(listener);
  }

  /**
   * Called when the caches were dropped because the invalidation history could not be followed
   * (the server's queue no longer reached back): whatever the listener cached is suspect too.
   */
  onCacheReset(listener: CacheResetListener): () => void {
    this.resetListeners.add(listener);
    return () => this.resetListeners.delete(listener);
  }

  /** The storage server's statistics (all storages it serves). */
  serverStats(): Promise<ServerStats> {
    return this.call('stats', []);
  }

  stats(): ClientStorageStats {
    const connection = this.link.connection;
    return {
      lastTid: this.applier.lastTid,
      isConnected: connection !== null,
      server: connection?.label ?? null,
      invalidationsApplied: this.applier.applied,
      cacheResets: this.applier.resets,
      cache: this.cache.stats,
    };
  }

  /**
   * New calls are refused at once; commits already sent and transactions already voted may
   * finish (up to CLOSE_GRACE_MS), then connections, timers and the disk cache are released.
   */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    this.isClosed = true;
    if (this.writesInProgress.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)));
      await Promise.race([Promise.allSettled([...this.writesInProgress]), grace]);
      clearTimeout(timer);
    }
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.link.close();
    this.applier.close(new StorageClosedError(this.name));
    await this.subscriber?.close();
    // A cache handed in belongs to the caller; one we opened (the disk file) is ours to close.
    const closable = this.cache as RevisionCache & { close?: () => Promise<void> | void };
    if (!this.options.cache) await closable.close?.();
  }
}
