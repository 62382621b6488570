// The server side of invalidations for one served storage: listens to the storage's commits,
// keeps them in the bounded InvalidationQueue (for invalidationsSince and commit replies), and
// fans each one out: pushed on every connection that asked for push, and published on Redis
// when Redis is configured. Redis is only the fast path: while it is down commits go on, and
// when it comes back the last invalidation is published again so that subscribers see a
// prevTid gap and fill it from the server (clients also poll while their own Redis link is down).
// A publish can also be lost without the link looking down (written to a socket that just
// died), so each invalidation is announced once more about a second later: a subscriber that
// has it ignores the repeat (tid <= its lastTid), one that missed it sees the gap.

import type { Invalidation, Storage, Tid } from '../contract.js';
import { InvalidationQueue } from '../invalidation-queue.js';
import { RedisInvalidationPublisher, invalidationChannel, type LogFunction } from '../redis-invalidations.js';

export interface InvalidationHubOptions {
  queue: { maxCount: number; maxAgeMs: number };
  redis: { url: string; prefix: string } | null;
  log: LogFunction;
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

  private constructor(name: string, storage: Storage, startTid: Tid, options: InvalidationHubOptions) {
    this.lastTid = startTid;
    this.queue = new InvalidationQueue({ ...options.queue, startTid });
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
    return new InvalidationHub(name, storage, await storage.lastTransaction(), options);
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
