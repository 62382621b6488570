// Connection: one object cache and one transaction at a time (a DB keeps a pool of them).
//
// Identity: an OID is one JS object per connection. Every object the connection has handed out
// is in `identity` (weakly held, so unused ghosts can be collected; dead entries are swept at
// transaction ends); loaded objects are also in
// `loaded`, strongly held in least-recently-used order. At a transaction boundary the least
// recently used loaded objects beyond `cacheSize` are turned back into ghosts.
//
// Snapshots: a transaction reads the revisions valid at its snapshotTid
// (loadBefore(oid, snapshotTid + 1n)). Invalidations from the storage are queued per connection
// with their TID and applied at the next begin, for the TIDs the new snapshot covers, so cached
// state always matches the snapshot of the transaction using it. A commit of this connection
// does not invalidate its own objects (their state is what was just stored).

import { InvalidArgumentError, NotFoundError, ReadOnlyError, TransactionStateError } from '../../errors.js';
import { isConflict, type Invalidation, type Oid, type Storage, type Tid, type TransactionMeta } from '../contract.js';
import { commitResolvingConflicts } from './conflict-resolution.js';
import { ghostify, makeGhost, META, Persistent, setLoadedState, type Jar, type PersistentClass } from './persistent.js';
import { Placeholder, setPlaceholderData } from './placeholder.js';
import { encodeChanges, OidPool } from './record-writer.js';
import { ClassRegistry, decodeRecord, type DecodeContext } from './serializer.js';
import { toHex } from '../tid.js';

export interface ConnectionSettings {
  storage: Storage;
  registry: ClassRegistry;
  /** Loaded objects kept between transactions. */
  cacheSize: number;
  /** Beyond this many queued invalidated OIDs, the whole cache is dropped at the next begin. */
  maxQueuedInvalidations: number;
}

export interface CacheStats {
  hits: number;
  misses: number;
}

export class Connection implements Jar {
  private readonly identity = new Map<Oid, WeakRef<Persistent>>();
  private readonly loaded = new Map<Oid, Persistent>();
  private readonly changed: Persistent[] = [];
  /** Objects read whose revision must still be current at commit (tx.readCurrent). */
  private readonly mustBeCurrent = new Map<Oid, Persistent>();
  private readonly activations = new Map<Oid, Promise<void>>();
  /** Async writes still running; a commit waits for them (a forgotten await loses nothing). */
  private readonly pendingWrites = new Set<Promise<unknown>>();
  private isCommitting = false;
  /** identity size at which dead entries are swept next (cheaper than a FinalizationRegistry). */
  private identitySweepAt = 1024;
  private queued: Invalidation[] = [];
  private queuedOidCount = 0;
  private mustDropCache = false;
  private readonly ownTids = new Set<Tid>();
  private readonly oids: OidPool;
  readonly stats: CacheStats = { hits: 0, misses: 0 };
  snapshotTid: Tid = 0n;
  transactionNumber = 0;
  isInTransaction = false;
  isReadOnly = false;

  constructor(private readonly settings: ConnectionSettings) {
    this.oids = new OidPool(settings.storage);
  }

  get cachedObjectCount(): number {
    return this.loaded.size;
  }

  /** Called by the DB for every committed transaction, in TID order. */
  queueInvalidation(invalidation: Invalidation): void {
    if (this.mustDropCache) return;
    this.queued.push(invalidation);
    this.queuedOidCount += invalidation.oids.length;
    if (this.queuedOidCount > this.settings.maxQueuedInvalidations) {
      this.mustDropCache = true;
      this.queued = [];
      this.queuedOidCount = 0;
    }
  }

  /** The storage lost track of invalidations (a ClientStorage cache reset): drop everything. */
  dropCacheAtNextBegin(): void {
    this.mustDropCache = true;
    this.queued = [];
    this.queuedOidCount = 0;
  }

  /** Starts a transaction at `snapshotTid`: cached objects changed up to it become ghosts. */
  begin(snapshotTid: Tid, isReadOnly: boolean): void {
    if (this.isInTransaction) throw new TransactionStateError('connection already in a transaction');
    if (this.mustDropCache) {
      for (const object of this.loaded.values()) ghostify(object);
      this.loaded.clear();
      this.mustDropCache = false;
    } else {
      const later: Invalidation[] = [];
      for (const invalidation of this.queued) {
        if (invalidation.tid > snapshotTid) {
          later.push(invalidation);
        } else if (!this.ownTids.has(invalidation.tid)) {
          for (const oid of invalidation.oids) this.invalidate(oid);
        }
      }
      this.queued = later;
      this.queuedOidCount = later.reduce((n, i) => n + i.oids.length, 0);
    }
    for (const tid of this.ownTids) if (tid <= snapshotTid) this.ownTids.delete(tid);
    this.snapshotTid = snapshotTid;
    this.transactionNumber++;
    this.isReadOnly = isReadOnly;
    this.isInTransaction = true;
  }

