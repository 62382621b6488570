// The storage server's side of the Redis fan-out: publishes every committed transaction's
// invalidation, never blocking or failing a commit (while Redis is down, messages are dropped
// and clients catch up from the storage server).

import { Redis } from 'ioredis';
import { InvalidArgumentError } from '../../errors.js';
import type { Invalidation } from '../contract.js';
import { toLogger, type Logger, type LogTarget } from '../../log.js';
import { closeClient, connectionOptions, redactRedisUrl } from './connection.js';
import { encodeInvalidation } from './messages.js';

export interface RedisInvalidationPublisherOptions {
  /** redis://[user:password@]host:port[/db] */
  url: string;
  channel: string;
  log?: LogTarget;
  /**
   * A publish Redis has not acknowledged after this long counts as dropped, and Redis as down
   * (it is connected but not answering). Default 5000.
   */
  publishTimeoutMs?: number;
}

/** Publishes awaiting Redis's answer, at most; beyond that, messages are dropped. */
const MAX_PENDING_PUBLISHES = 1000;

/** Publishes invalidations; never throws, never waits for Redis. */
export class RedisInvalidationPublisher {
  private readonly redis: Redis;
  private readonly channel: string;
  private readonly log: Logger;
  private readonly where: string;
  /** True from the first sign of an outage (logged once) until Redis answers again. */
  private isInOutage = false;
  private droppedCount = 0;
  private pendingCount = 0;
  private isClosed = false;

  constructor(options: RedisInvalidationPublisherOptions) {
    if (typeof options?.url !== 'string' || options.url === '') {
      throw new InvalidArgumentError('url', 'expected a redis:// URL');
    }
    if (typeof options.channel !== 'string' || options.channel === '') {
      throw new InvalidArgumentError('channel', 'expected a non-empty channel name');
    }
    const { publishTimeoutMs = 5000 } = options;
    if (!Number.isSafeInteger(publishTimeoutMs) || publishTimeoutMs < 1) {
      throw new InvalidArgumentError('publishTimeoutMs', `expected a whole number of ms >= 1, got ${publishTimeoutMs}`);
    }
    this.channel = options.channel;
    this.log = toLogger(options.log, 'redis');
    this.where = redactRedisUrl(options.url);
    this.redis = new Redis(options.url, {
      // While disconnected, commands fail at once instead of queueing: a stale invalidation
      // delivered after a reconnect is worthless, the storage server has it anyway.
      enableOfflineQueue: false,
      commandTimeout: publishTimeoutMs,
      ...connectionOptions,
    });
    this.redis.on('ready', () => this.noteHealthy());
    this.redis.on('error', (error: Error) => this.noteOutage(error.message));
    this.redis.on('close', () => this.noteOutage('connection closed'));
  }

  /** True while publishes reach Redis: connected, and not in an outage. */
  get isConnected(): boolean {
    return this.redis.status === 'ready' && !this.isInOutage;
  }

  /** Sends the invalidation to every subscriber, or drops it if Redis is unreachable. */
  publish(invalidation: Invalidation): void {
    if (this.isClosed) return;
    let payload: Buffer;
    try {
      payload = encodeInvalidation(invalidation);
    } catch (error) {
      this.log.error(`not publishing a malformed invalidation: ${String(error)}`, { channel: this.channel });
      return;
    }
    if (this.redis.status !== 'ready') {
      this.drop('not connected');
      return;
    }
    // Still connected but perhaps not answering: keep trying (the first answer ends the outage),
    // but never let unanswered messages pile up.
    if (this.pendingCount >= MAX_PENDING_PUBLISHES) {
      this.drop(`${this.pendingCount} publishes unanswered`);
      return;
    }
    this.pendingCount++;
    this.redis.publish(this.channel, payload).then(
      () => {
        this.pendingCount--;
        this.noteHealthy();
      },
      (error: Error) => {
        this.pendingCount--;
        this.drop(error.message);
      },
    );
  }

  /** Stops publishing and closes the connection. Idempotent. */
  async close(): Promise<void> {
    this.isClosed = true;
    await closeClient(this.redis);
  }

  private drop(reason: string): void {
    this.droppedCount++;
    this.noteOutage(reason);
  }

  private noteOutage(reason: string): void {
    if (this.isClosed || this.isInOutage) return;
    this.isInOutage = true;
    this.log.warn(
      `redis down at ${this.where} (${reason}): dropping invalidations until it is back; ` +
        'clients catch up from the storage server',
      { redis: this.where, channel: this.channel },
    );
  }

  private noteHealthy(): void {
    if (this.isClosed || !this.isInOutage) return;
    this.isInOutage = false;
    this.log.info(`redis back at ${this.where} (${this.droppedCount} invalidations were dropped meanwhile)`, {
      redis: this.where, channel: this.channel, dropped: this.droppedCount,
    });
    this.droppedCount = 0;
  }
}
