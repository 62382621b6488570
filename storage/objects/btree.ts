// BTree: an ordered persistent mapping (string and number keys) for large or busy collections.
// The tree object holds a reference to the root (a bucket or an inner node) and to a Counter
// with the number of entries; buckets and nodes (storage/objects/btree-bucket.ts) are separate
// records, so a write changes one bucket (plus the counter, whose conflicts merge) and writers
// of different keys do not conflict. Buckets split when they exceed maxBucketSize and nodes
// when they exceed maxNodeSize; deletes leave buckets in place (an empty bucket costs one small
// record and saves a conflict-prone rebalance).
//
// Reads load what they return: get(), entries(), values(). A write whose path is already loaded
// happens before set()/delete() return (the promise is already settled); one that must load its
// path first is tracked by the connection, and commit waits for it. So code that forgets an
// await still saves what it meant to.

import { InvalidArgumentError, TransactionStateError } from '../../errors.js';
import {
  BTreeBucket,
  BTreeNode,
  checkKey,
  compareKeys,
  lowerBound,
  upperBound,
  type BTreeKey,
} from './btree-bucket.js';
import { Counter } from './counter.js';
import { ensureLoaded, isPersistent, META, Persistent } from './persistent.js';

export interface BTreeOptions {
  /** Entries per bucket before it splits (default 64). */
  maxBucketSize?: number;
  /** Children per inner node before it splits (default 128). */
  maxNodeSize?: number;
}

/** A key range: `from` and `to` are both inclusive; reverse walks from the largest key. */
export interface BTreeRange<K> {
  from?: K;
  to?: K;
  reverse?: boolean;
}

interface Path {
  bucket: BTreeBucket;
  /** Inner nodes from the root down, with the index of the child taken. */
  nodes: [BTreeNode, number][];
}

const isGhost = (object: Persistent) => object[META].isGhost;

export class BTree<K extends BTreeKey = BTreeKey, V = unknown> extends Persistent {
  static persistentName = 'zeo.BTree';
  root: BTreeNode | BTreeBucket = new BTreeBucket();
  count: Counter = new Counter();
  maxBucketSize = 64;
  maxNodeSize = 128;

  constructor(options: BTreeOptions = {}) {
    super();
    for (const name of ['maxBucketSize', 'maxNodeSize'] as const) {
      const value = options[name];
      if (value === undefined) continue;
      if (!Number.isInteger(value) || value < 4) throw new InvalidArgumentError(name, 'expected an integer >= 4');
      this[name] = value;
    }
  }

  /** The path to the bucket for `key` if every record on it is loaded, else null. */
  private findLoaded(key: BTreeKey): Path | null {
    if (isGhost(this)) return null;
    const nodes: [BTreeNode, number][] = [];
    let node = this.root;
    const jar = this[META].jar;
    for (;;) {
      if (isGhost(node)) return null;
      jar?.touch(node);
      if (node instanceof BTreeBucket) return { bucket: node, nodes };
      const index = upperBound(node.keys, key);
      nodes.push([node, index]);
      node = node.children[index]!;
    }
  }

  private async find(key: BTreeKey): Promise<Path> {
    await ensureLoaded(this);
    const nodes: [BTreeNode, number][] = [];
    let node = this.root;
    for (;;) {
      await ensureLoaded(node);
      if (node instanceof BTreeBucket) return { bucket: node, nodes };
      const index = upperBound(node.keys, key);
      nodes.push([node, index]);
      node = node.children[index]!;
    }
  }

  /**
   * Runs `write` on the path at once when it is loaded (see the header), else after loading.
   * On a loaded path an error (a bad key, a read-only transaction) is thrown at once rather than
   * as a rejected promise, so a forgotten await cannot turn it into an unhandled rejection.
   */
  private write<R>(key: K, write: (path: Path) => R): Promise<R> {
    checkKey(key);
    const path = this.findLoaded(key);
    if (path !== null && !isGhost(this.count)) return Promise.resolve(write(path));
    const jar = this[META].jar;
    const transactionNumber = jar?.transactionNumber;
    const pending = (async () => {
      const found = await this.find(key);
      await ensureLoaded(this.count);
      // Aborted meanwhile, and the connection may serve another transaction now.
      if (jar !== undefined && jar.transactionNumber !== transactionNumber) {
        throw new TransactionStateError('a BTree write outlived its transaction (an `await` is missing)');
      }
      return write(found);
    })();
    return jar?.track(pending) ?? pending;
  }

  async get(key: K): Promise<V | undefined> {
    checkKey(key);
    const { bucket } = this.findLoaded(key) ?? (await this.find(key));
    const index = lowerBound(bucket.keys, key);
    if (index >= bucket.keys.length || compareKeys(bucket.keys[index]!, key) !== 0) return undefined;
    const value = bucket.values[index] as V;
    if (isPersistent(value)) await ensureLoaded(value);
    return value;
  }

