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

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** How a wrong value shows in a message: its type, not its content (which may be huge). */
function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 40))}`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value).slice(0, 40)}`;
}

/**
 * Checks a one-call commit request (it may come off the wire: anything at all) and rejects the
 * same OID stored twice.
 */
export function checkCommitRequest(request: CommitRequest): void {
  if (!isRecord(request) || !Array.isArray(request.stores)) {
    throw new InvalidArgumentError('commit request', 'expected { stores: [...] }');
  }
  const seen = new Set<Oid>();
  const stores: readonly unknown[] = request.stores;
  for (let i = 0; i < stores.length; i++) {
    const s = stores[i];
    if (!isRecord(s)) throw new InvalidArgumentError(`stores[${i}]`, `expected { oid, baseTid, data, refs }, got ${describe(s)}`);
    checkStore(s.oid as Oid, s.baseTid as Tid, s.data as Uint8Array, s.refs as Oid[]);
    if (seen.has(s.oid as Oid)) {
      throw new InvalidArgumentError('stores', `object ${s.oid} is stored twice in one transaction`);
    }
    seen.add(s.oid as Oid);
  }
  const readCurrent: unknown = request.readCurrent ?? [];
  if (!Array.isArray(readCurrent)) throw new InvalidArgumentError('readCurrent', `expected an array of { oid, tid }, got ${describe(readCurrent)}`);
  for (let i = 0; i < readCurrent.length; i++) {
    const r: unknown = readCurrent[i];
    if (!isRecord(r)) throw new InvalidArgumentError(`readCurrent[${i}]`, `expected { oid, tid }, got ${describe(r)}`);
    checkU64(r.oid, 'readCurrent.oid');
    checkU64(r.tid, 'readCurrent.tid');
  }
  if (request.meta !== undefined && !isRecord(request.meta)) {
    throw new InvalidArgumentError('meta', `expected an object { user?, description?, extension? }, got ${describe(request.meta)}`);
  }
}

/** Throws unless `n` is a whole number >= 0 (or Infinity, for limits). */
export function checkCount(n: number, argument: string, isLimit = false): void {
  if (!(isLimit && n === Infinity) && !(Number.isSafeInteger(n) && n >= 0)) {
    throw new InvalidArgumentError(argument, `expected a whole number >= 0, got ${String(n)}`);
  }
}
