// The PostgreSQL storage's invalidation feed: every commit on the schema, from any instance,
// reaches this instance's onInvalidation listeners exactly once and in TID order.
//
// A commit NOTIFYs the schema's channel with its TID inside the committing PostgreSQL
// transaction, so the message is sent only if the commit is. The payload is only a hint: on it,
// the feed reads the `transactions` rows after the last TID it emitted, in TID order, and emits
// them. The table is the truth, so a lost or coalesced NOTIFY costs nothing as long as another
// one (or a reconnect) follows. A dedicated connection LISTENs; when it drops, the feed
// reconnects with backoff and catches up from the table. The instance's own commits are emitted
// right after COMMIT (without a query when nothing came between) and their NOTIFY, when it comes
// back, finds nothing new.

import pg from 'pg';
import type { Invalidation, Tid } from '../contract.js';
import type { Logger } from '../../log.js';
import type { InvalidationListeners } from '../invalidation-listeners.js';
import { bigintTypes, channelOf } from './schema.js';

export interface CommitFeedOptions {
  connectionString: string;
  schema: string;
  /** The storage's pool, for catch-up reads. */
  pool: pg.Pool;
  listeners: InvalidationListeners;
  /** application_name of the LISTEN connection (seen in pg_stat_activity). */
  applicationName: string;
  log: Logger;
}

/** Rows read per catch-up query; a long gap takes several. */
const CATCH_UP_BATCH = 1000;
const MIN_RECONNECT_MS = 100;
const MAX_RECONNECT_MS = 5000;

export class CommitFeed {
  private lastEmitted: Tid = 0n;
  /** Emission jobs run one at a time, so invalidations leave in order. */
  private queue: Promise<void> = Promise.resolve();
  private isCatchUpQueued = false;
  private listenClient: pg.Client | undefined;
  private reconnectDelayMs = MIN_RECONNECT_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** A reconnect in progress, awaited by close so no connection outlives the storage. */
  private reconnecting: Promise<void> | undefined;
  private isClosed = false;
  private readonly channel: string;

  private constructor(private readonly options: CommitFeedOptions) {
    this.channel = channelOf(options.schema);
  }

  /** LISTENs first, then reads the last TID, so no commit falls between the two. */
  static async start(options: CommitFeedOptions): Promise<CommitFeed> {
    const feed = new CommitFeed(options);
    await feed.listen();
    try {
      const { rows } = await options.pool.query(`SELECT last_tid FROM "${options.schema}".commit_state`);
      feed.lastEmitted = (rows[0] as { last_tid: bigint }).last_tid;
    } catch (error) {
      await feed.close();
      throw error;
    }
    return feed;
  }

  /** The TID of the last invalidation emitted: the snapshot this instance's readers are at. */
  get lastTid(): Tid {
    return this.lastEmitted;
  }

  /**
   * Emits a commit of this instance once it is durable; earlier commits of other instances not
   * yet emitted are read and emitted first. Resolves when the commit has been emitted.
   */
  emitOwn(invalidation: Invalidation): Promise<void> {
    return this.enqueue(async () => {
      if (invalidation.tid <= this.lastEmitted) return;
      if (invalidation.prevTid === this.lastEmitted) this.emit(invalidation);
      else await this.readSince();
    }).catch((error: unknown) => this.retryLater(error));
  }

  /** Reads and emits whatever was committed after the last emitted TID (coalesced). */
  requestCatchUp(): void {
    if (this.isCatchUpQueued || this.isClosed) return;
    this.isCatchUpQueued = true;
    this.enqueue(async () => {
      this.isCatchUpQueued = false;
      await this.readSince();
    }).catch((error: unknown) => this.retryLater(error));
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.reconnectTimer);
    await this.reconnecting;
    await this.queue;
    const client = this.listenClient;
    this.listenClient = undefined;
    await client?.end().catch(() => undefined);
  }

  private enqueue(job: () => Promise<void>): Promise<void> {
    const run = this.queue.then(() => (this.isClosed ? undefined : job()));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private emit(invalidation: Invalidation): void {
    this.lastEmitted = invalidation.tid;
    this.options.listeners.emit(invalidation);
  }

  private async readSince(): Promise<void> {
    for (;;) {
      const { rows } = await this.options.pool.query(
        `SELECT tid, prev_tid, oids FROM "${this.options.schema}".transactions
         WHERE tid > $1 ORDER BY tid LIMIT ${CATCH_UP_BATCH}`,
        [this.lastEmitted.toString()],
      );
      for (const row of rows as { tid: bigint; prev_tid: bigint; oids: bigint[] }[]) {
        if (this.isClosed) return;
        this.emit({ tid: row.tid, prevTid: row.prev_tid, oids: row.oids });
      }
      if (rows.length < CATCH_UP_BATCH) return;
    }
  }

  /** A failed catch-up (the database is away) is tried again until it works or we close. */
  private retryLater(error: unknown): void {
    if (this.isClosed) return;
    this.options.log.warn(`PostgreSQL storage ${this.options.schema}: catching up with commits failed, retrying: ${String(error)}`, { schema: this.options.schema });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.requestCatchUp(), this.reconnectDelayMs);
    this.retryTimer.unref();
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      types: bigintTypes,
      application_name: this.options.applicationName,
    });
    let hasDropped = false;
    const onDrop = (error?: unknown) => {
      if (hasDropped) return;
      hasDropped = true;
      if (this.listenClient === client) this.listenClient = undefined;
      client.end().catch(() => undefined);
      if (this.isClosed) return;
      if (error) this.options.log.warn(`PostgreSQL storage ${this.options.schema}: LISTEN connection lost (${String(error)}), reconnecting`, { schema: this.options.schema });
      this.scheduleReconnect();
    };
    client.on('error', onDrop);
    client.on('end', () => onDrop());
    client.on('notification', (message) => {
      if (message.channel !== this.channel) return;
      if (/^\d+$/.test(message.payload ?? '') && BigInt(message.payload!) <= this.lastEmitted) return;
      this.requestCatchUp();
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (error) {
      hasDropped = true;
      await client.end().catch(() => undefined);
      throw error;
    }
    this.listenClient = client;
    this.reconnectDelayMs = MIN_RECONNECT_MS;
  }

  private scheduleReconnect(): void {
    if (this.isClosed) return;
    const delay = this.reconnectDelayMs;
    this.reconnectDelayMs = Math.min(delay * 2, MAX_RECONNECT_MS);
    this.reconnectTimer = setTimeout(() => {
      if (this.isClosed) return;
      this.reconnecting = this.listen().then(
        async () => {
          // What was committed while nobody listened is in the table.
          if (this.isClosed) await this.listenClient?.end().catch(() => undefined);
          else this.requestCatchUp();
        },
        () => this.scheduleReconnect(),
      ).finally(() => {
        this.reconnecting = undefined;
      });
    }, delay);
    this.reconnectTimer.unref();
  }
}
