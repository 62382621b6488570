// DB: the object database over one Storage — the API site code uses.
//
//   const db = await DB.open(storage, { classes: [Account] });
//   await db.transaction(async (tx) => { (await tx.root()).set('x', 1); });   // commits, retries
//   const x = await db.read(async (tx) => (await tx.root()).get('x'));        // never commits
//
// The DB keeps a pool of Connections (one per concurrent transaction, each with its own object
// cache), listens to the storage's invalidations and hands each connection the OIDs changed
// since its snapshot. It only knows the Storage contract: a FileStorage, a MemoryStorage and a
// ClientStorage are all the same to it. db.close() leaves the storage open unless `ownsStorage`.

import { InvalidArgumentError, StorageClosedError } from '../../errors.js';
import { isConflict, ROOT_OID, type Storage, type Tid, type TransactionMeta } from '../contract.js';
import { BTree } from './btree.js';
import { BTreeBucket, BTreeNode } from './btree-bucket.js';
import { Connection, type CacheStats } from './connection.js';
import { Counter } from './counter.js';
import type { PersistentClass } from './persistent.js';
import { PersistentList } from './persistent-list.js';
import { PersistentMap } from './persistent-map.js';
import { ClassRegistry, encodeRecord } from './serializer.js';
import { Transaction } from './transaction.js';

const BUILT_IN_CLASSES: PersistentClass[] = [PersistentMap, PersistentList, BTree, BTreeNode, BTreeBucket, Counter];

/** Storages that can lose track of invalidations (ClientStorage) announce it with this. */
interface ResettableStorage extends Storage {
  onCacheReset?(listener: (lastTid: Tid) => void): () => void;
}

export interface DBOptions {
  /** The application's Persistent subclasses (the built-in containers are always known). */
  classes?: PersistentClass[];
  /** Old record class names mapped to the class that now loads them (after a rename). */
  aliases?: Record<string, PersistentClass>;
  /** Loaded objects each connection keeps between transactions (default 10,000). */
  cacheSize?: number;
  /** Idle connections kept for reuse (default 8). */
  poolSize?: number;
  /** Close the storage in db.close() (default false: whoever opened it closes it). */
  ownsStorage?: boolean;
}

export interface TransactionOptions {
  /** Runs of fn before a ConflictError reaches the caller (default 5). */
  attempts?: number;
  /** Base delay in ms before a retry, doubled each time, with jitter (default 5). */
  backoff?: number;
  meta?: TransactionMeta;
}

export interface DBStats {
  lastTid: Tid;
  connections: number;
  idleConnections: number;
  cachedObjects: number;
  hits: number;
  misses: number;
  commits: number;
  conflicts: number;
}

export class DB {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly stopListening: () => void;
  private latestTid: Tid;
  private isClosed = false;
  private commits = 0;
  private conflicts = 0;

  private constructor(
    readonly storage: Storage,
    private readonly registry: ClassRegistry,
    private readonly options: Required<Pick<DBOptions, 'cacheSize' | 'poolSize' | 'ownsStorage'>>,
    lastTid: Tid,
  ) {
    this.latestTid = lastTid;
    const stopInvalidations = storage.onInvalidation((invalidation) => {
      if (invalidation.tid > this.latestTid) this.latestTid = invalidation.tid;
      for (const connection of this.all) connection.queueInvalidation(invalidation);
    });
    // A ClientStorage whose invalidation history broke drops its caches and tells us to do so.
    const stopResets = (storage as ResettableStorage).onCacheReset?.(() => {
      for (const connection of this.all) connection.dropCacheAtNextBegin();
    });
    this.stopListening = () => {
      stopInvalidations();
      stopResets?.();
    };
  }

  /** Opens a DB over `storage`, creating the root object if the storage is empty. */
  static async open(storage: Storage, options: DBOptions = {}): Promise<DB> {
    const cacheSize = options.cacheSize ?? 10_000;
    const poolSize = options.poolSize ?? 8;
    if (!Number.isInteger(cacheSize) || cacheSize < 0) throw new InvalidArgumentError('cacheSize', 'expected an integer >= 0');
    if (!Number.isInteger(poolSize) || poolSize < 0) throw new InvalidArgumentError('poolSize', 'expected an integer >= 0');
    const registry = new ClassRegistry([...BUILT_IN_CLASSES, ...(options.classes ?? [])], options.aliases);
    if (!storage.isReadOnly) await createRoot(storage);
    const lastTid = await storage.lastTransaction();
    return new DB(storage, registry, { cacheSize, poolSize, ownsStorage: options.ownsStorage ?? false }, lastTid);
  }

