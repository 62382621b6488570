// The storage server's address gate: a CIDR allow list (IPv4 and IPv6; an IPv4 client seen as
// an IPv4-mapped IPv6 address "::ffff:a.b.c.d" matches IPv4 rules) and the list of addresses
// that may only read. Every address is compared as 16 bytes, IPv4 mapped into ::ffff:0:0/96.

import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from '../../errors.js';

interface Cidr {
  text: string;
  bytes: Uint8Array;
  prefixBits: number;
}

/** 16 bytes for an IPv4 or IPv6 address (IPv4 mapped), or null if it is neither. */
export function addressBytes(address: string): Uint8Array | null {
  const zone = address.indexOf('%');
  if (zone >= 0) address = address.slice(0, zone);
  if (isIPv4(address)) {
    const out = new Uint8Array(16);
    out[10] = 0xff;
    out[11] = 0xff;
    address.split('.').forEach((part, i) => (out[12 + i] = Number(part)));
    return out;
  }
  if (!isIPv6(address)) return null;
  let tail: Uint8Array | null = null;
  const lastColon = address.lastIndexOf(':');
  if (isIPv4(address.slice(lastColon + 1))) {
    tail = addressBytes(address.slice(lastColon + 1))!.subarray(12);
    address = address.slice(0, lastColon + 1) + '0:0';
  }
  const [head, rest] = address.includes('::') ? address.split('::') : [address, undefined];
  const groups = (text: string | undefined) => (text ? text.split(':').filter((g) => g !== '') : []);
  const left = groups(head);
  const right = groups(rest);
  const words = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  const out = new Uint8Array(16);
  words.forEach((word, i) => {
    const value = parseInt(word, 16);
    out[2 * i] = value >> 8;
    out[2 * i + 1] = value & 0xff;
  });
  if (tail) out.set(tail, 12);
  return out;
}

export function parseCidr(text: string, key: string): Cidr {
  const [address, bits, extra] = text.split('/');
  const bytes = address === undefined ? null : addressBytes(address);
  const isV4 = address !== undefined && isIPv4(address);
  const maxBits = isV4 ? 32 : 128;
  const prefix = bits === undefined ? maxBits : Number(bits);
  if (!bytes || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > maxBits) {
    throw new ConfigError(key, text, 'a CIDR block such as "10.0.0.0/8", "127.0.0.1" or "::1/128"');
  }
  return { text, bytes, prefixBits: isV4 ? prefix + 96 : prefix };
}

function matches(cidr: Cidr, address: Uint8Array): boolean {
  let bits = cidr.prefixBits;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((cidr.bytes[i]! & mask) !== (address[i]! & mask)) return false;
  }
  return true;
}

export interface GateOptions {
  /** Empty = every address may connect. */
  allow: readonly string[];
  readOnlyAllow: readonly string[];
}

export type GateDecision = { isAllowed: true; isReadOnly: boolean } | { isAllowed: false; reason: string };

export class Gate {
  private readonly allow: Cidr[];
  private readonly readOnlyAllow: Cidr[];

  /** Throws ConfigError naming the bad entry. */
  constructor(options: GateOptions) {
    this.allow = options.allow.map((c, i) => parseCidr(c, `storageServer.allow[${i}]`));
    this.readOnlyAllow = options.readOnlyAllow.map((c, i) => parseCidr(c, `storageServer.readOnlyAllow[${i}]`));
  }

  /**
   * Whether a peer may connect, and whether only to read. Addresses in readOnlyAllow are
   * admitted (read-only) even when the allow list does not name them.
   */
  check(remoteAddress: string | undefined): GateDecision {
    const bytes = remoteAddress ? addressBytes(remoteAddress) : null;
    if (!bytes) return { isAllowed: false, reason: 'no usable peer address' };
    const isReadOnly = this.readOnlyAllow.some((c) => matches(c, bytes));
    if (this.allow.length > 0 && !isReadOnly && !this.allow.some((c) => matches(c, bytes))) {
      return { isAllowed: false, reason: `address not in the allow list (${this.allow.map((c) => c.text).join(', ')})` };
    }
    return { isAllowed: true, isReadOnly };
  }
}
