// PostgresStorage: the Storage contract over a PostgreSQL schema, so several stateless storage
// servers (on several machines) can serve one database, and PostgreSQL's own replication gives
// redundancy. Tables: schema.ts; two-phase commit under a commit lock shared by
// every instance: transaction.ts; invalidations from every instance, in TID
// order: commit-feed.ts; pack in SQL: pack.ts.
//
// lastTransaction() is the last TID this instance has emitted to its invalidation listeners, not
// the database's newest: a reader's snapshot never runs ahead of the invalidations it has heard.

import pg from 'pg';
import { InvalidArgumentError, NotFoundError, ReadOnlyError, StorageClosedError, UnavailableError } from '../../errors.js';
import { processWarnings, toLogger, type LogTarget } from '../../log.js';
import type {
  CommitRequest,
  CommitResult,
  HistoryEntry,
  Invalidation,
  InvalidationListener,
  LoadBeforeResult,
  LoadResult,
  ObjectRecord,
  Oid,
  PackResult,
  Storage,
  StorageTransaction,
  Tid,
  TransactionMeta,
  TransactionRecord,
} from '../contract.js';
import { decodeMeta } from '../transaction-meta.js';
import { commitInTwoPhases } from '../buffered-transaction.js';
import { checkCount } from '../commit-checks.js';
import { InvalidationListeners } from '../invalidation-listeners.js';
import { CommitFeed } from './commit-feed.js';
import { packLocked } from './pack.js';
import {
  asStorageError,
  bigintTypes,
  channelOf,
  checkSchemaName,
  ensureSchema,
  MAX_I64,
  oidToDb,
  tidBoundToDb,
} from './schema.js';
import { PostgresTransaction, type CommitHost } from './transaction.js';
import { checkU64 } from '../tid.js';

export interface PostgresStorageOptions {
  /** postgres://user@host:port/database */
  connectionString: string;
  /** The PostgreSQL schema holding this database's tables (created if missing); default "zeo". */
  schema?: string;
  /** For logs and errors; default "postgres:<schema>". */
  name?: string;
  isReadOnly?: boolean;
  /** Connections for reads and commits (each vote holds one until finish); default 10. */
  poolSize?: number;
  /** How long close waits for voted transactions to finish before rolling them back. */
  closeTimeoutMs?: number;
  /**
   * A voted transaction left idle this long is rolled back by PostgreSQL itself, so an instance
   * that hangs between vote and finish cannot hold every instance's commit lock. Default 60 s.
   */
  voteTimeoutMs?: number;
  /** Where warnings go (a lost connection, a failed catch-up). Default: process warnings. */
  log?: LogTarget;
}

/** Transactions read per iterator query. */
const ITERATOR_BATCH = 100;

