// The write side of FileStorage: appending transactions durably, the group commit of one-call
// commits, and the two-phase-commit transaction.
//
// Durable before visible: a batch is written, fdatasync'ed, and only then entered into the
// index, announced to invalidation listeners and acknowledged. A failed write or fsync cuts the
// file back to its last committed end and fails the whole batch.
//
// Group commit: one-call commits queue up. Whoever holds the commit lock takes the whole queue,
// validates each commit in order against the file *plus the commits accepted before it in the
// same batch* (so two queued writes of one object still conflict), gives each its TID, writes
// them all and fsyncs ONCE. Commits that arrive during that fsync form the next batch, so the
// batch grows with the fsync latency and N concurrent committers take far fewer than N fsyncs.

import { InvalidArgumentError, StorageClosedError } from '../../errors.js';
import { Mutex } from '../commit-lock.js';
import type {
  CommitResult,
  Oid,
  ReadCurrentRequest,
  StoreRequest,
  Tid,
  TransactionMeta,
} from '../contract.js';
import { encodeMeta } from '../transaction-meta.js';
import { encodeTransaction, MAX_TRANSACTION_BYTES, transactionSize, type RecordToWrite } from './format.js';
import type { FileGeneration } from './read.js';
import { BufferedTransaction } from '../buffered-transaction.js';
import { checkConflicts } from '../commit-checks.js';
import type { InvalidationListeners } from '../invalidation-listeners.js';
import { nextTid } from '../tid.js';

/** Counters for tests and benchmarks: group commit shows as fsyncs < commits. */
export interface FileStorageStats {
  commits: number;
  fsyncs: number;
  batches: number;
}

/** What the committer needs from its storage. */
export interface CommitTarget {
  readonly name: string;
  /** The current file and index (pack swaps them, under the commit lock). */
  readonly generation: FileGeneration;
  /** True once close() is done; commits queued before close are still written. */
  readonly isClosed: boolean;
  readonly listeners: InvalidationListeners;
  /** Called after each durable batch (periodic index saving). */
  afterWrite(): void;
}

interface PreparedTransaction {
  tid: Tid;
  meta: Buffer;
  stores: readonly StoreRequest[];
}

interface QueuedCommit {
  stores: StoreRequest[];
  readCurrent: ReadCurrentRequest[];
  meta: TransactionMeta;
  resolve: (result: CommitResult) => void;
  reject: (error: unknown) => void;
}

const MAX_BATCH_COMMITS = 1024;
const MAX_BATCH_BYTES = 64 * 1024 * 1024;

export class FileCommitter {
  /** Held from vote to finish/abort, for each batch, and by pack while it swaps files. */
  readonly lock = new Mutex();
  readonly stats: FileStorageStats = { commits: 0, fsyncs: 0, batches: 0 };
  private queue: QueuedCommit[] = [];
  private flushing: Promise<void> | null = null;

  constructor(private readonly target: CommitTarget) {}

  get lastTid(): Tid {
    return this.target.generation.index.lastTid;
  }

