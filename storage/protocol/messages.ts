// The storage protocol spoken between ClientStorage (storage/client/) and the storage server
// (storage/server/). Both sides import this folder, so the protocol is defined once, here.
//
// TRANSPORT. TCP, optionally TLS. The byte stream is cut into frames (framing.ts): a 4-byte
// big-endian length N, then N bytes of msgpack. N above the receiver's maxFrameBytes, N = 0, a
// body that is not msgpack or not a message of the expected shape: the receiver closes that one
// connection. 64-bit OIDs and TIDs travel as msgpack uint64 and decode as bigint.
//
// HANDSHAKE (handshake.ts). Before it succeeds the server reads exactly one frame (at most
// HANDSHAKE_FRAME_BYTES) and nothing else; a handshake not done within the timeout is closed.
//   S->C  {t:'hello', version, nonce: 32 random bytes, isKeyRequired}
//   C->S  {t:'auth', version, storage: name, nonce: 32 random bytes (client nonce),
//          proof: HMAC-SHA256(key, serverNonce || clientNonce) | null, isReadOnly, wantsPush}
//   S->C  {t:'welcome', proof: HMAC-SHA256(key, clientNonce || serverNonce) | null,
//          isReadOnly, lastTid, maxFrameBytes}      or   {t:'refused', error}
// The key never crosses the wire, only proofs bound to both fresh nonces. A client that holds a
// key insists on the server's proof, so a server that does not know the key cannot pose as one.
// A connection serves one named storage; `wantsPush` asks for invalidations on this connection
// (the embedded mode); a client fed by Redis says false.
//
// REQUESTS. Any number in flight per connection; replies may come in any order.
//   C->S  {t:'req', id: uint, op, args: [...]}
//   S->C  {t:'res', id, value}   |   {t:'err', id, error: {code, message, fields}}
// Errors carry the ZeoError code and the facts a caller needs (ConflictError's conflicts, the
// OID of NotFoundError, ...) so the client rebuilds the same error class (decodeError).
//
//   op                  args                              value
//   load                [oid]                             {data, tid, lastTid}
//   loadBefore          [oid, beforeTid]                  {result: {data,start,end}|null, lastTid}
//   loadMany            [oids]                            {results: LoadManyEntry[], lastTid}
//   lastTransaction     []                                tid
//   history             [oid, limit|null]                 HistoryEntry[]
//   iterate             [fromTid, toTid|null, maxTxns]    TransactionRecord[] (one page)
//   newOids             [count]                           oid[]
//   commit              [CommitRequest, lastTid]          WireCommitResult
//   tpcBegin            [meta]                            txnId
//   tpcVote             [txnId, stores, readCurrent]      null    (holds the commit lock)
//   tpcFinish           [txnId, lastTid]                  WireCommitResult
//   tpcAbort            [txnId]                           null
//   pack                [beforeTid]                       PackResult
//   invalidationsSince  [tid]                             Invalidation[] | null
//   setPush             [isOn]                            null    (pushes on this connection on/off)
//   stats               []                                ServerStats
//   ping                []                                lastTid
//
// `lastTid` in a load reply is the server's last TID when it read: the client caches the
// revision as current only if no invalidation for the OID reached it meanwhile (see
// storage/client/invalidation-applier.ts). `lastTid` in commit/tpcFinish is the client's: the
// reply lists every invalidation after it up to and including the new TID, so the committer is
// current at once (`invalidations: null`: the queue no longer reaches back; drop caches).
//
// PUSH (server -> client, no id), only to connections that asked for it (wantsPush at auth, or
// setPush later):
//   S->C  {t:'inv', invalidation: {tid, prevTid, oids}}
// sent in TID order for every committed transaction. The same object is published on Redis
// (channel invalidationChannel(prefix, storage)) when Redis is configured; clients fed by Redis
// fill any prevTid gap (and every Redis reconnect) with invalidationsSince, and while their Redis
// link is down they ask for pushes on their storage connection (setPush true, false once Redis
// is back; a poll of invalidationsSince is the backstop), so an outage costs no staleness. When
// its own Redis link comes back, the server publishes the last invalidation again so that
// subscribers notice what was dropped meanwhile.

import { Packr } from 'msgpackr';
import {
  ConflictError,
  InvalidArgumentError,
  NotFoundError,
  ReadOnlyError,
  ZeoError,
  type ConflictDetail,
  type ErrorCode,
} from '../../errors.js';
import type { Invalidation, Oid, Tid } from '../contract.js';

