// Invalidation fan-out over Redis pub/sub (this folder: messages.ts, connection.ts, publisher.ts,
// subscriber.ts): the storage server publishes every committed
// transaction's {tid, prevTid, oids}; every app server subscribes. Redis is only the fast path:
// correctness never depends on it. A publisher drops messages while Redis is down (a commit is
// never blocked or failed by Redis), and a subscriber reports every (re)connection so its owner
// can fill the gap from the storage server (invalidationsSince); prevTid chaining catches the rest.
//
// Wire format: one pub/sub message per transaction, the msgpack (msgpackr) encoding of the map
// { tid, prevTid, oids } with every TID/OID a 64-bit unsigned integer (uint64, decoded as bigint).
// The channel is invalidationChannel(prefix, storageName), e.g. "zeo:invalidations:main".

import { Packr } from 'msgpackr';
import { InvalidArgumentError } from '../../errors.js';
import type { Invalidation, Oid } from '../contract.js';
import { checkU64 } from '../tid.js';

/** The Redis channel carrying the invalidations of one storage. */
export function invalidationChannel(prefix: string, storageName: string): string {
  if (typeof prefix !== 'string') throw new InvalidArgumentError('prefix', 'expected a string');
  if (typeof storageName !== 'string' || storageName === '') {
    throw new InvalidArgumentError('storageName', 'expected a non-empty string');
  }
  return `${prefix}invalidations:${storageName}`;
}

const packr = new Packr({ useRecords: false, int64AsType: 'bigint' });

/** Encodes an invalidation for the wire; throws InvalidArgumentError on a malformed one. */
export function encodeInvalidation(invalidation: Invalidation): Buffer {
  checkU64(invalidation?.tid, 'invalidation.tid');
  checkU64(invalidation.prevTid, 'invalidation.prevTid');
  if (!Array.isArray(invalidation.oids)) {
    throw new InvalidArgumentError('invalidation.oids', 'expected an array of OIDs');
  }
  for (const oid of invalidation.oids) checkU64(oid, 'invalidation.oids[]');
  // msgpackr writes every bigint as a 64-bit integer (uint64 at 2^63 and above), so any TID
  // survives; int64AsType 'bigint' reads them back as bigints.
  return packr.pack({
    tid: invalidation.tid,
    prevTid: invalidation.prevTid,
    oids: invalidation.oids,
  });
}

/** Decodes a message from the wire; null for anything that is not a well-formed invalidation. */
export function decodeInvalidation(message: Uint8Array): Invalidation | null {
  let value: unknown;
  try {
    value = packr.unpack(message);
  } catch {
    return null;
  }
  const { tid, prevTid, oids } = (value ?? {}) as Record<string, unknown>;
  const asU64 = (n: unknown): bigint | undefined => {
    const big = typeof n === 'number' && Number.isSafeInteger(n) ? BigInt(n) : n;
    return typeof big === 'bigint' && big >= 0n && big < 1n << 64n ? big : undefined;
  };
  const decodedTid = asU64(tid);
  const decodedPrevTid = asU64(prevTid);
  if (decodedTid === undefined || decodedPrevTid === undefined || !Array.isArray(oids)) return null;
  const decodedOids: Oid[] = [];
  for (const oid of oids) {
    const decoded = asU64(oid);
    if (decoded === undefined) return null;
    decodedOids.push(decoded);
  }
  return { tid: decodedTid, prevTid: decodedPrevTid, oids: decodedOids };
}
