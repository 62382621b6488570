// Checks every storage makes of a commit: the shape of its arguments (a wrong argument is a
// typed InvalidArgumentError, never a corrupt record) and, for storages that hold their data in
// this process, conflicts at vote time.

import { ConflictError, InvalidArgumentError, type ConflictDetail } from '../errors.js';
import type { CommitRequest, Oid, ReadCurrentRequest, StoreRequest, Tid } from './contract.js';
import { checkU64 } from './tid.js';

/**
 * Conflicts of a transaction against the current TIDs (`currentTid` returns undefined for an
 * object that does not exist). Throws ConflictError listing every conflicting object.
 */
export function checkConflicts(
  stores: readonly StoreRequest[],
  readCurrent: readonly ReadCurrentRequest[],
  currentTid: (oid: Oid) => Tid | undefined,
): void {
  const conflicts: ConflictDetail[] = [];
  for (const s of stores) {
    const current = currentTid(s.oid) ?? 0n;
    if (current !== s.baseTid) {
      conflicts.push({ oid: s.oid, baseTid: s.baseTid, currentTid: current, isReadConflict: false });
    }
  }
  for (const r of readCurrent) {
    const current = currentTid(r.oid) ?? 0n;
    if (current !== r.tid) {
      conflicts.push({ oid: r.oid, baseTid: r.tid, currentTid: current, isReadConflict: true });
    }
  }
  if (conflicts.length > 0) throw new ConflictError(conflicts);
}

/** Validates the shape of a store; a wrong argument is a typed error, never a corrupt record. */
export function checkStore(oid: Oid, baseTid: Tid, data: Uint8Array, refs: readonly Oid[]): void {
  checkU64(oid, 'oid');
  checkU64(baseTid, 'baseTid');
  if (!(data instanceof Uint8Array)) {
    throw new InvalidArgumentError('data', `expected a Uint8Array for object ${oid}`);
  }
  if (!Array.isArray(refs)) throw new InvalidArgumentError('refs', 'expected an array of OIDs');
  for (const ref of refs) checkU64(ref, 'refs[]');
}

/** Checks a one-call commit request and rejects the same OID stored twice. */
export function checkCommitRequest(request: CommitRequest): void {
  if (!request || !Array.isArray(request.stores)) {
    throw new InvalidArgumentError('commit request', 'expected { stores: [...] }');
  }
  const seen = new Set<Oid>();
  for (const s of request.stores) {
    checkStore(s.oid, s.baseTid, s.data, s.refs);
    if (seen.has(s.oid)) {
      throw new InvalidArgumentError('stores', `object ${s.oid} is stored twice in one transaction`);
    }
    seen.add(s.oid);
  }
  for (const r of request.readCurrent ?? []) {
    checkU64(r.oid, 'readCurrent.oid');
    checkU64(r.tid, 'readCurrent.tid');
  }
}

/** Throws unless `n` is a whole number >= 0 (or Infinity, for limits). */
export function checkCount(n: number, argument: string, isLimit = false): void {
  if (!(isLimit && n === Infinity) && !(Number.isSafeInteger(n) && n >= 0)) {
    throw new InvalidArgumentError(argument, `expected a whole number >= 0, got ${String(n)}`);
  }
}
