// MemoryStorage: the whole Storage contract (MVCC, history, iterator, pack) held in memory.
// For tests and ephemeral sites; also the reference implementation the others are compared to.

import { NotFoundError, ReadOnlyError, StorageClosedError } from '../../errors.js';
import { Mutex } from '../commit-lock.js';
import type {
  CommitRequest,
  CommitResult,
  HistoryEntry,
  InvalidationListener,
  LoadBeforeResult,
  LoadResult,
  ObjectRecord,
  Oid,
  PackResult,
  ReadCurrentRequest,
  Storage,
  StorageTransaction,
  StoreRequest,
  Tid,
  TransactionMeta,
  TransactionRecord,
} from '../contract.js';
import { ROOT_OID } from '../contract.js';
import { BufferedTransaction, commitInTwoPhases } from '../buffered-transaction.js';
import { checkConflicts, checkCount } from '../commit-checks.js';
import { InvalidationListeners } from '../invalidation-listeners.js';
import { checkU64, nextTid } from '../tid.js';

export interface MemoryStorageOptions {
  name?: string;
  isReadOnly?: boolean;
}

export class MemoryStorage implements Storage {
  readonly name: string;
  readonly isReadOnly: boolean;
  /** Revisions of each object, oldest first. */
  private readonly revisions = new Map<Oid, ObjectRecord[]>();
  private readonly transactions: TransactionRecord[] = [];
  private readonly listeners = new InvalidationListeners();
  private readonly commitLock = new Mutex();
  private lastTid: Tid = 0n;
  private nextOid: Oid = 1n;
  private isClosed = false;

  constructor(options: MemoryStorageOptions = {}) {
    this.name = options.name ?? 'memory';
    this.isReadOnly = options.isReadOnly ?? false;
  }

  /** Same as the constructor; for symmetry with FileStorage.open. */
  static async open(options: MemoryStorageOptions = {}): Promise<MemoryStorage> {
    return new MemoryStorage(options);
  }

  private assertOpen(): void {
    if (this.isClosed) throw new StorageClosedError(this.name);
  }

  private revisionsOf(oid: Oid): ObjectRecord[] {
    checkU64(oid, 'oid');
    const revisions = this.revisions.get(oid);
    if (!revisions || revisions.length === 0) throw new NotFoundError(oid);
    return revisions;
  }

  async load(oid: Oid): Promise<LoadResult> {
    this.assertOpen();
    const revisions = this.revisionsOf(oid);
    const last = revisions[revisions.length - 1]!;
    return { data: last.data, tid: last.tid };
  }

  async loadBefore(oid: Oid, beforeTid: Tid): Promise<LoadBeforeResult | null> {
    this.assertOpen();
    checkU64(beforeTid, 'beforeTid');
    const revisions = this.revisionsOf(oid);
    for (let i = revisions.length - 1; i >= 0; i--) {
      const revision = revisions[i]!;
      if (revision.tid < beforeTid) {
        return { data: revision.data, start: revision.tid, end: revisions[i + 1]?.tid ?? null };
      }
    }
    return null;
  }

  async lastTransaction(): Promise<Tid> {
    this.assertOpen();
    return this.lastTid;
  }

  async history(oid: Oid, limit = Infinity): Promise<HistoryEntry[]> {
    this.assertOpen();
    checkCount(limit, 'limit', true);
    const revisions = this.revisionsOf(oid);
    return revisions
      .slice()
      .reverse()
      .slice(0, limit)
      .map((r) => ({ tid: r.tid, size: r.data.byteLength }));
  }

  async *iterator(fromTid: Tid = 0n, toTid?: Tid): AsyncIterableIterator<TransactionRecord> {
    this.assertOpen();
    checkU64(fromTid, 'fromTid');
    if (toTid !== undefined) checkU64(toTid, 'toTid');
    for (const txn of this.transactions.slice()) {
      if (txn.tid < fromTid) continue;
      if (toTid !== undefined && txn.tid > toTid) break;
      yield txn;
    }
  }

  async newOids(count = 1): Promise<Oid[]> {
    this.assertOpen();
    if (this.isReadOnly) throw new ReadOnlyError(`storage ${JSON.stringify(this.name)}`);
    checkCount(count, 'count');
    const oids: Oid[] = [];
    for (let i = 0; i < count; i++) oids.push(this.nextOid++);
    return oids;
  }

  async tpcBegin(meta: TransactionMeta = {}): Promise<StorageTransaction> {
    this.assertOpen();
    if (this.isReadOnly) throw new ReadOnlyError(`storage ${JSON.stringify(this.name)}`);
    return new MemoryTransaction(this, meta);
  }

  commit(request: CommitRequest): Promise<CommitResult> {
    return commitInTwoPhases(this, request);
  }