export const PROTOCOL_VERSION = 1;
/** Limit for frames read before the handshake succeeds. */
export const HANDSHAKE_FRAME_BYTES = 4096;
export const NONCE_BYTES = 32;

// copyBuffers: record data must not pin the whole frame it arrived in (a cache keeps it).
const packr = new Packr({ useRecords: false, int64AsType: 'bigint', copyBuffers: true });

export function encodeMessage(message: unknown): Buffer {
  return packr.pack(message);
}

/** Decodes a frame body; throws on anything that is not one msgpack map with a string `t`. */
export function decodeMessage(body: Buffer): WireMessage {
  const message = packr.unpack(body) as WireMessage;
  if (message === null || typeof message !== 'object' || typeof message.t !== 'string') {
    throw new Error('not a protocol message');
  }
  return message;
}

export type Op =
  | 'load'
  | 'loadBefore'
  | 'loadMany'
  | 'lastTransaction'
  | 'history'
  | 'iterate'
  | 'newOids'
  | 'commit'
  | 'tpcBegin'
  | 'tpcVote'
  | 'tpcFinish'
  | 'tpcAbort'
  | 'pack'
  | 'invalidationsSince'
  | 'setPush'
  | 'stats'
  | 'ping';

export interface WireError {
  code: ErrorCode | null;
  message: string;
  fields?: Record<string, unknown>;
}

export interface HelloMessage { t: 'hello'; version: number; nonce: Uint8Array; isKeyRequired: boolean }
export interface AuthMessage {
  t: 'auth';
  version: number;
  storage: string;
  nonce: Uint8Array;
  proof: Uint8Array | null;
  isReadOnly: boolean;
  wantsPush: boolean;
}
export interface WelcomeMessage {
  t: 'welcome';
  proof: Uint8Array | null;
  isReadOnly: boolean;
  lastTid: Tid;
  maxFrameBytes: number;
}
export interface RefusedMessage { t: 'refused'; error: WireError }
export interface RequestMessage { t: 'req'; id: number; op: Op; args: unknown[] }
export interface ResultMessage { t: 'res'; id: number; value: unknown }
export interface ErrorMessage { t: 'err'; id: number; error: WireError }
export interface InvalidationMessage { t: 'inv'; invalidation: Invalidation }

export type WireMessage =
  | HelloMessage
  | AuthMessage
  | WelcomeMessage
  | RefusedMessage
  | RequestMessage
  | ResultMessage
  | ErrorMessage
  | InvalidationMessage;

export type LoadManyEntry = { oid: Oid; data: Uint8Array; tid: Tid } | { oid: Oid; error: WireError };

export interface WireCommitResult {
  tid: Tid;
  /** Invalidations after the client's lastTid up to and including `tid`; null = out of reach. */
  invalidations: Invalidation[] | null;
}

export interface StorageStats {
  connections: number;
  loads: number;
  commits: number;
  conflicts: number;
  queueLength: number;
  lastTid: Tid;
}

export interface ServerStats {
  connections: number;
  refusedConnections: number;
  closedForProtocolErrors: number;
  storages: Record<string, StorageStats>;
}

/** An error as it crosses the wire: code, message and the fields its class carries. */
export function encodeError(error: unknown): WireError {
  if (error instanceof ZeoError) {
    const fields: Record<string, unknown> = {};
    if (error instanceof ConflictError) fields.conflicts = error.conflicts;
    if (error instanceof NotFoundError) fields.oid = error.oid;
    if (error instanceof InvalidArgumentError) fields.argument = error.argument;
    return { code: error.code, message: error.message, fields };
  }
  return { code: null, message: error instanceof Error ? error.message : String(error) };
}

/** The error class the server threw, rebuilt with its facts and its message. */
export function decodeError(wire: WireError): Error {
  const fields = wire.fields ?? {};
  let error: Error;
  switch (wire.code) {
    case 'ZEO_CONFLICT':
      error = new ConflictError(fields.conflicts as ConflictDetail[]);
      break;
    case 'ZEO_NOT_FOUND':
      error = new NotFoundError(fields.oid as bigint);
      break;
    case 'ZEO_READ_ONLY':
      error = new ReadOnlyError();
      break;
    case 'ZEO_INVALID_ARGUMENT':
      error = new InvalidArgumentError(String(fields.argument), '');
      break;
    case null:
      return new Error(`storage server: ${wire.message}`);
    default:
      error = new ZeoError(wire.code, wire.message);
  }
  error.message = wire.message;
  return error;
}