  private invalidate(oid: Oid): void {
    const object = this.loaded.get(oid);
    if (object === undefined) return;
    ghostify(object);
    this.loaded.delete(oid);
  }

  /** The object for `oid` in this connection: the cached one, or a new ghost. */
  objectFor(oid: Oid, className: string): Persistent {
    const existing = this.identity.get(oid)?.deref();
    if (existing !== undefined) return existing;
    const cls = this.settings.registry.classFor(className);
    const object = makeGhost(cls ?? (Placeholder as PersistentClass), oid, this);
    if (cls === undefined) object[META].missingClass = className;
    this.remember(oid, object);
    return object;
  }

  private remember(oid: Oid, object: Persistent): void {
    this.identity.set(oid, new WeakRef(object));
  }

  /** The object for an OID whose class is not known yet (the root, tx.get): loads it. */
  async get(oid: Oid): Promise<Persistent> {
    const existing = this.identity.get(oid)?.deref();
    if (existing !== undefined) {
      await this.activate(existing);
      return existing;
    }
    const data = await this.loadData(oid);
    const className = decodeRecord(data.data, { resolve: () => null })[0];
    const object = this.objectFor(oid, className);
    if (object[META].isGhost) this.applyRecord(object, data.data, data.start, data.end);
    return object;
  }

  private async loadData(oid: Oid): Promise<{ data: Uint8Array; start: Tid; end: Tid | null }> {
    this.assertInTransaction('load an object');
    this.stats.misses++;
    const result = await this.settings.storage.loadBefore(oid, this.snapshotTid + 1n);
    if (result === null) {
      throw new NotFoundError(oid, `it does not exist in the snapshot at TID 0x${toHex(this.snapshotTid)}`);
    }
    return result;
  }

  activate(object: Persistent): Promise<void> {
    const meta = object[META];
    if (meta.jar !== this) {
      return Promise.reject(new InvalidArgumentError('object', 'it belongs to another connection (another transaction)'));
    }
    if (!meta.isGhost) {
      this.touch(object);
      return Promise.resolve();
    }
    const oid = meta.oid!;
    let activation = this.activations.get(oid);
    if (activation === undefined) {
      activation = this.loadData(oid)
        .then((result) => {
          if (meta.isGhost) this.applyRecord(object, result.data, result.start, result.end);
        })
        .finally(() => this.activations.delete(oid));
      this.activations.set(oid, activation);
    }
    return activation;
  }

  touch(object: Persistent): void {
    const oid = object[META].oid;
    if (oid === undefined || !this.loaded.delete(oid)) return;
    this.stats.hits++;
    this.loaded.set(oid, object);
  }

  private applyRecord(object: Persistent, data: Uint8Array, start: Tid, end: Tid | null): void {
    const meta = object[META];
    const oid = meta.oid!;
    if (meta.missingClass !== undefined) {
      setPlaceholderData(object as Placeholder, data);
      meta.serial = start;
      meta.isGhost = false;
    } else {
      const context: DecodeContext = { resolve: (refOid, className) => this.objectFor(refOid, className) };
      const [, state] = decodeRecord(data, context);
      setLoadedState(object, state, start);
    }
    this.loaded.set(oid, object);
    // A newer revision exists: this state must not outlive the snapshot it was loaded for.
    if (end !== null) this.queueInvalidation({ tid: end, prevTid: start, oids: [oid] });
  }

  track<T>(operation: Promise<T>): Promise<T> {
    this.pendingWrites.add(operation);
    const settled = () => this.pendingWrites.delete(operation);
    operation.then(settled, settled);
    return operation;
  }

