// The client's side of the Redis fan-out: receives invalidations and reports every
// (re)subscription, so its owner can fill the gap from the storage server.

import { Redis } from 'ioredis';
import { InvalidArgumentError } from '../../errors.js';
import type { Invalidation } from '../contract.js';
import { toLogger, type Logger, type LogTarget } from '../../log.js';
import { closeClient, connectionOptions, redactRedisUrl } from './connection.js';
import { decodeInvalidation } from './messages.js';

export interface RedisInvalidationSubscriberOptions {
  url: string;
  channel: string;
  /** Called for every well-formed message, in the order Redis delivers them. */
  onInvalidation: (invalidation: Invalidation) => void;
  /**
   * Called with true once subscribed (first time and after every reconnect), false when the
   * connection is lost. After true, the owner must ask the storage server for what it missed.
   */
  onConnectionChange?: (isConnected: boolean) => void;
  log?: LogTarget;
  /**
   * Every this many ms the subscriber pings Redis; no answer within as long means the link is
   * dead (a stalled network raises no error by itself), so it reconnects. Default 5000.
   */
  healthCheckMs?: number;
}

/** Receives invalidations; reconnects and resubscribes by itself until closed. */
export class RedisInvalidationSubscriber {
  private readonly redis: Redis;
  private readonly options: RedisInvalidationSubscriberOptions;
  private readonly log: Logger;
  private readonly where: string;
  private isSubscribed = false;
  private isInOutage = false;
  private isClosed = false;
  private isPinging = false;
  private readonly healthTimer: NodeJS.Timeout;

  constructor(options: RedisInvalidationSubscriberOptions) {
    if (typeof options?.url !== 'string' || options.url === '') {
      throw new InvalidArgumentError('url', 'expected a redis:// URL');
    }
    if (typeof options.channel !== 'string' || options.channel === '') {
      throw new InvalidArgumentError('channel', 'expected a non-empty channel name');
    }
    if (typeof options.onInvalidation !== 'function') {
      throw new InvalidArgumentError('onInvalidation', 'expected a function');
    }
    const { healthCheckMs = 5000 } = options;
    if (!Number.isSafeInteger(healthCheckMs) || healthCheckMs < 1) {
      throw new InvalidArgumentError('healthCheckMs', `expected a whole number of ms >= 1, got ${healthCheckMs}`);
    }
    this.options = options;
    this.log = toLogger(options.log, 'redis');
    this.where = redactRedisUrl(options.url);
    this.redis = new Redis(options.url, {
      // We subscribe ourselves on every 'ready' so that "connected" is reported only once the
      // subscription is in place: a gap filled before that could miss a message.
      autoResubscribe: false,
      enableOfflineQueue: false,
      commandTimeout: healthCheckMs,
      ...connectionOptions,
    });
    this.healthTimer = setInterval(() => void this.checkHealth(), healthCheckMs);
    this.healthTimer.unref();
    this.redis.on('ready', () => void this.subscribe());
    this.redis.on('messageBuffer', (channel: Buffer, message: Buffer) => this.receive(channel, message));
    this.redis.on('error', (error: Error) => this.noteOutage(error.message));
    this.redis.on('close', () => this.noteOutage('connection closed'));
  }

  /** True while subscribed: messages published now will arrive. */
  get isConnected(): boolean {
    return this.isSubscribed;
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    clearInterval(this.healthTimer);
    await closeClient(this.redis);
  }

  private async checkHealth(): Promise<void> {
    if (!this.isSubscribed || this.isPinging) return;
    this.isPinging = true;
    try {
      await this.redis.ping();
    } catch (error) {
      if (!this.isClosed && this.isSubscribed) {
        this.noteOutage(`no answer to PING: ${(error as Error).message}`);
        this.redis.disconnect(true);
      }
    } finally {
      this.isPinging = false;
    }
  }

  private async subscribe(): Promise<void> {
    try {
      await this.redis.subscribe(this.options.channel);
    } catch (error) {
      if (this.isClosed) return;
      this.log.warn(`subscribing to ${this.options.channel} failed (${String(error)}); reconnecting`, { channel: this.options.channel });
      this.redis.disconnect(true);
      return;
    }
    if (this.isClosed || this.isSubscribed) return;
    this.isSubscribed = true;
    if (this.isInOutage) {
      this.isInOutage = false;
      this.log.info(`redis back at ${this.where}: subscribed to ${this.options.channel} again`, { redis: this.where, channel: this.options.channel });
    }
    this.notify(true);
  }

  private receive(channel: Buffer, message: Buffer): void {
    if (this.isClosed || channel.toString() !== this.options.channel) return;
    const invalidation = decodeInvalidation(message);
    if (!invalidation) {
      this.log.warn(`ignoring a malformed message on ${this.options.channel}`, { channel: this.options.channel });
      return;
    }
    try {
      this.options.onInvalidation(invalidation);
    } catch (error) {
      this.log.error(`the invalidation handler failed: ${String(error)}`, { channel: this.options.channel });
    }
  }

  private noteOutage(reason: string): void {
    if (this.isClosed) return;
    if (this.isSubscribed) {
      this.isSubscribed = false;
      this.notify(false);
    }
    if (this.isInOutage) return;
    this.isInOutage = true;
    this.log.warn(`redis down at ${this.where} (${reason}): invalidations will come from the storage server`, { redis: this.where, channel: this.options.channel });
  }

  private notify(isConnected: boolean): void {
    try {
      this.options.onConnectionChange?.(isConnected);
    } catch (error) {
      this.log.error(`the connection-change handler failed: ${String(error)}`, { channel: this.options.channel });
    }
  }
}
