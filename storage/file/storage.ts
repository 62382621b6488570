// FileStorage: the embedded default storage. One append-only file of checksummed transactions
// (format: format.ts), an in-memory index saved beside it (oid-index.ts), a lock file
// against a second writer (lock.ts), the durable OID reservation (oid-reservation.ts),
// group commit and two-phase commit (commit.ts),
// and pack while reads and commits go on (pack.ts). It honours the Storage contract
// exactly as MemoryStorage (the reference) does.
//
//   const storage = await FileStorage.open('var/Data.fs');
//   const reader = await FileStorage.open('var/Data.fs', { isReadOnly: true }); // another process

import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { InvalidArgumentError, NotFoundError, ReadOnlyError, StorageClosedError } from '../../errors.js';
import { processWarnings, toLogger, type Logger, type LogTarget } from '../../log.js';
import type {
  CommitRequest,
  CommitResult,
  HistoryEntry,
  InvalidationListener,
  LoadBeforeResult,
  LoadResult,
  Oid,
  PackResult,
  Storage,
  StorageTransaction,
  Tid,
  TransactionMeta,
  TransactionRecord,
} from '../contract.js';
import { FileCommitter, FileTransaction, type FileStorageStats as CommitStats } from './commit.js';
import { FILE_HEADER_SIZE } from './format.js';
import { saveIndex } from './oid-index.js';
import { FileLock } from './lock.js';
import { openStorageFile } from './open.js';
import { packFile } from './pack.js';
import type { FileGeneration } from './read.js';
import { OidReservation } from './oid-reservation.js';
import { checkCommitRequest, checkCount } from '../commit-checks.js';
import { InvalidationListeners } from '../invalidation-listeners.js';
import { checkU64 } from '../tid.js';

export interface FileStorageStats extends CommitStats {
  /** OID reservations written (each one fsync of `<path>.oids`, one per RESERVATION_BLOCK OIDs or so). */
  oidReservations: number;
}

export interface FileStorageOptions {
  /** Open without the writer's lock; sees what was committed when it opened. */
  isReadOnly?: boolean;
  /** Name for logs and errors; defaults to the path. */
  name?: string;
  /** Save the index beside the file after this many bytes were appended (and on close). */
  indexSaveBytes?: number;
  /** Show index-rebuild progress on stderr; defaults to whether stderr is a TTY. */
  showProgress?: boolean;
  /**
   * Where warnings go (a torn tail cut, an index that could not be saved). Default: process
   * warnings; the storage server passes its logger.
   */
  log?: LogTarget;
}

/** How the last open found the file, for tests and logs. */
export interface FileOpenInfo {
  usedSavedIndex: boolean;
  savedIndexEnd: number | null;
  scannedBytes: number;
  tornBytes: number;
}

const DEFAULT_INDEX_SAVE_BYTES = 256 * 1024 * 1024;
const INDEX_SAVE_AFTER_SCAN_BYTES = 8 * 1024 * 1024;

export class FileStorage implements Storage {
  readonly name: string;
  readonly isReadOnly: boolean;
  readonly listeners = new InvalidationListeners();
  /** @internal For the committer and pack. */
  generation: FileGeneration;
  private readonly committer: FileCommitter;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private closing: Promise<void> | null = null;
  private indexSavedAtEnd: number;
  private indexSaving: Promise<void> = Promise.resolve();
  private packing: Promise<PackResult> | null = null;
  private readonly packAbort = new AbortController();

  private constructor(
    readonly path: string,
    generation: FileGeneration,
    private readonly lock: FileLock | null,
    /** Writers only: what newOids may hand out without writing first. */
    private readonly oidReservation: OidReservation | null,
    private readonly options: Required<Omit<FileStorageOptions, 'name' | 'log'>> & { log: Logger },
    readonly openInfo: FileOpenInfo,
    name: string,
  ) {
    this.name = name;
    this.isReadOnly = options.isReadOnly;
    this.generation = generation;
    this.committer = new FileCommitter(this);
    // Where the saved index on disk stops (nothing saved counts as the start of the file).
    this.indexSavedAtEnd = openInfo.savedIndexEnd ?? FILE_HEADER_SIZE;
  }

