// TIDs and OIDs: 64-bit unsigned integers held as bigint.
//
// A TID encodes its commit time: (milliseconds since the Unix epoch) * 2^16 + a sequence number.
// `nextTid` makes TIDs strictly increase even when the wall clock steps back or many commits
// land in one millisecond: it never returns less than last + 1.

import { InvalidArgumentError } from '../errors.js';
import type { Oid, Tid } from './contract.js';

const SEQUENCE_BITS = 16n;
export const MAX_U64 = (1n << 64n) - 1n;

/** The TID for a commit now, strictly greater than `lastTid`. */
export function nextTid(lastTid: Tid, nowMs: number = Date.now()): Tid {
  const fromClock = BigInt(Math.floor(nowMs)) << SEQUENCE_BITS;
  return fromClock > lastTid ? fromClock : lastTid + 1n;
}

/** The wall-clock time a TID was committed. */
export function tidToDate(tid: Tid): Date {
  return new Date(Number(tid >> SEQUENCE_BITS));
}

/** The smallest TID at or after the given time (for pack(beforeTid) by date). */
export function tidFromDate(date: Date | number): Tid {
  return BigInt(Math.floor(typeof date === 'number' ? date : date.getTime())) << SEQUENCE_BITS;
}

/** 16 hex digits, as OIDs and TIDs are shown in logs and headers. */
export function toHex(n: bigint): string {
  return n.toString(16).padStart(16, '0');
}

/** Parses 16 (or fewer) hex digits, or a decimal bigint string; rejects anything else. */
export function fromHex(text: string, argument = 'tid'): bigint {
  if (!/^(0x)?[0-9a-fA-F]{1,16}$/.test(text)) {
    throw new InvalidArgumentError(argument, `${JSON.stringify(text)} is not 1-16 hex digits`);
  }
  return BigInt(text.startsWith('0x') ? text : '0x' + text);
}

/** Throws unless `n` is a bigint in the unsigned 64-bit range. */
export function checkU64(n: unknown, argument: string): asserts n is Oid {
  if (typeof n !== 'bigint' || n < 0n || n > MAX_U64) {
    throw new InvalidArgumentError(argument, `expected a 64-bit unsigned bigint, got ${String(n)}`);
  }
}

/** 8 bytes big-endian, for file formats and hashing. */
export function u64ToBytes(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n);
  return out;
}