  /** Queues a checked one-call commit; resolves once it is durable and visible. */
  commit(stores: StoreRequest[], readCurrent: ReadCurrentRequest[], meta: TransactionMeta): Promise<CommitResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ stores, readCurrent, meta, resolve, reject });
      if (!this.flushing) this.flushing = this.flushQueue();
    });
  }

  /** Resolves when every queued commit has been written or refused. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flushQueue(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const release = await this.lock.acquire();
        try {
          await this.flushBatch();
        } finally {
          release();
        }
      }
    } finally {
      // Cleared in the same tick as the last look at the queue, so a commit queued after
      // it starts a new flush instead of waiting for this one.
      this.flushing = null;
    }
  }

  private async flushBatch(): Promise<void> {
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length && count < MAX_BATCH_COMMITS && bytes < MAX_BATCH_BYTES) {
      for (const s of this.queue[count]!.stores) bytes += s.data.byteLength;
      count++;
    }
    const batch = this.queue.splice(0, count);
    const written = new Map<Oid, Tid>();
    const prepared: PreparedTransaction[] = [];
    const accepted: QueuedCommit[] = [];
    let tid = this.target.generation.index.lastTid;
    for (const commit of batch) {
      try {
        await this.validate(commit.stores, commit.readCurrent, written);
        const meta = prepareMeta(commit.meta, commit.stores);
        tid = nextTid(tid);
        for (const s of commit.stores) written.set(s.oid, tid);
        prepared.push({ tid, meta, stores: commit.stores });
        accepted.push(commit);
      } catch (error) {
        commit.reject(error);
      }
    }
    if (prepared.length === 0) return;
    try {
      await this.write(prepared);
    } catch (error) {
      for (const commit of accepted) commit.reject(error);
      return;
    }
    accepted.forEach((commit, i) => commit.resolve({ tid: prepared[i]!.tid, invalidations: [] }));
  }

  /**
   * Under the lock: ConflictError unless every store's baseTid and every checkCurrent TID is
   * the current TID, counting objects `written` earlier in the same batch.
   */
  async validate(
    stores: readonly StoreRequest[],
    readCurrent: readonly ReadCurrentRequest[],
    written: ReadonlyMap<Oid, Tid> = new Map(),
  ): Promise<void> {
    if (this.target.isClosed) throw new StorageClosedError(this.target.name);
    const generation = this.target.generation;
    const current = new Map<Oid, Tid | undefined>();
    for (const { oid } of [...stores, ...readCurrent]) {
      if (current.has(oid)) continue;
      current.set(oid, written.get(oid) ?? (await generation.currentTid(oid)));
    }
    checkConflicts(stores, readCurrent, (oid) => current.get(oid));
  }

  /** Under the lock: appends the transactions, fsyncs once, then makes them visible. */
  async write(transactions: readonly PreparedTransaction[]): Promise<void> {
    const { index, handle } = this.target.generation;
    const start = index.end;
    let offset = start;
    const latest = new Map<Oid, number>();
    const encoded = transactions.map((txn) => {
      const records: RecordToWrite[] = txn.stores.map((s) => ({
        oid: s.oid,
        prevOffset: latest.get(s.oid) ?? index.get(s.oid) ?? 0,
        data: s.data,
        refs: s.refs,
      }));
      const { bytes, recordOffsets } = encodeTransaction(txn.tid, txn.meta, records, offset);
      records.forEach((r, i) => latest.set(r.oid, recordOffsets[i]!));
      offset += bytes.length;
      return { txn, bytes, recordOffsets };
    });
    const all = encoded.length === 1 ? encoded[0]!.bytes : Buffer.concat(encoded.map((e) => e.bytes));
    try {
      let done = 0;
      while (done < all.length) {
        const { bytesWritten } = await handle.write(all, done, all.length - done, start + done);
        done += bytesWritten;
      }
      // Durable before visible: nothing below runs unless the data is on disk.
      await handle.datasync();
      this.stats.fsyncs++;
    } catch (error) {
      await handle.truncate(start).catch(() => {});
      throw error;
    }
    this.stats.batches++;
    this.stats.commits += transactions.length;
    for (const { txn, bytes, recordOffsets } of encoded) {
      txn.stores.forEach((s, i) => index.setCurrent(s.oid, recordOffsets[i]!));
      const prevTid = index.lastTid;
      index.lastTid = txn.tid;
      index.end += bytes.length;
      this.target.listeners.emit({ tid: txn.tid, prevTid, oids: txn.stores.map((s) => s.oid) });
    }
    this.target.afterWrite();
  }
}

/** Encodes the metadata and refuses a transaction too large for the format, before any write. */
function prepareMeta(meta: TransactionMeta, stores: readonly StoreRequest[]): Buffer {
  const bytes = encodeMeta(meta);
  const size = transactionSize(bytes.length, stores);
  if (size > MAX_TRANSACTION_BYTES) {
    throw new InvalidArgumentError('transaction', `${size} bytes is more than the ${MAX_TRANSACTION_BYTES} a transaction may hold`);
  }
  return bytes;
}


/** A FileStorage transaction in two-phase commit (see StorageTransaction in contract.ts). */
export class FileTransaction extends BufferedTransaction {
  private release: (() => void) | undefined;
  private meta: Buffer = Buffer.alloc(0);

  constructor(
    private readonly committer: FileCommitter,
    private readonly rawMeta: TransactionMeta,
  ) {
    super();
  }

  vote(): Promise<void> {
    return this.voteWith(
      async () => {
        this.release = await this.committer.lock.acquire();
        if (this.phase !== 'voting') return; // aborted while waiting: voteWith refuses
        await this.committer.validate(this.storeList(), this.readCurrent);
        this.meta = prepareMeta(this.rawMeta, this.storeList());
      },
      () => this.release?.(),
    );
  }

  async finish(): Promise<CommitResult> {
    this.expect('voted', 'finish');
    this.phase = 'finished';
    try {
      const tid = nextTid(this.committer.lastTid);
      await this.committer.write([{ tid, meta: this.meta, stores: this.storeList() }]);
      return { tid, invalidations: [] };
    } catch (error) {
      this.phase = 'aborted';
      throw error;
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
