// The three-way merge behind the conflict resolution of keyed containers (BTreeBucket,
// PersistentMap): both transactions' changes are kept when they touched different keys; a key
// changed (set or deleted) by both is a real conflict and throws, so the transaction is retried.

import { isSameValue } from './serializer.js';

interface Change {
  value: unknown;
  isDeleted: boolean;
}

/** Keys whose value differs from `before` to `after`, with the new value or a deletion. */
function changesBetween<K>(before: ReadonlyMap<K, unknown>, after: ReadonlyMap<K, unknown>): Map<K, Change> {
  const changes = new Map<K, Change>();
  for (const [key, value] of after) {
    if (!before.has(key) || !isSameValue(before.get(key), value)) changes.set(key, { value, isDeleted: false });
  }
  for (const key of before.keys()) if (!after.has(key)) changes.set(key, { value: undefined, isDeleted: true });
  return changes;
}

/** The committed entries with my changes applied; throws if both sides changed one key. */
export function mergeByKey<K>(
  old: ReadonlyMap<K, unknown>,
  committed: ReadonlyMap<K, unknown>,
  mine: ReadonlyMap<K, unknown>,
): Map<K, unknown> {
  const theirChanges = changesBetween(old, committed);
  const myChanges = changesBetween(old, mine);
  for (const key of myChanges.keys()) {
    if (theirChanges.has(key)) throw new Error(`both transactions changed key ${String(key)}`);
  }
  const merged = new Map(committed);
  for (const [key, change] of myChanges) {
    if (change.isDeleted) merged.delete(key);
    else merged.set(key, change.value);
  }
  return merged;
}

/** Map keys that a merge can compare: strings, numbers, bigints, booleans, null. */
export function hasPrimitiveKeys(entries: readonly (readonly [unknown, unknown])[]): boolean {
  return entries.every(([key]) => key === null || (typeof key !== 'object' && typeof key !== 'function'));
}
