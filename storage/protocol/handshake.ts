// Challenge-response authentication of a storage connection (the message flow is documented in
// messages.ts). Both sides prove they know the shared key without sending it: each proof is
// HMAC-SHA256 over both fresh nonces, in a different order per direction, so a proof can be
// neither replayed on another connection nor reflected back at its sender.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AccessDeniedError } from '../../errors.js';
import { NONCE_BYTES } from './messages.js';

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/** What the client sends: HMAC-SHA256(key, serverNonce || clientNonce). */
export function clientProof(key: string, serverNonce: Uint8Array, clientNonce: Uint8Array): Buffer {
  return createHmac('sha256', key).update(serverNonce).update(clientNonce).digest();
}

/** What the server sends back: HMAC-SHA256(key, clientNonce || serverNonce). */
export function serverProof(key: string, serverNonce: Uint8Array, clientNonce: Uint8Array): Buffer {
  return createHmac('sha256', key).update(clientNonce).update(serverNonce).digest();
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

export interface ServerKeys {
  /** The read-write key; null = no key required. */
  key: string | null;
  /** Keys that grant read-only access. */
  readOnlyKeys: readonly string[];
}

export interface Admission {
  /** The key the client proved (the server proves the same one back); null without keys. */
  provenKey: string | null;
  isReadOnly: boolean;
}

export function isKeyRequired(keys: ServerKeys): boolean {
  return keys.key !== null || keys.readOnlyKeys.length > 0;
}

/** Checks the client's proof against every key; throws AccessDeniedError if none matches. */
export function admitClient(
  keys: ServerKeys,
  serverNonce: Uint8Array,
  clientNonce: unknown,
  proof: unknown,
): Admission {
  if (!isKeyRequired(keys)) return { provenKey: null, isReadOnly: false };
  if (!(clientNonce instanceof Uint8Array) || clientNonce.byteLength !== NONCE_BYTES) {
    throw new AccessDeniedError('the client nonce is missing or malformed');
  }
  if (!(proof instanceof Uint8Array)) {
    throw new AccessDeniedError('this server requires a key; configure client.key');
  }
  // Every candidate is checked (no early exit) so timing does not tell which key was close.
  let admission: Admission | null = null;
  const candidates: Array<[string, boolean]> = [];
  if (keys.key !== null) candidates.push([keys.key, false]);
  for (const key of keys.readOnlyKeys) candidates.push([key, true]);
  for (const [key, isReadOnly] of candidates) {
    if (sameBytes(clientProof(key, serverNonce, clientNonce), proof) && admission === null) {
      admission = { provenKey: key, isReadOnly };
    }
  }
  if (!admission) throw new AccessDeniedError('wrong key');
  return admission;
}

/** The client's check of the server's proof; a client with a key insists on one. */
export function verifyServer(
  key: string | null,
  serverNonce: Uint8Array,
  clientNonce: Uint8Array,
  proof: unknown,
): void {
  if (key === null) return;
  if (!(proof instanceof Uint8Array)) {
    throw new AccessDeniedError('the server did not prove it knows the key (is it configured with one?)');
  }
  if (!sameBytes(serverProof(key, serverNonce, clientNonce), proof)) {
    throw new AccessDeniedError('the server proved a different key');
  }
}
