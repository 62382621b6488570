// PersistentMap: a Map that saves itself (one record holding every entry) and tracks its own
// changes. Keys are any msgpack-able value compared as a JS Map compares them (strings and
// numbers in practice); values may be plain values or persistent objects, which are saved as
// references and loaded by get() and iteration. The root object of every DB is one, so
// concurrent changes of different keys merge (resolveConflict); the same key conflicts. For
// large or busy collections use BTree, whose buckets are separate records.

import { hasPrimitiveKeys, mergeByKey } from './keyed-merge.js';
import { ensureLoaded, GET_STATE, isPersistent, META, Persistent, rawTarget, SET_STATE } from './persistent.js';

export class PersistentMap<K = unknown, V = unknown> extends Persistent {
  static persistentName = 'zeo.PersistentMap';
  private entriesByKey = new Map<K, V>();

  constructor(entries?: Iterable<readonly [K, V]>) {
    super();
    if (entries) for (const [key, value] of entries) this.entriesByKey.set(key, value);
  }

  override [GET_STATE](): unknown {
    return [...rawTarget(this).entriesByKey];
  }

  override [SET_STATE](state: unknown): void {
    rawTarget(this).entriesByKey = new Map(Array.isArray(state) ? (state as [K, V][]) : []);
  }

  /**
   * Concurrent changes of different keys merge (the root map is shared by everything); a key
   * changed by both transactions is a conflict.
   */
  static resolveConflict(oldState: unknown, committedState: unknown, newState: unknown): unknown {
    const states = [oldState, committedState, newState];
    if (!states.every((s) => Array.isArray(s) && hasPrimitiveKeys(s as [unknown, unknown][]))) {
      throw new Error('only maps with primitive keys merge');
    }
    const [old, committed, mine] = states.map((s) => new Map(s as [unknown, unknown][]));
    return [...mergeByKey(old!, committed!, mine!)];
  }

  private async loadedEntries(): Promise<Map<K, V>> {
    await ensureLoaded(this);
    return this.entriesByKey;
  }

  /** The value for `key`, loaded if it is a persistent object. */
  async get(key: K): Promise<V | undefined> {
    const value = (await this.loadedEntries()).get(key);
    if (isPersistent(value)) await ensureLoaded(value);
    return value;
  }

  /** The value for `key` as it is, without loading (a persistent value may be a ghost). */
  peek(key: K): V | undefined {
    return this.entriesByKey.get(key);
  }

  set(key: K, value: V): this {
    this.markChanged();
    this.entriesByKey.set(key, value);
    return this;
  }

  has(key: K): boolean {
    return this.entriesByKey.has(key);
  }

  delete(key: K): boolean {
    if (!this.entriesByKey.has(key)) return false;
    this.markChanged();
    return this.entriesByKey.delete(key);
  }

  clear(): void {
    if (this.entriesByKey.size === 0) return;
    this.markChanged();
    this.entriesByKey.clear();
  }

  get size(): number {
    return this.entriesByKey.size;
  }

  keys(): IterableIterator<K> {
    return this.entriesByKey.keys();
  }

  /** Entries in insertion order; persistent values are loaded before they are yielded. */
  async *entries(): AsyncIterableIterator<[K, V]> {
    for (const [key, value] of [...(await this.loadedEntries())]) {
      if (isPersistent(value)) await ensureLoaded(value);
      yield [key, value];
    }
  }

  async *values(): AsyncIterableIterator<V> {
    for await (const [, value] of this.entries()) yield value;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<[K, V]> {
    return this.entries();
  }

  /** For JSON.stringify / Response.json: an object of the entries (values as they are). */
  toJSON(): Record<string, unknown> {
    return Object.fromEntries(this.entriesByKey);
  }

  /** True when the map's own state is loaded (for code that wants to avoid an await). */
  get isLoaded(): boolean {
    return !this[META].isGhost;
  }
}
