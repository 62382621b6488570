// The records a BTree is made of (storage/objects/btree.ts holds the tree logic):
//  - BTreeBucket: a leaf, sorted keys with their values, one record. A write to the tree changes
//    one bucket, so concurrent writers of different buckets never meet, and writers of the same
//    bucket are merged by BTreeBucket.resolveConflict (a three-way merge by key).
//  - BTreeNode: an inner node, separator keys and child references. Child i holds the keys k
//    with keys[i-1] <= k < keys[i]. Nodes change only when a child splits; such commits may
//    conflict, and the transaction is retried.
// A bucket's `splits` counts its splits: a merge across a split would put keys in a bucket that
// no longer covers them, so it is refused (a ConflictError reaches the transaction).

import { InvalidArgumentError } from '../../errors.js';
import { Persistent } from './persistent.js';
import { mergeByKey } from './keyed-merge.js';

export type BTreeKey = string | number;

export function checkKey(key: unknown): asserts key is BTreeKey {
  if (typeof key === 'string') return;
  if (typeof key === 'number' && !Number.isNaN(key)) return;
  throw new InvalidArgumentError('key', `BTree keys are strings or numbers (not NaN), got ${String(key)}`);
}

/** Numbers sort before strings; within a type, the natural order. */
export function compareKeys(a: BTreeKey, b: BTreeKey): number {
  if (typeof a !== typeof b) return typeof a === 'number' ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Index of the first key >= `key` (keys.length if none). */
export function lowerBound(keys: readonly BTreeKey[], key: BTreeKey): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareKeys(keys[mid]!, key) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Index of the first key > `key` (keys.length if none): the child of a node that holds `key`. */
export function upperBound(keys: readonly BTreeKey[], key: BTreeKey): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareKeys(keys[mid]!, key) <= 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

interface BucketState {
  keys: BTreeKey[];
  values: unknown[];
  splits: number;
}

function asBucketState(state: unknown): BucketState {
  const s = state as Partial<BucketState> | null;
  if (!s || !Array.isArray(s.keys) || !Array.isArray(s.values) || typeof s.splits !== 'number') {
    throw new TypeError('not a BTreeBucket state');
  }
  return s as BucketState;
}

export class BTreeBucket extends Persistent {
  static persistentName = 'zeo.BTreeBucket';
  keys: BTreeKey[] = [];
  values: unknown[] = [];
  splits = 0;

  /** Three-way merge: both sides' changes if they touched different keys; else a conflict. */
  static resolveConflict(oldState: unknown, committedState: unknown, newState: unknown): BucketState {
    const old = asBucketState(oldState);
    const committed = asBucketState(committedState);
    const mine = asBucketState(newState);
    if (committed.splits !== old.splits || mine.splits !== old.splits) {
      throw new Error('the bucket was split; it cannot be merged');
    }
    const entries = (state: BucketState) => new Map(state.keys.map((k, i) => [k, state.values[i]]));
    const merged = mergeByKey(entries(old), entries(committed), entries(mine));
    const keys = [...merged.keys()].sort(compareKeys);
    return { keys, values: keys.map((k) => merged.get(k)), splits: old.splits };
  }
}

export class BTreeNode extends Persistent {
  static persistentName = 'zeo.BTreeNode';
  keys: BTreeKey[] = [];
  children: (BTreeNode | BTreeBucket)[] = [];
}