  /** @internal Called by MemoryTransaction.vote: takes the lock, checks conflicts. */
  async lockAndCheck(stores: StoreRequest[], readCurrent: ReadCurrentRequest[]): Promise<() => void> {
    const release = await this.commitLock.acquire();
    try {
      this.assertOpen();
      checkConflicts(stores, readCurrent, (oid) => this.currentTid(oid));
      return release;
    } catch (error) {
      release();
      throw error;
    }
  }

  /** @internal Called by MemoryTransaction.finish, under the commit lock. */
  apply(stores: StoreRequest[], meta: TransactionMeta): Tid {
    const prevTid = this.lastTid;
    const tid = nextTid(prevTid);
    const records: ObjectRecord[] = stores.map((s) => ({
      oid: s.oid,
      tid,
      data: s.data,
      refs: [...s.refs],
    }));
    for (const record of records) {
      let revisions = this.revisions.get(record.oid);
      if (!revisions) this.revisions.set(record.oid, (revisions = []));
      revisions.push(record);
      if (record.oid >= this.nextOid) this.nextOid = record.oid + 1n;
    }
    this.transactions.push({ tid, meta, records });
    this.lastTid = tid;
    this.listeners.emit({ tid, prevTid, oids: records.map((r) => r.oid) });
    return tid;
  }

  private currentTid(oid: Oid): Tid | undefined {
    const revisions = this.revisions.get(oid);
    return revisions?.[revisions.length - 1]?.tid;
  }

  async pack(beforeTid: Tid): Promise<PackResult> {
    this.assertOpen();
    checkU64(beforeTid, 'beforeTid');
    const release = await this.commitLock.acquire();
    try {
      return this.packNow(beforeTid);
    } finally {
      release();
    }
  }

  private packNow(packTid: Tid): PackResult {
    // Keep, per object, the revision current at packTid and every later one.
    const kept = new Map<Oid, ObjectRecord[]>();
    for (const [oid, revisions] of this.revisions) {
      let first = revisions.length - 1;
      while (first > 0 && revisions[first]!.tid > packTid) first--;
      kept.set(oid, revisions.slice(first));
    }
    // Reachability from the root through the refs of kept revisions. Objects written after
    // packTid are kept too: a transaction may have created them for a link not yet made.
    const reachable = new Set<Oid>();
    const stack: Oid[] = [ROOT_OID];
    for (const [oid, revisions] of kept) {
      if (revisions[revisions.length - 1]!.tid > packTid) stack.push(oid);
    }
    while (stack.length > 0) {
      const oid = stack.pop()!;
      if (reachable.has(oid)) continue;
      const revisions = kept.get(oid);
      if (!revisions) continue;
      reachable.add(oid);
      for (const r of revisions) for (const ref of r.refs) if (!reachable.has(ref)) stack.push(ref);
    }
    let removedRevisions = 0;
    let removedObjects = 0;
    const survivors = new Set<ObjectRecord>();
    for (const [oid, revisions] of this.revisions) {
      if (!reachable.has(oid)) {
        removedObjects++;
        removedRevisions += revisions.length;
        this.revisions.delete(oid);
        continue;
      }
      const keep = kept.get(oid)!;
      removedRevisions += revisions.length - keep.length;
      this.revisions.set(oid, keep);
      for (const r of keep) survivors.add(r);
    }
    for (let i = this.transactions.length - 1; i >= 0; i--) {
      const txn = this.transactions[i]!;
      txn.records = txn.records.filter((r) => survivors.has(r));
      if (txn.records.length === 0) this.transactions.splice(i, 1);
    }
    return { removedRevisions, removedObjects };
  }

  onInvalidation(listener: InvalidationListener): () => void {
    return this.listeners.add(listener);
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    // Let a commit in progress finish first.
    const release = await this.commitLock.acquire();
    this.isClosed = true;
    release();
  }
}

/** A count argument: a whole number >= 0; a limit may also be Infinity ("no limit"). */

class MemoryTransaction extends BufferedTransaction {
  private release: (() => void) | undefined;

  constructor(
    private readonly storage: MemoryStorage,
    private readonly meta: TransactionMeta,
  ) {
    super();
  }

  vote(): Promise<void> {
    return this.voteWith(
      async () => {
        this.release = await this.storage.lockAndCheck(this.storeList(), this.readCurrent);
      },
      () => this.release?.(),
    );
  }

  async finish(): Promise<CommitResult> {
    this.expect('voted', 'finish');
    try {
      const tid = this.storage.apply(this.storeList(), this.meta);
      this.phase = 'finished';
      return { tid, invalidations: [] };
    } finally {
      this.release?.();
    }
  }

  async abort(): Promise<void> {
    if (this.phase === 'finished' || this.phase === 'aborted') return;
    this.phase = 'aborted';
    this.release?.();
  }
}
