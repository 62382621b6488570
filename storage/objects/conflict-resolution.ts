// Commit with application-level conflict resolution (ZODB's _p_resolveConflict).
//
// When the storage rejects a commit with ConflictError and every conflicting object is a write
// of an object whose class can merge states (a static or instance `resolveConflict(oldState,
// committedState, newState)`), the three states are decoded — references stay ObjectRefs, no
// object is loaded — merged, stored again based on the committed revision, and the commit is
// tried again (bounded: a busy object may keep moving). A resolver that throws, a read conflict,
// or any conflict on an object without a resolver gives the storage's ConflictError back to the
// caller, who retries the whole transaction.

import type { ConflictError } from '../../errors.js';
import { isConflict, type CommitRequest, type Oid, type Storage, type StoreRequest, type Tid } from '../contract.js';
import type { Persistent, PersistentClass } from './persistent.js';
import { decodeRecord, encodeResolvedState } from './serializer.js';

const MAX_RESOLUTION_ROUNDS = 10;

type Resolver = (oldState: unknown, committedState: unknown, newState: unknown) => unknown;

export function resolverOf(object: Persistent | undefined): Resolver | undefined {
  if (object === undefined) return undefined;
  const cls = object.constructor as PersistentClass;
  if (typeof cls.resolveConflict === 'function') return cls.resolveConflict.bind(cls);
  const method = (cls.prototype as { resolveConflict?: Resolver }).resolveConflict;
  if (typeof method === 'function') return (o, c, n) => method.call(Object.create(cls.prototype), o, c, n);
  return undefined;
}

export interface ResolvedCommit {
  tid: Tid;
  /** OIDs whose saved state is a merge (the committer's copy is out of date). */
  resolved: Set<Oid>;
}

export async function commitResolvingConflicts(
  storage: Storage,
  request: CommitRequest & { stores: StoreRequest[] },
  objects: ReadonlyMap<Oid, Persistent>,
): Promise<ResolvedCommit> {
  const { stores } = request;
  const resolved = new Set<Oid>();
  for (let round = 0; ; round++) {
    try {
      const result = await storage.commit(request);
      return { tid: result.tid, resolved };
    } catch (error) {
      if (!isConflict(error) || round >= MAX_RESOLUTION_ROUNDS) throw error;
      await resolveAll(storage, error, stores, objects);
      for (const conflict of error.conflicts) resolved.add(conflict.oid);
    }
  }
}

/** Rewrites the conflicting stores as merged states, or throws `error` if any cannot merge. */
async function resolveAll(
  storage: Storage,
  error: ConflictError,
  stores: StoreRequest[],
  objects: ReadonlyMap<Oid, Persistent>,
): Promise<void> {
  const plans: { store: StoreRequest; resolver: Resolver; currentTid: Tid }[] = [];
  for (const conflict of error.conflicts) {
    const resolver = resolverOf(objects.get(conflict.oid));
    const store = stores.find((s) => s.oid === conflict.oid);
    // A new object (base 0) has no common ancestor to merge from.
    if (conflict.isReadConflict || resolver === undefined || store === undefined || store.baseTid === 0n) {
      throw error;
    }
    plans.push({ store, resolver, currentTid: conflict.currentTid });
  }
  for (const { store, resolver, currentTid } of plans) {
    const [old, committed] = await Promise.all([
      storage.loadBefore(store.oid, store.baseTid + 1n),
      storage.loadBefore(store.oid, currentTid + 1n),
    ]);
    if (old === null || committed === null || committed.start !== currentTid) throw error;
    const [className, oldState] = decodeRecord(old.data, null);
    const [, committedState] = decodeRecord(committed.data, null);
    const [, newState] = decodeRecord(store.data, null);
    let merged: unknown;
    try {
      merged = resolver(oldState, committedState, newState);
    } catch {
      throw error;
    }
    const encoded = encodeResolvedState(className, merged);
    store.data = encoded.data;
    store.refs = encoded.refs;
    store.baseTid = currentTid;
  }
}