  /** The newest TID this DB knows of (committed here or announced by an invalidation). */
  get lastTid(): Tid {
    return this.latestTid;
  }

  /** A transaction that the caller commits or aborts itself. */
  async begin(options: { isReadOnly?: boolean } = {}): Promise<Transaction> {
    if (this.isClosed) throw new StorageClosedError(`DB over ${this.storage.name}`);
    const connection = this.idle.pop() ?? this.newConnection();
    try {
      const snapshotTid = await this.storage.lastTransaction();
      connection.begin(snapshotTid, options.isReadOnly ?? false);
      return new Transaction(connection, snapshotTid, options.isReadOnly ?? false, (c, tid) => this.release(c, tid));
    } catch (error) {
      this.release(connection, null);
      throw error;
    }
  }

  /**
   * Runs fn in a transaction and commits; on ConflictError runs it again (fn must be safe to
   * re-run). Returns fn's value. After `attempts` runs the ConflictError reaches the caller.
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options: TransactionOptions = {}): Promise<T> {
    const attempts = options.attempts ?? 5;
    const backoff = options.backoff ?? 5;
    if (!Number.isInteger(attempts) || attempts < 1) throw new InvalidArgumentError('attempts', 'expected an integer >= 1');
    if (!(backoff >= 0)) throw new InvalidArgumentError('backoff', 'expected a number of milliseconds >= 0');
    for (let attempt = 1; ; attempt++) {
      const tx = await this.begin();
      if (options.meta) tx.setMeta(options.meta);
      try {
        const result = await fn(tx);
        if (tx.status === 'active') await tx.commit(); // fn may have committed or aborted itself
        return result;
      } catch (error) {
        await tx.abort();
        if (!isConflict(error)) throw error;
        this.conflicts++;
        if (attempt >= attempts) throw error;
        const delay = backoff * 2 ** (attempt - 1) * (0.5 + Math.random());
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /**
   * Runs fn on a read-only snapshot; never commits. Changing a persistent object inside it
   * throws ReadOnlyError at the assignment.
   */
  async read<T>(fn: (tx: Transaction) => Promise<T> | T): Promise<T> {
    const tx = await this.begin({ isReadOnly: true });
    try {
      return await fn(tx);
    } finally {
      await tx.abort();
    }
  }

  stats(): DBStats {
    const totals: CacheStats = { hits: 0, misses: 0 };
    let cachedObjects = 0;
    for (const connection of this.all) {
      totals.hits += connection.stats.hits;
      totals.misses += connection.stats.misses;
      cachedObjects += connection.cachedObjectCount;
    }
    return {
      lastTid: this.latestTid,
      connections: this.all.size,
      idleConnections: this.idle.length,
      cachedObjects,
      ...totals,
      commits: this.commits,
      conflicts: this.conflicts,
    };
  }

  /** Stops listening, drops every cache; closes the storage only with `ownsStorage`. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.stopListening();
    for (const connection of this.all) connection.clear();
    this.all.clear();
    this.idle.length = 0;
    if (this.options.ownsStorage) await this.storage.close();
  }

  private newConnection(): Connection {
    const connection = new Connection({
      storage: this.storage,
      registry: this.registry,
      cacheSize: this.options.cacheSize,
      maxQueuedInvalidations: Math.max(1000, this.options.cacheSize),
    });
    this.all.add(connection);
    return connection;
  }

  private release(connection: Connection, committedTid: Tid | null): void {
    if (committedTid !== null) {
      this.commits++;
      if (committedTid > this.latestTid) this.latestTid = committedTid;
    }
    if (this.isClosed || !this.all.has(connection)) return;
    if (this.idle.length < this.options.poolSize) {
      this.idle.push(connection);
    } else {
      connection.clear();
      this.all.delete(connection);
    }
  }
}

/** Stores an empty PersistentMap as OID 0 unless there is a root already. */
async function createRoot(storage: Storage): Promise<void> {
  try {
    await storage.load(ROOT_OID);
    return;
  } catch (error) {
    if ((error as { code?: string } | null)?.code !== 'ZEO_NOT_FOUND') throw error;
  }
  const data = encodeRecord(PersistentMap.persistentName, [], { refFor: () => [0n, ''] });
  try {
    await storage.commit({ stores: [{ oid: ROOT_OID, baseTid: 0n, data, refs: [] }], meta: { description: 'create root' } });
  } catch (error) {
    if (!isConflict(error)) throw error; // another process created it first
  }
}
