// Pieces shared by storages that hold their data in this process (MemoryStorage, FileStorage):
// conflict detection at vote time, invalidation listeners, and argument checks for commits.

import {
  ConflictError,
  InvalidArgumentError,
  TransactionStateError,
  type ConflictDetail,
} from '../errors.js';
import type {
  CommitRequest,
  CommitResult,
  StorageTransaction,
  TransactionMeta,
  Invalidation,
  InvalidationListener,
  Oid,
  ReadCurrentRequest,
  StoreRequest,
  Tid,
} from './contract.js';
import { checkU64 } from './tid.js';

/**
 * Conflicts of a transaction against the current TIDs (`currentTid` returns undefined for an
 * object that does not exist). Throws ConflictError listing every conflicting object.
 */
export function checkConflicts(
  stores: readonly StoreRequest[],
  readCurrent: readonly ReadCurrentRequest[],
  currentTid: (oid: Oid) => Tid | undefined,
): void {
  const conflicts: ConflictDetail[] = [];
  for (const s of stores) {
    const current = currentTid(s.oid) ?? 0n;
    if (current !== s.baseTid) {
      conflicts.push({ oid: s.oid, baseTid: s.baseTid, currentTid: current, isReadConflict: false });
    }
  }
  for (const r of readCurrent) {
    const current = currentTid(r.oid) ?? 0n;
    if (current !== r.tid) {
      conflicts.push({ oid: r.oid, baseTid: r.tid, currentTid: current, isReadConflict: true });
    }
  }
  if (conflicts.length > 0) throw new ConflictError(conflicts);
}

/** Validates the shape of a store; a wrong argument is a typed error, never a corrupt record. */
export function checkStore(oid: Oid, baseTid: Tid, data: Uint8Array, refs: readonly Oid[]): void {
  checkU64(oid, 'oid');
  checkU64(baseTid, 'baseTid');
  if (!(data instanceof Uint8Array)) {
    throw new InvalidArgumentError('data', `expected a Uint8Array for object ${oid}`);
  }
  if (!Array.isArray(refs)) throw new InvalidArgumentError('refs', 'expected an array of OIDs');
  for (const ref of refs) checkU64(ref, 'refs[]');
}

/** Checks a one-call commit request and rejects the same OID stored twice. */
export function checkCommitRequest(request: CommitRequest): void {
  if (!request || !Array.isArray(request.stores)) {
    throw new InvalidArgumentError('commit request', 'expected { stores: [...] }');
  }
  const seen = new Set<Oid>();
  for (const s of request.stores) {
    checkStore(s.oid, s.baseTid, s.data, s.refs);
    if (seen.has(s.oid)) {
      throw new InvalidArgumentError('stores', `object ${s.oid} is stored twice in one transaction`);
    }
    seen.add(s.oid);
  }
  for (const r of request.readCurrent ?? []) {
    checkU64(r.oid, 'readCurrent.oid');
    checkU64(r.tid, 'readCurrent.tid');
  }
}

/** Throws unless `n` is a whole number >= 0 (or Infinity, for limits). */
export function checkCount(n: number, argument: string, isLimit = false): void {
  if (!(isLimit && n === Infinity) && !(Number.isSafeInteger(n) && n >= 0)) {
    throw new InvalidArgumentError(argument, `expected a whole number >= 0, got ${String(n)}`);
  }
}

/** The one-call commit as exactly tpcBegin + store* + checkCurrent* + vote + finish. */
export async function commitInTwoPhases(
  storage: { tpcBegin(meta?: TransactionMeta): Promise<StorageTransaction> },
  request: CommitRequest,
): Promise<CommitResult> {
  checkCommitRequest(request);
  const txn = await storage.tpcBegin(request.meta);
  for (const s of request.stores) txn.store(s.oid, s.baseTid, s.data, s.refs);
  for (const r of request.readCurrent ?? []) txn.checkCurrent(r.oid, r.tid);
  await txn.vote();
  return txn.finish();
}

/** The listeners of one storage; a throwing listener is reported, never breaks a commit. */
export class InvalidationListeners {
  private readonly listeners = new Set<InvalidationListener>();

  add(listener: InvalidationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(invalidation: Invalidation): void {
    for (const listener of this.listeners) {
      try {
        listener(invalidation);
      } catch (error) {
        process.emitWarning(`invalidation listener failed: ${String(error)}`);
      }
    }
  }
}

export type TransactionPhase = 'open' | 'voting' | 'voted' | 'finished' | 'aborted';

/**
 * The buffering half of a StorageTransaction, shared by every storage: store and checkCurrent
 * only record (checked, last store of an OID wins) until vote; phases are enforced with
 * TransactionStateError. Subclasses implement vote, finish and abort.
 */
export abstract class BufferedTransaction implements StorageTransaction {
  protected phase: TransactionPhase = 'open';
  protected readonly stores = new Map<Oid, StoreRequest>();
  protected readonly readCurrent: ReadCurrentRequest[] = [];

  protected expect(phase: TransactionPhase, action: string): void {
    if (this.phase !== phase) {
      throw new TransactionStateError(`cannot ${action}: the transaction is ${this.phase}`);
    }
  }

  store(oid: Oid, baseTid: Tid, data: Uint8Array, refs: readonly Oid[]): void {
    this.expect('open', 'store');
    checkStore(oid, baseTid, data, refs);
    this.stores.set(oid, { oid, baseTid, data, refs: [...refs] });
  }

  checkCurrent(oid: Oid, tid: Tid): void {
    this.expect('open', 'checkCurrent');
    checkU64(oid, 'oid');
    checkU64(tid, 'tid');
    this.readCurrent.push({ oid, tid });
  }

  /** The buffered stores, in store order. */
  protected storeList(): StoreRequest[] {
    return [...this.stores.values()];
  }

  /**
   * Runs `step` (take the commit lock, detect conflicts) as the vote. If abort() came while the
   * step waited, or the step failed, the transaction is aborted and `undo` releases what the
   * step took.
   */
  protected async voteWith(step: () => Promise<void>, undo: () => void): Promise<void> {
    this.expect('open', 'vote');
    this.phase = 'voting';
    try {
      await step();
      // abort() may have been called while the step waited (for the lock, for the server).
      if (this.phase !== 'voting') throw new TransactionStateError('cannot vote: the transaction was aborted');
      this.phase = 'voted';
    } catch (error) {
      this.phase = 'aborted';
      undo();
      throw error;
    }
  }

  abstract vote(): Promise<void>;
  abstract finish(): Promise<CommitResult>;
  abstract abort(): Promise<void>;
}
