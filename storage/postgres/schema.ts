// The PostgreSQL storage's tables, and the conversions between its bigints and PostgreSQL's.
//
// One PostgreSQL schema holds one database; any number of PostgresStorage instances (storage
// servers on several machines) may open it at once:
//
//   commit_state  one row: last_tid, the TID of the last committed transaction. Locking this row
//                 (SELECT ... FOR UPDATE) is the commit lock every instance shares; the lock
//                 lasts until the committing PostgreSQL transaction ends (finish or abort).
//   oid_counter   one row: next_oid. newOids advances it in one statement; a commit that stores
//                 an OID at or above it raises it, so an OID in use is never handed out. It is
//                 numeric, not bigint, so storing OID 2^63 - 1 can still raise it past that.
//   transactions  tid, prev_tid, meta (msgpack), oids: one row per committed transaction, the
//                 invalidation log every instance replays in TID order. Pack never deletes rows
//                 here (a lagging instance may still have to replay them); the iterator skips
//                 transactions whose records pack removed.
//   objects       (oid, tid) -> data, refs: every revision.
//
// OIDs and TIDs are unsigned 64-bit in zeo-ts and signed bigint in PostgreSQL: values up to
// 2^63 - 1 map unchanged (TIDs from storage/tid.ts are about 2^57); larger OIDs are refused.
// int8 comes back from this storage's pool as a JS bigint through a per-pool type parser, so a
// global pg.types setting elsewhere in the process changes nothing here. A database that cannot
// be reached becomes UnavailableError, the code callers already retry on.

import pg from 'pg';
import { InvalidArgumentError, UnavailableError, ZeoError } from '../../errors.js';
import type { Oid, Tid } from '../contract.js';

export const MAX_I64 = (1n << 63n) - 1n;

const INT8_OID = 20;
const INT8_ARRAY_OID = 1016;

/** Type parsers for one pool or client: int8 and int8[] as bigint, everything else as pg does. */
export const bigintTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID) return (text: string) => BigInt(text);
    if (oid === INT8_ARRAY_OID) return parseInt8Array;
    return pg.types.getTypeParser(oid, format);
  }) as typeof pg.types.getTypeParser,
};

/** '{1,2,3}' -> [1n, 2n, 3n]; an int8[] never holds quotes or nested arrays here. */
function parseInt8Array(text: string): bigint[] {
  const inner = text.slice(1, -1);
  return inner === '' ? [] : inner.split(',').map((part) => BigInt(part));
}

/** An OID that can be stored: InvalidArgumentError above the signed 64-bit range. */
export function oidToDb(oid: Oid, argument = 'oid'): string {
  if (oid > MAX_I64) {
    throw new InvalidArgumentError(argument, `object ${oid} is above 2^63 - 1, the largest OID the PostgreSQL storage can hold`);
  }
  return oid.toString();
}

/** A TID used as a bound: nothing stored is above 2^63 - 1, so larger bounds mean "everything". */
export function tidBoundToDb(tid: Tid): string {
  return (tid > MAX_I64 ? MAX_I64 : tid).toString();
}

/** An int8[] literal for refs, cast with ::bigint[] in SQL. */
export function refsToDb(refs: readonly Oid[]): string {
  return `{${refs.map((ref) => oidToDb(ref, 'refs[]')).join(',')}}`;
}

/** Schema names become SQL identifiers and channel names, so only plain ones are accepted. */
export function checkSchemaName(schema: unknown): asserts schema is string {
  if (typeof schema !== 'string' || !/^[a-z_][a-z0-9_]{0,47}$/.test(schema)) {
    throw new InvalidArgumentError('schema',
      `expected a PostgreSQL schema name of lower-case letters, digits and _ (at most 48), got ${JSON.stringify(schema)}`);
  }
}

/** The NOTIFY channel of one schema (an identifier; checkSchemaName keeps it valid). */
export function channelOf(schema: string): string {
  return `zeo_commits_${schema}`;
}

/** Lock key serializing table creation by instances opening one schema at the same moment. */
function setupLockSql(schema: string): string {
  return `SELECT pg_advisory_xact_lock(hashtext('zeo-ts setup ' || '${schema}'))`;
}

/** Creates the schema and its tables if missing; safe to run from several instances at once. */
export async function ensureSchema(client: pg.ClientBase, schema: string): Promise<void> {
  const s = `"${schema}"`;
  await client.query('BEGIN');
  try {
    await client.query(setupLockSql(schema));
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.commit_state (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      last_tid bigint NOT NULL)`);
    await client.query(`INSERT INTO ${s}.commit_state (id, last_tid) VALUES (true, 0) ON CONFLICT DO NOTHING`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.oid_counter (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      next_oid numeric(20, 0) NOT NULL)`);
    await client.query(`INSERT INTO ${s}.oid_counter (id, next_oid) VALUES (true, 1) ON CONFLICT DO NOTHING`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.transactions (
      tid bigint PRIMARY KEY,
      prev_tid bigint NOT NULL,
      meta bytea NOT NULL,
      oids bigint[] NOT NULL)`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.objects (
      oid bigint NOT NULL,
      tid bigint NOT NULL,
      data bytea NOT NULL,
      refs bigint[] NOT NULL,
      PRIMARY KEY (oid, tid))`);
    await client.query(`CREATE INDEX IF NOT EXISTS objects_by_tid ON ${s}.objects (tid)`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * zeo-ts errors pass through; a lost connection or a database shutting down becomes
 * UnavailableError (with the pg error as cause); anything else (a bug in a statement) is kept.
 */
export function asStorageError(error: unknown, storageName: string): unknown {
  if (error instanceof ZeoError) return error;
  const sqlState = (error as { code?: unknown } | null)?.code;
  const isServerError = typeof (error as { severity?: unknown } | null)?.severity === 'string';
  // 08: connection exception, 53: insufficient resources, 57: operator intervention (shutdown).
  const isUnavailable = !isServerError || (typeof sqlState === 'string' && /^(08|53|57)/.test(sqlState));
  if (!isUnavailable) return error;
  return new UnavailableError(`PostgreSQL storage ${storageName} cannot reach its database: ${String(error)}`, { cause: error });
}