export class PostgresStorage implements Storage, CommitHost {
  readonly name: string;
  readonly isReadOnly: boolean;
  readonly schema: string;
  readonly channel: string;
  readonly voteTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly listeners = new InvalidationListeners();
  /** Transactions from vote until finished (and emitted) or aborted: close waits for them. */
  private readonly inProgress = new Map<PostgresTransaction, { settled: Promise<void>; settle: () => void }>();
  private feed!: CommitFeed;
  private isClosed = false;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly pool: pg.Pool,
    options: Required<Pick<PostgresStorageOptions, 'schema' | 'isReadOnly' | 'closeTimeoutMs' | 'voteTimeoutMs'>> & { name: string },
  ) {
    this.schema = options.schema;
    this.name = options.name;
    this.isReadOnly = options.isReadOnly;
    this.closeTimeoutMs = options.closeTimeoutMs;
    this.voteTimeoutMs = options.voteTimeoutMs;
    this.channel = channelOf(this.schema);
  }

  /** Connects, creates the tables if missing (unless read-only) and starts listening to commits. */
  static async open(options: PostgresStorageOptions): Promise<PostgresStorage> {
    if (!options || typeof options.connectionString !== 'string' || options.connectionString === '') {
      throw new InvalidArgumentError('connectionString', 'expected a postgres:// URL');
    }
    const schema = options.schema ?? 'zeo';
    checkSchemaName(schema);
    const poolSize = options.poolSize ?? 10;
    if (!Number.isSafeInteger(poolSize) || poolSize < 1) {
      throw new InvalidArgumentError('poolSize', `expected a whole number >= 1, got ${String(poolSize)}`);
    }
    const name = options.name ?? `postgres:${schema}`;
    const closeTimeoutMs = checkMs(options.closeTimeoutMs ?? 10_000, 'closeTimeoutMs');
    const voteTimeoutMs = checkMs(options.voteTimeoutMs ?? 60_000, 'voteTimeoutMs');
    const log = toLogger(options.log, 'postgres', () => processWarnings);
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: poolSize,
      types: bigintTypes,
      application_name: `zeo-ts ${name}`,
    });
    // An idle connection that drops is replaced on next use; it must not crash the process.
    pool.on('error', (error) => log.warn(`PostgreSQL storage ${name}: idle connection lost: ${String(error)}`, { storage: name }));
    const storage = new PostgresStorage(pool, {
      schema,
      name,
      isReadOnly: options.isReadOnly ?? false,
      closeTimeoutMs,
      voteTimeoutMs,
    });
    try {
      if (!storage.isReadOnly) {
        const client = await pool.connect();
        try {
          await ensureSchema(client, schema);
        } finally {
          client.release();
        }
      }
      storage.feed = await CommitFeed.start({
        connectionString: options.connectionString,
        schema,
        pool,
        listeners: storage.listeners,
        applicationName: `zeo-ts ${name} listen`,
        log,
      });
    } catch (error) {
      await pool.end().catch(() => undefined);
      if ((error as { code?: string }).code === '42P01') {
        throw new InvalidArgumentError('schema', `schema ${JSON.stringify(schema)} holds no zeo-ts database; ` +
          'open it once writable to create the tables');
      }
      throw new UnavailableError(`cannot open PostgreSQL storage ${name}: ${String(error)}`, { cause: error });
    }
    return storage;
  }

  private assertOpen(): void {
    if (this.isClosed) throw new StorageClosedError(this.name);
  }

  /** A pool query whose connection failures are UnavailableError. */
  private async query(text: string, params?: unknown[]): Promise<pg.QueryResult> {
    try {
      return await this.pool.query(text, params);
    } catch (error) {
      throw asStorageError(error, this.name);
    }
  }

  private get tables(): string {
    return `"${this.schema}"`;
  }

  async load(oid: Oid): Promise<LoadResult> {
    this.assertOpen();
    checkU64(oid, 'oid');
    const { rows } = await this.query(
      `SELECT tid, data FROM ${this.tables}.objects WHERE oid = $1 ORDER BY tid DESC LIMIT 1`, [oidToDb(oid)]);
    const row = rows[0] as { tid: bigint; data: Buffer } | undefined;
    if (!row) throw new NotFoundError(oid);
    return { data: new Uint8Array(row.data), tid: row.tid };
  }

  async loadBefore(oid: Oid, beforeTid: Tid): Promise<LoadBeforeResult | null> {
    this.assertOpen();
    checkU64(oid, 'oid');
    checkU64(beforeTid, 'beforeTid');
    const { rows } = await this.query(
      `SELECT o.tid, o.data,
         (SELECT min(n.tid) FROM ${this.tables}.objects n WHERE n.oid = o.oid AND n.tid > o.tid) AS end_tid,
         EXISTS (SELECT 1 FROM ${this.tables}.objects e WHERE e.oid = $1) AS does_exist
       FROM (SELECT 1) one
       LEFT JOIN LATERAL (SELECT * FROM ${this.tables}.objects
         WHERE oid = $1 AND tid < $2 ORDER BY tid DESC LIMIT 1) o ON true`,
      [oidToDb(oid), tidBoundToDb(beforeTid)]);
    const row = rows[0] as { tid: bigint | null; data: Buffer | null; end_tid: bigint | null; does_exist: boolean };
    if (row.tid === null) {
      if (!row.does_exist) throw new NotFoundError(oid);
      return null;
    }
    return { data: new Uint8Array(row.data!), start: row.tid, end: row.end_tid };
  }

  async lastTransaction(): Promise<Tid> {
    this.assertOpen();
    return this.feed.lastTid;
  }

  async history(oid: Oid, limit = Infinity): Promise<HistoryEntry[]> {
    this.assertOpen();
    checkU64(oid, 'oid');
    checkCount(limit, 'limit', true);
    // At least one row is read, so a limit of 0 still tells "no such object" from "no entries".
    const { rows } = await this.query(
      `SELECT tid, octet_length(data) AS size FROM ${this.tables}.objects WHERE oid = $1 ORDER BY tid DESC LIMIT $2`,
      [oidToDb(oid), limit === Infinity ? null : Math.max(limit, 1)]);
    if (rows.length === 0) throw new NotFoundError(oid);
    return (rows as { tid: bigint; size: number }[]).slice(0, limit).map((r) => ({ tid: r.tid, size: r.size }));
  }

  async *iterator(fromTid: Tid = 0n, toTid?: Tid): AsyncIterableIterator<TransactionRecord> {
    this.assertOpen();
    checkU64(fromTid, 'fromTid');
    if (toTid !== undefined) checkU64(toTid, 'toTid');
    const upTo = tidBoundToDb(toTid ?? (1n << 64n) - 1n);
    let from = fromTid;
    for (;;) {
      this.assertOpen();
      if (from > BigInt(upTo)) return;
      const { rows } = await this.query(
        `SELECT t.tid, t.meta, cardinality(t.oids) AS stored, o.oid, o.data, o.refs
         FROM (SELECT * FROM ${this.tables}.transactions WHERE tid >= $1 AND tid <= $2 ORDER BY tid LIMIT ${ITERATOR_BATCH}) t
         LEFT JOIN ${this.tables}.objects o ON o.tid = t.tid
         ORDER BY t.tid, o.oid`,
        [tidBoundToDb(from), upTo]);
      type Row = { tid: bigint; meta: Buffer; stored: number; oid: bigint | null; data: Buffer | null; refs: bigint[] | null };
      const batch: TransactionRecord[] = [];
      let transactionsRead = 0;
      for (const row of rows as Row[]) {
        let txn = batch.at(-1);
        if (txn?.tid !== row.tid) {
          transactionsRead++;
          from = row.tid + 1n;
          // A transaction whose records pack removed is no longer there to iterate.
          if (row.oid === null && row.stored > 0) continue;
          txn = { tid: row.tid, meta: decodeMeta(row.meta), records: [] };
          batch.push(txn);
        }
        if (row.oid !== null) {
          const record: ObjectRecord = { oid: row.oid, tid: row.tid, data: new Uint8Array(row.data!), refs: row.refs! };
          txn.records.push(record);
        }
      }
      yield* batch;
      if (transactionsRead < ITERATOR_BATCH) return;
    }
  }

  async newOids(count = 1): Promise<Oid[]> {
    this.assertOpen();
    if (this.isReadOnly) throw new ReadOnlyError(`storage ${JSON.stringify(this.name)}`);
    checkCount(count, 'count');
    if (count === 0) return [];
    const { rows } = await this.query(
      `UPDATE ${this.tables}.oid_counter SET next_oid = next_oid + $1 RETURNING (next_oid - $1)::text AS first`, [count]);
    const first = BigInt((rows[0] as { first: string }).first);
    if (first + BigInt(count) - 1n > MAX_I64) {
      throw new UnavailableError(`storage ${this.name} has handed out every OID up to 2^63 - 1, the most PostgreSQL can hold`);
    }
    return Array.from({ length: count }, (_, i) => first + BigInt(i));
  }

  async tpcBegin(meta: TransactionMeta = {}): Promise<StorageTransaction> {
    this.assertOpen();
    if (this.isReadOnly) throw new ReadOnlyError(`storage ${JSON.stringify(this.name)}`);
    return new PostgresTransaction(this, meta);
  }

  commit(request: CommitRequest): Promise<CommitResult> {
    return commitInTwoPhases(this, request);
  }

  async pack(beforeTid: Tid): Promise<PackResult> {
    this.assertOpen();
    checkU64(beforeTid, 'beforeTid');
    if (this.isReadOnly) throw new ReadOnlyError(`storage ${JSON.stringify(this.name)}`);
    const client = await this.pool.connect().catch((error: unknown) => {
      throw asStorageError(error, this.name);
    });
    let failure: unknown;
    // Between statements the connection is idle; a drop then must not crash the process.
    const onError = (error: unknown) => {
      failure ??= error;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      // The commit lock: no commit may add revisions while reachability is computed.
      await client.query(`SELECT last_tid FROM ${this.tables}.commit_state FOR UPDATE`);
      const result = await packLocked(client, this.schema, beforeTid);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      failure = error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw asStorageError(error, this.name);
    } finally {
      client.removeListener('error', onError);
      client.release(failure === undefined ? undefined : new Error('pack failed'));
    }
  }

  onInvalidation(listener: InvalidationListener): () => void {
    return this.listeners.add(listener);
  }

  /** Waits (bounded) for votes and voted transactions to finish, then releases every connection. */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    this.isClosed = true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.closeTimeoutMs);
    });
    await Promise.race([Promise.all([...this.inProgress.values()].map((entry) => entry.settled)), timeout]);
    clearTimeout(timer);
    await Promise.all([...this.inProgress.keys()].map((txn) => txn.forceAbort()));
    await this.feed.close();
    await this.pool.end();
  }

  /** @internal CommitHost */
  enterVote(transaction: PostgresTransaction): void {
    this.assertOpen();
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    this.inProgress.set(transaction, { settled, settle });
  }

  /** @internal CommitHost */
  leave(transaction: PostgresTransaction): void {
    this.inProgress.get(transaction)?.settle();
    this.inProgress.delete(transaction);
  }

  /** @internal CommitHost */
  emitOwn(invalidation: Invalidation): Promise<void> {
    return this.feed.emitOwn(invalidation);
  }
}

/**
 * Opens the PostgresStorage of a storage server's config section (storage.kind "postgres"):
 * `openPostgresStorage(config.storage)`. Structurally typed, so storage/ imports nothing above it.
 */
export function openPostgresStorage(settings: {
  name: string;
  postgresUrl: string | null;
  postgresSchema: string;
  isReadOnly?: boolean;
  log?: LogTarget;
}): Promise<PostgresStorage> {
  if (settings.postgresUrl === null) {
    throw new InvalidArgumentError('storage.postgresUrl', 'a postgres:// URL is needed for storage kind "postgres"');
  }
  return PostgresStorage.open({
    connectionString: settings.postgresUrl,
    schema: settings.postgresSchema,
    name: settings.name,
    isReadOnly: settings.isReadOnly ?? false,
    log: settings.log,
  });
}

/** A duration in whole milliseconds, at least 1. */
function checkMs(ms: number, argument: string): number {
  if (!Number.isSafeInteger(ms) || ms < 1) {
    throw new InvalidArgumentError(argument, `expected a whole number of milliseconds >= 1, got ${String(ms)}`);
  }
  return ms;
}

/** A count argument: a whole number >= 0; a limit may also be Infinity ("no limit"). */
