// The two-phase commit every storage shares: BufferedTransaction (store and checkCurrent
// buffered until vote, phases enforced) and the one-call commit built from the two phases.

import { TransactionStateError } from '../errors.js';
import type {
  CommitRequest,
  CommitResult,
  Oid,
  ReadCurrentRequest,
  StorageTransaction,
  StoreRequest,
  Tid,
  TransactionMeta,
} from './contract.js';
import { checkCommitRequest, checkStore } from './commit-checks.js';
import { checkU64 } from './tid.js';

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