  static async open(path: string, options: FileStorageOptions = {}): Promise<FileStorage> {
    if (typeof path !== 'string' || path.length === 0) {
      throw new InvalidArgumentError('path', 'expected the path of a FileStorage file');
    }
    for (const key of ['isReadOnly', 'showProgress'] as const) {
      if (options[key] !== undefined && typeof options[key] !== 'boolean') {
        throw new InvalidArgumentError(key, `expected true or false, got ${String(options[key])}`);
      }
    }
    const checked = {
      isReadOnly: options.isReadOnly ?? false,
      indexSaveBytes: options.indexSaveBytes ?? DEFAULT_INDEX_SAVE_BYTES,
      showProgress: options.showProgress ?? Boolean(process.stderr.isTTY),
      log: toLogger(options.log, 'file-storage', () => processWarnings),
    };
    if (!Number.isFinite(checked.indexSaveBytes) || checked.indexSaveBytes <= 0) {
      throw new InvalidArgumentError('indexSaveBytes', 'expected a positive number of bytes');
    }
    // A writer creates the folder of a new file (config paths like var/Data.fs).
    if (!checked.isReadOnly) await mkdir(dirname(path), { recursive: true });
    const lock = checked.isReadOnly ? null : await FileLock.acquire(path);
    try {
      const opened = await openStorageFile(path, checked);
      const { generation, isNew, ...info } = opened;
      let reservation: OidReservation | null = null;
      if (!checked.isReadOnly) {
        try {
          reservation = await OidReservation.open(path, isNew);
        } catch (error) {
          await generation.close();
          throw error;
        }
        const index = generation.index;
        if (reservation.reservedBelow > index.nextOid) index.nextOid = reservation.reservedBelow;
      }
      const storage = new FileStorage(path, generation, lock, reservation, checked, info, options.name ?? path);
      // A long scan is worth saving at once, not only at close: a crash would repeat it.
      if (!checked.isReadOnly && info.scannedBytes >= INDEX_SAVE_AFTER_SCAN_BYTES) void storage.saveIndexNow().catch(() => {});
      return storage;
    } catch (error) {
      await lock?.release();
      throw error;
    }
  }

