// The server side of invalidations for one served storage: listens to the storage's commits,
// keeps them in the bounded InvalidationQueue (for invalidationsSince and commit replies), and
// fans each one out: pushed on every connection that asked for push, and published on Redis
// when Redis is configured. Redis is only the fast path: while it is down commits go on, and
// when it comes back the last invalidation is published again so that subscribers see a
// prevTid gap and fill it from the server (clients also poll while their own Redis link is down).
// A publish can also be lost without the link looking down (written to a socket that just
// died), so each invalidation is announced once more about a second later: a subscriber that
// has it ignores the repeat (tid <= its lastTid), one that missed it sees the gap.
//
// A new server process starts its queue from the storage's own recent history (the iterator,
// the last `prefillMs`), so that clients that missed the last commits before a crash or restart
// catch up from the queue instead of dropping their caches.

import type { Invalidation, Storage, Tid } from '../contract.js';
import type { Logger } from '../../log.js';
import { InvalidationQueue } from './invalidation-queue.js';
import { tidFromDate } from '../tid.js';
import { invalidationChannel } from '../redis/messages.js';
import { RedisInvalidationPublisher } from '../redis/publisher.js';

export interface InvalidationHubOptions {
  queue: { maxCount: number; maxAgeMs: number };
  /** How far back the storage's history is read into the queue at start; 0 = not at all. */
  prefillMs: number;
  redis: { url: string; prefix: string } | null;
  log: Logger;
}

export type PushTarget = (invalidation: Invalidation) => void;

export class InvalidationHub {
  readonly queue: InvalidationQueue;
  private readonly targets = new Set<PushTarget>();
  private readonly publisher: RedisInvalidationPublisher | null;
  private readonly stopListening: () => void;
  private lastInvalidation: Invalidation | null = null;
  private lastPublishedAt = 0;
  private isLastRepeated = true;
  private wasDisconnected = false;
  private readonly republishTimer: NodeJS.Timeout | null;
  lastTid: Tid;

  private constructor(name: string, storage: Storage, history: Invalidation[], lastTid: Tid, options: InvalidationHubOptions) {
    this.lastTid = lastTid;
    // The queue starts at the oldest transaction read back (its predecessor is unknown).
    this.queue = new InvalidationQueue({ ...options.queue, startTid: history[0]?.tid ?? lastTid });
    for (const invalidation of history.slice(1)) this.queue.push(invalidation);
    this.publisher = options.redis
      ? new RedisInvalidationPublisher({
          url: options.redis.url,
          channel: invalidationChannel(options.redis.prefix, name),
          log: options.log,
        })
      : null;
    this.republishTimer = this.publisher ? setInterval(() => this.republishIfNeeded(), 250) : null;
    this.republishTimer?.unref();
    this.stopListening = storage.onInvalidation((invalidation) => this.receive(invalidation));
  }

  /** The hub of `storage` served as `name`, starting from its current last TID. */
  static async create(name: string, storage: Storage, options: InvalidationHubOptions): Promise<InvalidationHub> {
    const lastTid = await storage.lastTransaction();
    const history = options.prefillMs > 0 ? await recentHistory(storage, lastTid, options) : [];
    return new InvalidationHub(name, storage, history, lastTid, options);
  }

  get mode(): 'redis' | 'push' {
    return this.publisher ? 'redis' : 'push';
  }

  /** Registers a connection that wants invalidations pushed; returns the unsubscribe. */
  addPushTarget(target: PushTarget): () => void {
    this.targets.add(target);
    return () => this.targets.delete(target);
  }

  since(tid: Tid): Invalidation[] | null {
    return this.queue.since(tid);
  }

  /** What a committer at `clientTid` missed, up to and including its own `tid`. */
  commitReply(clientTid: Tid, tid: Tid): Invalidation[] | null {
    const missed = this.queue.since(clientTid);
    return missed === null ? null : missed.filter((i) => i.tid <= tid);
  }

  private receive(invalidation: Invalidation): void {
    this.queue.push(invalidation);
    this.lastTid = invalidation.tid;
    this.lastInvalidation = invalidation;
    for (const target of this.targets) target(invalidation);
    if (this.publisher) {
      this.publisher.publish(invalidation);
      this.lastPublishedAt = Date.now();
      this.isLastRepeated = false;
    }
  }

  /** Publishes the last invalidation again after an outage, and once a second after a commit. */
  private republishIfNeeded(): void {
    const publisher = this.publisher!;
    if (!publisher.isConnected) {
      this.wasDisconnected = true;
      return;
    }
    const isRepeatDue = !this.isLastRepeated && Date.now() - this.lastPublishedAt >= 1000;
    if (!this.lastInvalidation || !(this.wasDisconnected || isRepeatDue)) return;
    this.wasDisconnected = false;
    this.isLastRepeated = true;
    publisher.publish(this.lastInvalidation);
  }

  async close(): Promise<void> {
    this.stopListening();
    this.targets.clear();
    if (this.republishTimer) clearInterval(this.republishTimer);
    await this.publisher?.close();
  }
}

/**
 * The invalidations of the transactions committed in the last `prefillMs` (at most the queue's
 * maxCount, the newest), oldest first, chained by prevTid. A storage whose history cannot be
 * read this way (an iterator that fails) simply starts with an empty queue.
 */
async function recentHistory(storage: Storage, lastTid: Tid, options: InvalidationHubOptions): Promise<Invalidation[]> {
  const history: Invalidation[] = [];
  try {
    const from = tidFromDate(Date.now() - Math.min(options.prefillMs, options.queue.maxAgeMs));
    let prevTid: Tid | null = null;
    for await (const txn of storage.iterator(from, lastTid)) {
      history.push({ tid: txn.tid, prevTid: prevTid ?? 0n, oids: txn.records.map((r) => r.oid) });
      prevTid = txn.tid;
      if (history.length > options.queue.maxCount) history.shift();
    }
  } catch (error) {
    options.log.warn(`could not read recent history into the invalidation queue (${String(error)}); starting it empty`);
    return [];
  }
  // Only a history that reaches the storage's last TID can answer for it.
  return history.length > 0 && history[history.length - 1]!.tid === lastTid ? history : [];
}
