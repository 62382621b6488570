// PersistentList: an array that saves itself (one record) and tracks its own changes. Items may
// be plain values or persistent objects (saved as references, loaded by get() and iteration).

import { InvalidArgumentError } from '../../errors.js';
import { ensureLoaded, GET_STATE, isPersistent, Persistent, rawTarget, SET_STATE } from './persistent.js';

export class PersistentList<T = unknown> extends Persistent {
  static persistentName = 'zeo.PersistentList';
  private items: T[] = [];

  constructor(items?: Iterable<T>) {
    super();
    if (items) this.items = [...items];
  }

  override [GET_STATE](): unknown {
    return rawTarget(this).items;
  }

  override [SET_STATE](state: unknown): void {
    rawTarget(this).items = Array.isArray(state) ? (state as T[]) : [];
  }

  get length(): number {
    return this.items.length;
  }

  /** The item at `index` (negative counts from the end), loaded if persistent. */
  async get(index: number): Promise<T | undefined> {
    await ensureLoaded(this);
    const item = this.items.at(index);
    if (isPersistent(item)) await ensureLoaded(item);
    return item;
  }

  /** The item as it is, without loading (a persistent item may be a ghost). */
  peek(index: number): T | undefined {
    return this.items.at(index);
  }

  set(index: number, item: T): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.items.length) {
      throw new InvalidArgumentError('index', `${index} is outside the list (length ${this.items.length})`);
    }
    this.markChanged();
    this.items[index] = item;
  }

  push(...items: T[]): number {
    this.markChanged();
    return this.items.push(...items);
  }

  pop(): T | undefined {
    if (this.items.length === 0) return undefined;
    this.markChanged();
    return this.items.pop();
  }

  splice(start: number, deleteCount = 0, ...items: T[]): T[] {
    this.markChanged();
    return this.items.splice(start, deleteCount, ...items);
  }

  /** For JSON.stringify / Response.json: the items as they are. */
  toJSON(): T[] {
    return [...this.items];
  }

  /** Every item, loaded. */
  async toArray(): Promise<T[]> {
    const out: T[] = [];
    for await (const item of this) out.push(item);
    return out;
  }

  async *[Symbol.asyncIterator](): AsyncIterableIterator<T> {
    await ensureLoaded(this);
    for (const item of [...this.items]) {
      if (isPersistent(item)) await ensureLoaded(item);
      yield item;
    }
  }
}