  /** Commits, fsyncs and batches so far (group commit shows as fsyncs < commits). */
  get stats(): FileStorageStats {
    return { ...this.committer.stats, oidReservations: this.oidReservation?.writes ?? 0 };
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  private assertOpen(): void {
    if (this.state === 'closed') throw new StorageClosedError(this.name);
  }

  private assertWritable(): void {
    if (this.state !== 'open') throw new StorageClosedError(this.name);
    if (this.isReadOnly) throw new ReadOnlyError(`storage ${JSON.stringify(this.name)}`);
  }

  async load(oid: Oid): Promise<LoadResult> {
    this.assertOpen();
    checkU64(oid, 'oid');
    return this.generation.use((g) => g.load(oid));
  }

  async loadBefore(oid: Oid, beforeTid: Tid): Promise<LoadBeforeResult | null> {
    this.assertOpen();
    checkU64(oid, 'oid');
    checkU64(beforeTid, 'beforeTid');
    return this.generation.use((g) => g.loadBefore(oid, beforeTid));
  }

  async lastTransaction(): Promise<Tid> {
    this.assertOpen();
    return this.generation.index.lastTid;
  }

  async history(oid: Oid, limit = Infinity): Promise<HistoryEntry[]> {
    this.assertOpen();
    checkU64(oid, 'oid');
    if (limit !== Infinity && !(Number.isSafeInteger(limit) && limit >= 0)) {
      throw new InvalidArgumentError('limit', `expected a whole number >= 0 or Infinity, got ${String(limit)}`);
    }
    const entries = await this.generation.use((g) => g.history(oid, limit));
    if (entries.length === 0 && limit > 0) throw new NotFoundError(oid);
    return entries;
  }

  async *iterator(fromTid: Tid = 0n, toTid?: Tid): AsyncIterableIterator<TransactionRecord> {
    this.assertOpen();
    checkU64(fromTid, 'fromTid');
    if (toTid !== undefined) checkU64(toTid, 'toTid');
    // A snapshot of the transactions committed now, read from the file they are in, which
    // stays open (even across a pack) until the iteration ends or is abandoned.
    const generation = this.generation;
    const end = generation.index.end;
    const release = generation.acquire();
    try {
      let offset = await generation.findTransactionFrom(fromTid, FILE_HEADER_SIZE, end);
      while (offset < end) {
        const { record, length } = await generation.readTransaction(offset);
        offset += length;
        if (toTid !== undefined && record.tid > toTid) break;
        if (record.tid >= fromTid) yield record;
      }
    } finally {
      release();
    }
  }

  /** OIDs are handed out only once the reservation covering them is on disk (oid-reservation.ts). */
  async newOids(count = 1): Promise<Oid[]> {
    this.assertWritable();
    checkCount(count, 'count');
    const index = this.generation.index;
    const first = index.nextOid;
    const end = first + BigInt(count);
    index.nextOid = end;
    await this.oidReservation!.cover(end);
    return Array.from({ length: count }, (_, i) => first + BigInt(i));
  }

  async tpcBegin(meta: TransactionMeta = {}): Promise<StorageTransaction> {
    this.assertWritable();
    return new FileTransaction(this.committer, meta);
  }

  async commit(request: CommitRequest): Promise<CommitResult> {
    checkCommitRequest(request);
    this.assertWritable();
    return this.committer.commit([...request.stores], [...(request.readCurrent ?? [])], request.meta ?? {});
  }

  async pack(beforeTid: Tid): Promise<PackResult> {
    this.assertWritable();
    checkU64(beforeTid, 'beforeTid');
    // One pack at a time: a second call waits for the running one, then packs again.
    while (this.packing) await this.packing.catch(() => {});
    this.assertWritable();
    this.packing = packFile(this, beforeTid, this.packAbort.signal).finally(() => (this.packing = null));
    return this.packing;
  }

  /** @internal Pack, under the commit lock: the packed file replaces the current one. */
  swapGeneration(next: FileGeneration): void {
    const previous = this.generation;
    // newOids went on during the copy: the new index must not hand those OIDs out again.
    if (previous.index.nextOid > next.index.nextOid) next.index.nextOid = previous.index.nextOid;
    this.generation = next;
    this.indexSavedAtEnd = -Infinity;
    previous.retire();
  }

  /** @internal The commit lock, for pack. */
  get commitLock() {
    return this.committer.lock;
  }

  /** @internal Called by the committer after each durable batch. */
  afterWrite(): void {
    if (this.generation.index.end - this.indexSavedAtEnd >= this.options.indexSaveBytes) {
      void this.saveIndexNow().catch(() => {});
    }
  }

  /**
   * Saves the index beside the file. Saves run one after another, each serializing the index
   * synchronously, so each is a consistent snapshot and a newer one is never overwritten by
   * an older one.
   */
  saveIndexNow(): Promise<void> {
    if (this.isReadOnly) return Promise.resolve();
    const run = this.indexSaving.then(async () => {
      const index = this.generation.index;
      if (index.end === this.indexSavedAtEnd) return;
      const end = index.end;
      await saveIndex(this.path, index.serialize());
      this.indexSavedAtEnd = end;
    });
    this.indexSaving = run.catch((error) => {
      this.options.log.warn(`${this.path}: could not save the index: ${String(error)}`, { file: this.path });
    });
    return run;
  }

  onInvalidation(listener: InvalidationListener): () => void {
    return this.listeners.add(listener);
  }

  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    this.state = 'closing';
    this.packAbort.abort();
    await this.packing?.catch(() => {});
    await this.committer.drain();
    // Let a two-phase commit that already voted finish.
    const release = await this.committer.lock.acquire();
    try {
      if (!this.isReadOnly) await this.saveIndexNow().catch(() => {});
      this.state = 'closed';
      // Reads already running finish on the file; it closes when the last of them is done.
      this.generation.retire();
      await this.oidReservation?.close();
    } finally {
      release();
      await this.lock?.release();
    }
  }
}