  async has(key: K): Promise<boolean> {
    checkKey(key);
    const { bucket } = this.findLoaded(key) ?? (await this.find(key));
    const index = lowerBound(bucket.keys, key);
    return index < bucket.keys.length && compareKeys(bucket.keys[index]!, key) === 0;
  }

  set(key: K, value: V): Promise<void> {
    return this.write(key, ({ bucket, nodes }) => {
      const keys = bucket.keys;
      const index = lowerBound(keys, key);
      if (index < keys.length && compareKeys(keys[index]!, key) === 0) {
        if (bucket.values[index] === value) return;
        bucket.markChanged();
        bucket.values[index] = value;
        return;
      }
      bucket.markChanged();
      keys.splice(index, 0, key);
      bucket.values.splice(index, 0, value);
      this.count.add(1);
      if (keys.length > this.maxBucketSize) this.splitBucket(bucket, nodes);
    });
  }

  /** Removes `key`; resolves true if it was there. */
  delete(key: K): Promise<boolean> {
    return this.write(key, ({ bucket }) => {
      const index = lowerBound(bucket.keys, key);
      if (index >= bucket.keys.length || compareKeys(bucket.keys[index]!, key) !== 0) return false;
      bucket.markChanged();
      bucket.keys.splice(index, 1);
      bucket.values.splice(index, 1);
      this.count.add(-1);
      return true;
    });
  }

  /** The number of entries (kept in a Counter, so concurrent inserts merge). */
  async size(): Promise<number> {
    await ensureLoaded(this);
    await ensureLoaded(this.count);
    return this.count.value;
  }

  private splitBucket(bucket: BTreeBucket, nodes: [BTreeNode, number][]): void {
    const middle = bucket.keys.length >>> 1;
    const right = new BTreeBucket();
    right.keys = bucket.keys.slice(middle);
    right.values = bucket.values.slice(middle);
    bucket.keys = bucket.keys.slice(0, middle);
    bucket.values = bucket.values.slice(0, middle);
    bucket.splits += 1;
    this.insertChild(nodes, right.keys[0]!, bucket, right);
  }

  /** Puts `right` after `left` in the parent (the last of `nodes`), splitting upward as needed. */
  private insertChild(nodes: [BTreeNode, number][], separator: BTreeKey, left: BTreeNode | BTreeBucket, right: BTreeNode | BTreeBucket): void {
    const parentEntry = nodes.pop();
    if (parentEntry === undefined) {
      const root = new BTreeNode();
      root.keys = [separator];
      root.children = [left, right];
      this.root = root;
      return;
    }
    const [parent, index] = parentEntry;
    parent.markChanged();
    parent.keys.splice(index, 0, separator);
    parent.children.splice(index + 1, 0, right);
    if (parent.children.length <= this.maxNodeSize) return;
    const middle = parent.children.length >>> 1;
    const sibling = new BTreeNode();
    sibling.children = parent.children.slice(middle);
    sibling.keys = parent.keys.slice(middle);
    const up = parent.keys[middle - 1]!;
    parent.children = parent.children.slice(0, middle);
    parent.keys = parent.keys.slice(0, middle - 1);
    this.insertChild(nodes, up, parent, sibling);
  }

  /** Entries in key order within the range; persistent values are loaded. */
  async *entries(range: BTreeRange<K> = {}): AsyncIterableIterator<[K, V]> {
    if (range.from !== undefined) checkKey(range.from);
    if (range.to !== undefined) checkKey(range.to);
    await ensureLoaded(this);
    for await (const [key, value] of walk(this.root, range)) {
      if (isPersistent(value)) await ensureLoaded(value);
      yield [key as K, value as V];
    }
  }

  /** Keys in order within the range (values are not loaded). */
  async *keys(range: BTreeRange<K> = {}): AsyncIterableIterator<K> {
    await ensureLoaded(this);
    for await (const [key] of walk(this.root, range)) yield key as K;
  }

  async *values(range: BTreeRange<K> = {}): AsyncIterableIterator<V> {
    for await (const [, value] of this.entries(range)) yield value;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<[K, V]> {
    return this.entries();
  }
}

async function* walk(node: BTreeNode | BTreeBucket, range: BTreeRange<BTreeKey>): AsyncGenerator<[BTreeKey, unknown]> {
  await ensureLoaded(node);
  const { from, to, reverse = false } = range;
  if (node instanceof BTreeBucket) {
    const keys = node.keys.slice();
    const values = node.values.slice();
    const low = from === undefined ? 0 : lowerBound(keys, from);
    const high = to === undefined ? keys.length : upperBound(keys, to);
    if (reverse) for (let i = high - 1; i >= low; i--) yield [keys[i]!, values[i]];
    else for (let i = low; i < high; i++) yield [keys[i]!, values[i]];
    return;
  }
  const keys = node.keys.slice();
  const children = node.children.slice();
  const first = from === undefined ? 0 : upperBound(keys, from);
  const last = to === undefined ? children.length - 1 : upperBound(keys, to);
  if (reverse) for (let i = last; i >= first; i--) yield* walk(children[i]!, range);
  else for (let i = first; i <= last; i++) yield* walk(children[i]!, range);
}
