// Two-phase commit of the PostgreSQL storage. A vote opens a PostgreSQL transaction on a
// connection of its own and keeps it until finish (COMMIT) or abort (ROLLBACK):
//
//   BEGIN
//   SELECT last_tid FROM commit_state FOR UPDATE   -- the commit lock, shared by every instance
//   current TIDs of the stored and must-be-current objects -> ConflictError, or go on
//   one statement: insert revisions + transaction row, last_tid := tid, raise next_oid,
//                  pg_notify(channel, tid)          -- sent by PostgreSQL only at COMMIT
//
// The lock is taken before the conflict check, and in READ COMMITTED the check then sees every
// commit made before the lock was granted, so no instance can base a commit on a stale read.
// finish is COMMIT: durable before anyone can see it; then the commit is emitted locally.

import type pg from 'pg';
import { TransactionStateError, UnavailableError } from '../../errors.js';
import type { CommitResult, Invalidation, Oid, Tid, TransactionMeta } from '../contract.js';
import { encodeMeta } from '../transaction-meta.js';
import { BufferedTransaction } from '../buffered-transaction.js';
import { checkConflicts } from '../commit-checks.js';
import { asStorageError, oidToDb, refsToDb } from './schema.js';
import { nextTid, toHex } from '../tid.js';

/** What a transaction needs from its storage. */
export interface CommitHost {
  readonly name: string;
  readonly schema: string;
  readonly channel: string;
  readonly pool: pg.Pool;
  /** PostgreSQL ends a voted transaction left idle this long (a hung instance frees the lock). */
  readonly voteTimeoutMs: number;
  /** Throws StorageClosedError once close has begun; otherwise counts the vote as in progress. */
  enterVote(transaction: PostgresTransaction): void;
  /** The transaction holds no connection any more (finished, aborted or failed). */
  leave(transaction: PostgresTransaction): void;
  emitOwn(invalidation: Invalidation): Promise<void>;
}

export class PostgresTransaction extends BufferedTransaction {
  private client: pg.PoolClient | undefined;
  private pending: Invalidation | undefined;
  /** Set when the connection fails while idle between vote and finish. */
  private connectionError: unknown;
  private readonly onConnectionError = (error: unknown) => {
    this.connectionError ??= error;
  };

  constructor(
    private readonly host: CommitHost,
    private readonly meta: TransactionMeta,
  ) {
    super();
  }

  async vote(): Promise<void> {
    this.expect('open', 'vote');
    this.phase = 'voting';
    try {
      this.host.enterVote(this);
      const stores = this.storeList();
      // Refused before any connection is taken: an OID PostgreSQL cannot hold.
      const oids = stores.map((s) => oidToDb(s.oid));
      const refs = stores.map((s) => refsToDb(s.refs));
      const checked = [...oids, ...this.readCurrent.map((r) => oidToDb(r.oid, 'readCurrent.oid'))];
      const client = await this.host.pool.connect();
      this.client = client;
      // A checked-out connection that drops while idle emits 'error'; unheard, that would crash.
      client.on('error', this.onConnectionError);
      await client.query(`BEGIN; SET LOCAL idle_in_transaction_session_timeout = ${this.host.voteTimeoutMs}`);
      const s = `"${this.host.schema}"`;
      const { rows } = await client.query(`SELECT last_tid FROM ${s}.commit_state FOR UPDATE`);
      // abort() may have been called while waiting for the lock.
      if (this.phase !== 'voting') throw new TransactionStateError('cannot vote: the transaction was aborted');
      const prevTid = (rows[0] as { last_tid: bigint }).last_tid;
      const current = new Map<Oid, Tid>();
      if (checked.length > 0) {
        const result = await client.query(
          `SELECT oid, max(tid) AS tid FROM ${s}.objects WHERE oid = ANY($1::bigint[]) GROUP BY oid`, [checked]);
        for (const row of result.rows as { oid: bigint; tid: bigint }[]) current.set(row.oid, row.tid);
      }
      checkConflicts(stores, this.readCurrent, (oid) => current.get(oid));
      const tid = nextTid(prevTid);
      const maxOid = stores.reduce((max, store) => (store.oid > max ? store.oid : max), -1n);
      await client.query(
        `WITH revisions AS (
           INSERT INTO ${s}.objects (oid, tid, data, refs)
           SELECT x.oid, $1::bigint, x.data, x.refs::bigint[]
           FROM unnest($3::bigint[], $4::bytea[], $5::text[]) AS x(oid, data, refs)
         ), txn AS (
           INSERT INTO ${s}.transactions (tid, prev_tid, meta, oids) VALUES ($1, $2, $6, $3::bigint[])
         ), state AS (
           UPDATE ${s}.commit_state SET last_tid = $1
         ), counter AS (
           UPDATE ${s}.oid_counter SET next_oid = $7::numeric + 1 WHERE next_oid <= $7::numeric
         )
         SELECT pg_notify($8, $1::text)`,
        [tid.toString(), prevTid.toString(), oids, stores.map((x) => x.data), refs,
          encodeMeta(this.meta), maxOid.toString(), this.host.channel],
      );
      this.pending = { tid, prevTid, oids: stores.map((x) => x.oid) };
      this.phase = 'voted';
    } catch (error) {
      this.phase = 'aborted';
      await this.release('ROLLBACK');
      this.host.leave(this);
      throw asStorageError(error, this.host.name);
    }
  }

  async finish(): Promise<CommitResult> {
    this.expect('voted', 'finish');
    const invalidation = this.pending!;
    try {
      if (this.connectionError !== undefined) throw this.connectionError;
      await this.client!.query('COMMIT');
    } catch (error) {
      this.phase = 'aborted';
      await this.release(undefined, error);
      this.host.leave(this);
      throw new UnavailableError(
        `PostgreSQL failed during COMMIT of transaction 0x${toHex(invalidation.tid)} (${String(error)}); it may or may not ` +
          'have committed: reload the objects before trying again', { cause: error });
    }
    this.phase = 'finished';
    await this.release();
    // Still counted as in progress until emitted, so a close racing this finish waits for it.
    await this.host.emitOwn(invalidation);
    this.host.leave(this);
    return { tid: invalidation.tid, invalidations: [] };
  }

  async abort(): Promise<void> {
    if (this.phase === 'finished' || this.phase === 'aborted') return;
    const isVoting = this.phase === 'voting';
    this.phase = 'aborted';
    // A vote in progress sees the phase change and rolls back itself; waiting for it here could
    // wait for another transaction's finish.
    if (isVoting) return;
    await this.release('ROLLBACK');
    this.host.leave(this);
  }

  /** Ends the PostgreSQL transaction (if a statement is given) and returns the connection. */
  private async release(statement?: 'ROLLBACK', failure?: unknown): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      let error = failure ?? this.connectionError;
      if (statement && error === undefined) {
        await client.query(statement).catch((e: unknown) => {
          error = e;
        });
      }
      // A connection in an unknown state is destroyed, not reused.
      client.release(error === undefined ? undefined : error instanceof Error ? error : new Error(String(error)));
      client.removeListener('error', this.onConnectionError);
    }
  }

  /** Close gave up waiting for this transaction: roll it back. */
  async forceAbort(): Promise<void> {
    if (this.phase === 'voted') {
      this.phase = 'aborted';
      await this.release('ROLLBACK');
      this.host.leave(this);
    }
  }
}
