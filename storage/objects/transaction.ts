// Transaction: one unit of work on one consistent snapshot, over one pooled Connection.
//
// Every read sees the database as of `snapshotTid` (the storage's lastTransaction() at begin);
// writes are buffered in the objects themselves and saved together by commit(), which returns
// the new TID. After commit or abort the transaction is over and its connection goes back to
// the DB's pool. `db.transaction(fn)` and `db.read(fn)` manage all this; `db.begin()` hands a
// Transaction to code that manages it itself (the app server).

import { InvalidArgumentError, TransactionStateError } from '../../errors.js';
import { ROOT_OID, type Oid, type Tid, type TransactionMeta } from '../contract.js';
import type { Connection } from './connection.js';
import { ensureLoaded, META, Persistent } from './persistent.js';
import { PersistentMap } from './persistent-map.js';

export type TransactionStatus = 'active' | 'committed' | 'aborted';

export class Transaction {
  private state: TransactionStatus = 'active';
  private meta: TransactionMeta = {};
  /** The TID this transaction committed, once it has (null: nothing to commit, or not yet). */
  lastCommitTid: Tid | null = null;

  /** @internal Made by DB.begin. */
  constructor(
    private readonly connection: Connection,
    /** The snapshot every read of this transaction sees. */
    readonly snapshotTid: Tid,
    readonly isReadOnly: boolean,
    private readonly onEnd: (connection: Connection, committedTid: Tid | null) => void,
  ) {}

  get status(): TransactionStatus {
    return this.state;
  }

  /** The root object: a PersistentMap every other object is reached from. */
  async root(): Promise<PersistentMap<string, unknown>> {
    this.assertActive('read the root');
    const root = await this.connection.get(ROOT_OID);
    if (!(root instanceof PersistentMap)) {
      throw new InvalidArgumentError('root', `the root object is a ${root.constructor.name}, not a PersistentMap`);
    }
    return root as PersistentMap<string, unknown>;
  }

  /** Loads the state of `object` (a ghost reached by reference) and returns it. */
  async load<T extends object>(object: T): Promise<T> {
    this.assertActive('load an object');
    if (!(object instanceof Persistent)) {
      throw new InvalidArgumentError('object', 'tx.load expects a persistent object');
    }
    const jar = object[META].jar;
    if (jar !== undefined && jar !== this.connection) {
      throw new InvalidArgumentError('object', 'it belongs to another transaction; reach it from this one');
    }
    await ensureLoaded(object);
    return object;
  }

  /** The object with this OID, loaded (NotFoundError if it does not exist in the snapshot). */
  async get(oid: Oid): Promise<Persistent> {
    this.assertActive('load an object');
    return this.connection.get(oid);
  }

  /**
   * Makes the commit fail with a (read) ConflictError if `object` was changed by another
   * transaction after this snapshot, although this one only read it. Use it when a write here
   * depends on the object's value (checking a balance that another transaction may lower).
   */
  readCurrent(object: Persistent): void {
    this.assertActive('readCurrent');
    this.connection.readCurrent(object);
  }

  /** True when the transaction changed or created persistent objects. */
  hasChanges(): boolean {
    return this.connection.hasChanges;
  }

  /** Who and why, recorded with the commit (see the storage's iterator). */
  setMeta(meta: TransactionMeta): void {
    this.meta = { ...this.meta, ...meta };
  }

  /** Saves every change; returns the new TID, or null when nothing changed. Ends the transaction. */
  async commit(): Promise<Tid | null> {
    this.assertActive('commit');
    try {
      if (this.isReadOnly && this.connection.hasChanges) {
        throw new TransactionStateError('a read-only transaction cannot commit');
      }
      this.lastCommitTid = this.isReadOnly ? null : await this.connection.commit(this.meta);
      this.finish('committed');
      return this.lastCommitTid;
    } catch (error) {
      this.finish('aborted');
      throw error;
    }
  }

  /** Drops every change (changed objects turn back into ghosts). Safe to call twice. */
  async abort(): Promise<void> {
    if (this.state !== 'active') return;
    this.finish('aborted');
  }

  private finish(status: TransactionStatus): void {
    this.state = status;
    this.connection.end();
    this.onEnd(this.connection, status === 'committed' ? this.lastCommitTid : null);
  }

  private assertActive(action: string): void {
    if (this.state !== 'active') {
      throw new TransactionStateError(`cannot ${action}: the transaction is ${this.state}`);
    }
  }
}
