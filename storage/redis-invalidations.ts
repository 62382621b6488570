// Invalidation fan-out over Redis pub/sub: the storage server publishes every committed
// transaction's {tid, prevTid, oids}; every app server subscribes. Redis is only the fast path:
// correctness never depends on it. A publisher drops messages while Redis is down (a commit is
// never blocked or failed by Redis), and a subscriber reports every (re)connection so its owner
// can fill the gap from the storage server (invalidationsSince); prevTid chaining catches the rest.
//
// Wire format: one pub/sub message per transaction, the msgpack (msgpackr) encoding of the map
// { tid, prevTid, oids } with every TID/OID a 64-bit unsigned integer (uint64, decoded as bigint).
// The channel is invalidationChannel(prefix, storageName), e.g. "zeo:invalidations:main".

import { Redis } from 'ioredis';
import { Packr } from 'msgpackr';
import { InvalidArgumentError } from '../errors.js';
import type { Invalidation, Oid } from './contract.js';
import { checkU64 } from './tid.js';

export type LogFunction = (message: string) => void;

/** The Redis channel carrying the invalidations of one storage. */
export function invalidationChannel(prefix: string, storageName: string): string {
  if (typeof prefix !== 'string') throw new InvalidArgumentError('prefix', 'expected a string');
  if (typeof storageName !== 'string' || storageName === '') {
    throw new InvalidArgumentError('storageName', 'expected a non-empty string');
  }
  return `${prefix}invalidations:${storageName}`;
}

const packr = new Packr({ useRecords: false, int64AsType: 'bigint' });

/** Encodes an invalidation for the wire; throws InvalidArgumentError on a malformed one. */
export function encodeInvalidation(invalidation: Invalidation): Buffer {
  checkU64(invalidation?.tid, 'invalidation.tid');
  checkU64(invalidation.prevTid, 'invalidation.prevTid');
  if (!Array.isArray(invalidation.oids)) {
    throw new InvalidArgumentError('invalidation.oids', 'expected an array of OIDs');
  }
  for (const oid of invalidation.oids) checkU64(oid, 'invalidation.oids[]');
  // msgpackr writes every bigint as a 64-bit integer (uint64 at 2^63 and above), so any TID
  // survives; int64AsType 'bigint' reads them back as bigints.
  return packr.pack({
    tid: invalidation.tid,
    prevTid: invalidation.prevTid,
    oids: invalidation.oids,
  });
}

/** Decodes a message from the wire; null for anything that is not a well-formed invalidation. */
export function decodeInvalidation(message: Uint8Array): Invalidation | null {
  let value: unknown;
  try {
    value = packr.unpack(message);
  } catch {
    return null;
  }
  const { tid, prevTid, oids } = (value ?? {}) as Record<string, unknown>;
  const asU64 = (n: unknown): bigint | undefined => {
    const big = typeof n === 'number' && Number.isSafeInteger(n) ? BigInt(n) : n;
    return typeof big === 'bigint' && big >= 0n && big < 1n << 64n ? big : undefined;
  };
  const decodedTid = asU64(tid);
  const decodedPrevTid = asU64(prevTid);
  if (decodedTid === undefined || decodedPrevTid === undefined || !Array.isArray(oids)) return null;
  const decodedOids: Oid[] = [];
  for (const oid of oids) {
    const decoded = asU64(oid);
    if (decoded === undefined) return null;
    decodedOids.push(decoded);
  }
  return { tid: decodedTid, prevTid: decodedPrevTid, oids: decodedOids };
}

/** A Redis URL with its password masked, for logs and status pages. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable redis url)';
  }
}

const connectionOptions = {
  /** Reconnect quickly at first, then every 2 s: an outage should end as soon as Redis is back. */
  retryStrategy: (times: number) => Math.min(50 * 2 ** times, 2000),
  connectTimeout: 5000,
  maxRetriesPerRequest: 0,
  // ioredis arms this timer on every disconnect, even of a socket already closed (between
  // reconnect attempts), where nothing clears it: keep it short so a closed client does not
  // hold the process open.
  disconnectTimeout: 200,
};

const defaultLog: LogFunction = (message) => console.error(message);

/** Resolves once the client holds no socket and no reconnect timer (after quit or disconnect). */
async function closeClient(redis: Redis): Promise<void> {
  const isEnded = () => redis.status === 'end';
  const hasSocket = () => ['connecting', 'connect', 'ready'].includes(redis.status);
  if (!hasSocket()) {
    // Between attempts (or never started): disconnect only clears the reconnect timer, and no
    // 'end' event follows, so there is nothing to wait for.
    redis.disconnect(false);
    return;
  }
  const ended = new Promise<void>((resolve) => redis.once('end', () => resolve()));
  if (redis.status === 'ready') {
    // QUIT lets messages already written reach Redis; disconnect is the fallback.
    await redis.quit().catch(() => undefined);
    if (isEnded()) return;
  }
  const isStillOpen = hasSocket();
  redis.disconnect(false);
  if (isStillOpen) await ended;
}

export interface RedisInvalidationPublisherOptions {
  /** redis://[user:password@]host:port[/db] */
  url: string;
  channel: string;
  log?: LogFunction;
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
  private readonly log: LogFunction;
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
    this.log = options.log ?? defaultLog;
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
      this.log(`redis publisher: not publishing a malformed invalidation: ${String(error)}`);
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
    this.log(
      `redis down at ${this.where} (${reason}): dropping invalidations until it is back; ` +
        'clients catch up from the storage server',
    );
  }

  private noteHealthy(): void {
    if (this.isClosed || !this.isInOutage) return;
    this.isInOutage = false;
    this.log(`redis back at ${this.where} (${this.droppedCount} invalidations were dropped meanwhile)`);
    this.droppedCount = 0;
  }
}

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
  log?: LogFunction;
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
  private readonly log: LogFunction;
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
    this.log = options.log ?? defaultLog;
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
      this.log(`redis subscriber: subscribing to ${this.options.channel} failed (${String(error)}); reconnecting`);
      this.redis.disconnect(true);
      return;
    }
    if (this.isClosed || this.isSubscribed) return;
    this.isSubscribed = true;
    if (this.isInOutage) {
      this.isInOutage = false;
      this.log(`redis back at ${this.where}: subscribed to ${this.options.channel} again`);
    }
    this.notify(true);
  }

  private receive(channel: Buffer, message: Buffer): void {
    if (this.isClosed || channel.toString() !== this.options.channel) return;
    const invalidation = decodeInvalidation(message);
    if (!invalidation) {
      this.log(`redis subscriber: ignoring a malformed message on ${this.options.channel}`);
      return;
    }
    try {
      this.options.onInvalidation(invalidation);
    } catch (error) {
      this.log(`redis subscriber: the invalidation handler failed: ${String(error)}`);
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
    this.log(`redis down at ${this.where} (${reason}): invalidations will come from the storage server`);
  }

  private notify(isConnected: boolean): void {
    try {
      this.options.onConnectionChange?.(isConnected);
    } catch (error) {
      this.log(`redis subscriber: the connection-change handler failed: ${String(error)}`);
    }
  }
}