  /** Waits for writes the application started without awaiting; fails if one failed. */
  private async settlePendingWrites(): Promise<void> {
    while (this.pendingWrites.size > 0) {
      const results = await Promise.allSettled([...this.pendingWrites]);
      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failure) throw failure.reason;
    }
  }

  registerChanged(object: Persistent): void {
    if (this.isCommitting) {
      throw new TransactionStateError(
        'a persistent object was changed while its transaction was committing: an `await` is missing in the transaction',
      );
    }
    if (!this.isInTransaction) {
      throw new TransactionStateError(
        'a persistent object was changed outside a transaction; change objects inside db.transaction()',
      );
    }
    if (this.isReadOnly) throw new ReadOnlyError('this read-only transaction (db.read); use db.transaction to write');
    this.changed.push(object);
  }

  /** The commit fails with a read conflict if `object` changed after this snapshot. */
  readCurrent(object: Persistent): void {
    const meta = object[META];
    if (meta.jar !== this || meta.isGhost || meta.oid === undefined) {
      throw new InvalidArgumentError('object', 'readCurrent needs an object loaded in this transaction');
    }
    this.mustBeCurrent.set(meta.oid, object);
  }

  get hasChanges(): boolean {
    return this.changed.length > 0;
  }

  /** Saves every changed object and the new objects reachable from them; null if none. */
  async commit(meta: TransactionMeta): Promise<Tid | null> {
    this.assertInTransaction('commit');
    await this.settlePendingWrites();
    if (this.changed.length === 0) return null;
    this.isCommitting = true;
    try {
      return await this.commitChanges(meta);
    } finally {
      this.isCommitting = false;
    }
  }

  private async commitChanges(meta: TransactionMeta): Promise<Tid> {
    const newObjects: Persistent[] = [];
    try {
      const host = {
        jar: this,
        registry: this.settings.registry,
        oids: this.oids,
        isInUse: (oid: Oid) => this.identity.get(oid)?.deref() !== undefined,
        remember: this.remember.bind(this),
      };
      const { stores, objects } = await encodeChanges(this.changed, host, newObjects);
      const readCurrent = [...this.mustBeCurrent]
        .filter(([oid]) => !objects.has(oid))
        .map(([oid, object]) => ({ oid, tid: object[META].serial }));
      const { tid, resolved } = await commitResolvingConflicts(this.settings.storage, { stores, readCurrent, meta }, objects);
      this.ownTids.add(tid);
      for (const [oid, object] of objects) {
        const objectMeta = object[META];
        objectMeta.serial = tid;
        objectMeta.isChanged = false;
        objectMeta.isNew = false;
        this.loaded.delete(oid);
        this.loaded.set(oid, object);
      }
      // Their saved state is the merge, not what this connection holds: load it again next time.
      for (const oid of resolved) this.invalidate(oid);
      this.changed.length = 0;
      return tid;
    } catch (error) {
      if (isConflict(error)) {
        // A brand-new object cannot conflict unless its OID was in use already: the pool is stale.
        const newOids = new Set(newObjects.map((object) => object[META].oid));
        if (error.conflicts.some((c) => !c.isReadConflict && c.baseTid === 0n && newOids.has(c.oid))) this.oids.discard();
      }
      for (const object of newObjects) this.forgetNew(object);
      throw error;
    }
  }

  /** A new object whose commit failed is new again (its OID is not reused). */
  private forgetNew(object: Persistent): void {
    const meta = object[META];
    if (!meta.isNew) return;
    this.identity.delete(meta.oid!);
    this.loaded.delete(meta.oid!);
    meta.oid = undefined;
    meta.jar = undefined;
    meta.isNew = false;
    meta.isChanged = false;
  }

  /** Ends the transaction: unsaved changes are dropped (their objects become ghosts). */
  end(): void {
    for (const object of this.changed) {
      const meta = object[META];
      if (meta.isNew) continue;
      if (meta.isChanged) {
        ghostify(object);
        this.loaded.delete(meta.oid!);
      }
    }
    this.changed.length = 0;
    this.pendingWrites.clear();
    this.mustBeCurrent.clear();
    this.isInTransaction = false;
    this.evict();
    this.sweepIdentity();
  }

  /** Forgets collected objects; runs when the map has doubled, so its cost is amortized. */
  private sweepIdentity(): void {
    if (this.identity.size < this.identitySweepAt) return;
    for (const [oid, ref] of this.identity) if (ref.deref() === undefined) this.identity.delete(oid);
    this.identitySweepAt = Math.max(1024, this.identity.size * 2);
  }

  /** Turns the least recently used loaded objects into ghosts until the cache fits. */
  private evict(): void {
    let excess = this.loaded.size - this.settings.cacheSize;
    if (excess <= 0) return;
    for (const [oid, object] of this.loaded) {
      if (excess <= 0) break;
      if (object[META].isChanged) continue;
      ghostify(object);
      this.loaded.delete(oid);
      excess--;
    }
  }

  /** Drops every cached object (on DB close). */
  clear(): void {
    for (const object of this.loaded.values()) ghostify(object);
    this.loaded.clear();
    this.identity.clear();
  }

  private assertInTransaction(action: string): void {
    if (!this.isInTransaction) {
      throw new TransactionStateError(`cannot ${action}: the transaction has ended; use a new transaction`);
    }
  }
}
