// The Storage contract: what every storage in zeo-ts is (MemoryStorage, FileStorage, the
// compressed wrapper, ClientStorage, the PostgreSQL storage). The object layer and the storage
// server only ever see this interface, so a ClientStorage is "just a Storage". One conformance
// suite (test/storage/conformance.ts) checks every implementation against the rules written here.
//
// The model is ZODB's: multi-version concurrency control with optimistic commits.
//  - An object is identified by a 64-bit OID; every committed transaction by a 64-bit TID.
//    TIDs strictly increase and encode the wall-clock commit time (see storage/tid.ts).
//  - A revision is (oid, tid, data, refs). `data` is opaque bytes to the storage; `refs` are the
//    OIDs the revision references, so pack can collect garbage without decoding data.
//  - OID 0 is the root object; pack keeps what is reachable from it.

import type { ConflictError } from '../errors.js';

export type Oid = bigint;
export type Tid = bigint;

/** The TID before any transaction; also the base TID of an object being created. */
export const ZERO_TID: Tid = 0n;
/** The root object's OID; everything reachable from it survives pack. */
export const ROOT_OID: Oid = 0n;

/** The current revision of an object. */
export interface LoadResult {
  data: Uint8Array;
  /** The TID of the transaction that wrote this revision (its "serial"). */
  tid: Tid;
}

/** A revision with its validity range [start, end): the heart of MVCC. */
export interface LoadBeforeResult {
  data: Uint8Array;
  /** TID that wrote this revision. */
  start: Tid;
  /** TID of the next revision of the object, or null if this one is still current. */
  end: Tid | null;
}

export interface TransactionMeta {
  user?: string;
  description?: string;
  /** Free-form, msgpack-able. */
  extension?: Record<string, unknown>;
}

/** One revision as stored, with the OIDs it references. */
export interface ObjectRecord {
  oid: Oid;
  tid: Tid;
  data: Uint8Array;
  refs: readonly Oid[];
}

/** One committed transaction, as the iterator yields it (oldest first). */
export interface TransactionRecord {
  tid: Tid;
  meta: TransactionMeta;
  records: ObjectRecord[];
}

export interface HistoryEntry {
  tid: Tid;
  /** Size of the revision's data in bytes. */
  size: number;
}

/**
 * Every committed transaction produces one. `prevTid` is the TID of the transaction committed
 * just before it in this storage, so a receiver can tell whether it missed one.
 */
export interface Invalidation {
  tid: Tid;
  prevTid: Tid;
  oids: Oid[];
}

export interface StoreRequest {
  oid: Oid;
  /** The revision this write is based on; ZERO_TID for a new object. */
  baseTid: Tid;
  data: Uint8Array;
  refs: readonly Oid[];
}

export interface ReadCurrentRequest {
  oid: Oid;
  /** The revision that was read; the commit fails with a read conflict if it is not current. */
  tid: Tid;
}

export interface CommitRequest {
  stores: StoreRequest[];
  readCurrent?: ReadCurrentRequest[];
  meta?: TransactionMeta;
}

export interface CommitResult {
  tid: Tid;
  /**
   * Invalidations committed before this transaction that the committer had not yet been told
   * about (only a ClientStorage can have any): after a commit, the committer is current up to
   * `tid`. Local storages return [] because their listeners are called synchronously.
   */
  invalidations: Invalidation[];
}

export interface PackResult {
  /** Revisions removed (old revisions and unreachable objects). */
  removedRevisions: number;
  /** Objects removed entirely because nothing reachable from the root referenced them. */
  removedObjects: number;
}

export type InvalidationListener = (invalidation: Invalidation) => void;

/**
 * A transaction in two-phase commit, begun by `Storage.tpcBegin`.
 *
 *   store/checkCurrent* -> vote -> finish      (or abort at any point before finish)
 *
 * `store` and `checkCurrent` only buffer. `vote` takes the storage's commit lock and detects
 * conflicts: a store whose baseTid is not the object's current TID, or a checkCurrent whose TID
 * is not current, rejects with ConflictError (the transaction is then aborted). After a
 * successful vote, `finish` cannot conflict: it makes the transaction durable, then visible,
 * calls invalidation listeners, releases the lock and returns the new TID. While one
 * transaction holds the lock between vote and finish/abort, other votes wait.
 */
export interface StorageTransaction {
  store(oid: Oid, baseTid: Tid, data: Uint8Array, refs: readonly Oid[]): void;
  checkCurrent(oid: Oid, tid: Tid): void;
  /** Rejects with ConflictError, ReadOnlyError or StorageClosedError. */
  vote(): Promise<void>;
  finish(): Promise<CommitResult>;
  /** Always safe to call; a no-op after finish or a previous abort. */
  abort(): Promise<void>;
}

export interface Storage {
  /** A short name for logs and errors (a file path, "memory", a server address). */
  readonly name: string;
  readonly isReadOnly: boolean;

  /** The current revision. Rejects with NotFoundError if the object does not exist. */
  load(oid: Oid): Promise<LoadResult>;
  /**
   * The revision that was current just before `beforeTid` (its start < beforeTid), with its
   * validity range. Resolves null if the object has no revision that old (it was created at or
   * after beforeTid); rejects with NotFoundError if the object does not exist at all.
   */
  loadBefore(oid: Oid, beforeTid: Tid): Promise<LoadBeforeResult | null>;
  /** TID of the last committed transaction, ZERO_TID when empty. */
  lastTransaction(): Promise<Tid>;
  /** Revisions of one object, newest first, at most `limit` of them. NotFoundError if none. */
  history(oid: Oid, limit?: number): Promise<HistoryEntry[]>;
  /** Committed transactions with fromTid <= tid <= toTid, oldest first. */
  iterator(fromTid?: Tid, toTid?: Tid): AsyncIterableIterator<TransactionRecord>;
  /**
   * Fresh OIDs, never returned before by this storage: not by another instance on the same
   * data, not after a crash or restart (a durable storage records what it handed out before it
   * hands it out). A read-only storage refuses with ReadOnlyError: OIDs it made up could not be
   * committed there and would collide with the writer's.
   */
  newOids(count?: number): Promise<Oid[]>;

  tpcBegin(meta?: TransactionMeta): Promise<StorageTransaction>;
  /**
   * The one-call commit, the fast path over a network: exactly tpcBegin + store* +
   * checkCurrent* + vote + finish. Rejects with ConflictError and then leaves no trace.
   */
  commit(request: CommitRequest): Promise<CommitResult>;

  /**
   * Drop revisions that no snapshot at or after `beforeTid` can see, and objects not reachable
   * from ROOT_OID (through `refs`). Reads and commits may go on while it runs.
   */
  pack(beforeTid: Tid): Promise<PackResult>;

  /**
   * Listen to committed transactions, in TID order, as they become visible. Returns a function
   * that stops listening.
   */
  onInvalidation(listener: InvalidationListener): () => void;

  /** Finish what is in progress, release files and connections. Idempotent. */
  close(): Promise<void>;
}

/** Type guard for errors of the conflict family, for retry loops. */
export function isConflict(error: unknown): error is ConflictError {
  return (error as { code?: string } | null)?.code === 'ZEO_CONFLICT';
}
