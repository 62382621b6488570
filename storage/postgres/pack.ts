// Pack for the PostgreSQL storage, in SQL, on a connection that already holds the commit lock
// (the caller runs it inside the PostgreSQL transaction that locked commit_state).
//
// Same rules as MemoryStorage.pack: per object keep the revision current at the pack TID and
// every later one; then keep only objects reachable from ROOT_OID through the refs of kept
// revisions, where objects with a revision after the pack TID count as reachable too (a
// transaction may have created them for a link not yet made). Reachability is a recursive CTE
// over temp tables that live until the transaction ends.

import type pg from 'pg';
import type { PackResult, Tid } from '../contract.js';
import { tidBoundToDb } from './schema.js';

export async function packLocked(client: pg.ClientBase, schema: string, packTid: Tid): Promise<PackResult> {
  const s = `"${schema}"`;
  const tid = tidBoundToDb(packTid);
  // The revision of each object current at the pack TID.
  await client.query(`CREATE TEMP TABLE zeo_pack_current ON COMMIT DROP AS
    SELECT oid, max(tid) AS tid FROM ${s}.objects WHERE tid <= $1 GROUP BY oid`, [tid]);
  await client.query('CREATE INDEX ON zeo_pack_current (oid)');
  // Edges of the object graph, from the revisions pack keeps.
  await client.query(`CREATE TEMP TABLE zeo_pack_edges ON COMMIT DROP AS
    SELECT o.oid, unnest(o.refs) AS ref FROM ${s}.objects o LEFT JOIN zeo_pack_current c ON c.oid = o.oid
    WHERE c.tid IS NULL OR o.tid >= c.tid`);
  await client.query('CREATE INDEX ON zeo_pack_edges (oid)');
  await client.query('ANALYZE zeo_pack_edges');
  await client.query(`CREATE TEMP TABLE zeo_pack_reachable ON COMMIT DROP AS
    WITH RECURSIVE reachable(oid) AS (
      SELECT seed.oid FROM (
        SELECT 0::bigint AS oid
        UNION SELECT DISTINCT oid FROM ${s}.objects WHERE tid > $1
      ) seed
      UNION
      SELECT e.ref FROM zeo_pack_edges e JOIN reachable r ON e.oid = r.oid
    )
    SELECT oid FROM reachable`, [tid]);
  await client.query('CREATE UNIQUE INDEX ON zeo_pack_reachable (oid)');
  const unreachable = await client.query(`WITH gone AS (
      DELETE FROM ${s}.objects o
      WHERE NOT EXISTS (SELECT 1 FROM zeo_pack_reachable r WHERE r.oid = o.oid)
      RETURNING o.oid)
    SELECT count(*) AS revisions, count(DISTINCT oid) AS objects FROM gone`);
  const old = await client.query(`WITH gone AS (
      DELETE FROM ${s}.objects o USING zeo_pack_current c
      WHERE o.oid = c.oid AND o.tid < c.tid
      RETURNING 1)
    SELECT count(*) AS revisions FROM gone`);
  const removed = unreachable.rows[0] as { revisions: bigint; objects: bigint };
  const removedOld = (old.rows[0] as { revisions: bigint }).revisions;
  return {
    removedRevisions: Number(removed.revisions + removedOld),
    removedObjects: Number(removed.objects),
  };
}
