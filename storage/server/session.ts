// One client connection on the storage server: the handshake, then requests (many in flight),
// two-phase commits with their commit-lock timeout, and pushed invalidations. Whatever a peer
// sends, the worst it can do is get its own connection closed: a bad frame or message ends this
// session, aborts its open transactions, and nothing else notices. The protocol is in ../protocol/messages.ts.

import type { Socket } from 'node:net';
import { InvalidArgumentError, ProtocolError, ReadOnlyError, TransactionStateError, UnavailableError, ZeoError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ReadCurrentRequest, Storage, StorageTransaction, StoreRequest, Tid, TransactionRecord } from '../contract.js';
import { checkU64 } from '../tid.js';
import { encodeFrame, FrameReader } from '../protocol/framing.js';
import { admitClient, isKeyRequired, newNonce, serverProof, type ServerKeys } from '../protocol/handshake.js';
import type { InvalidationHub } from './invalidation-hub.js';
import {
  decodeMessage,
  encodeError,
  encodeMessage,
  HANDSHAKE_FRAME_BYTES,
  PROTOCOL_VERSION,
  type AuthMessage,
  type LoadManyEntry,
  type RequestMessage,
  type ServerStats,
  type StorageStats,
  type WireCommitResult,
} from '../protocol/messages.js';

export interface ServedStorage {
  name: string;
  storage: Storage;
  hub: InvalidationHub;
  stats: Omit<StorageStats, 'queueLength' | 'lastTid'>;
}

/** What every session shares with the server. */
export interface SessionContext {
  storages: Map<string, ServedStorage>;
  keys: ServerKeys;
  maxFrameBytes: number;
  handshakeTimeoutMs: number;
  commitLockTimeoutMs: number;
  log: Logger;
  /** A request failed with an error that has no ZeoError code: logged, rate-limited. */
  reportInternalError(what: string, error: unknown): void;
  isClosing(): boolean;
  /** Registers a commit in progress so shutdown can wait for it. */
  trackCommit<T>(commit: Promise<T>): Promise<T>;
  stats(): ServerStats;
  onProtocolError(): void;
  /** A handshake was refused (wrong key, unknown storage, old protocol). */
  onRefused(): void;
}

/** What is wrong with the protocol version an auth message announced. */
function versionProblem(version: unknown): string {
  const speaks = `this server speaks version ${PROTOCOL_VERSION}`;
  if (typeof version !== 'number') {
    const shown = typeof version === 'string' ? `the string ${JSON.stringify(version)}` : version === undefined || version === null ? 'none' : `a ${typeof version}`;
    return `the protocol version must be a number, got ${shown} (${speaks})`;
  }
  return `protocol version ${version} is not supported (${speaks}; upgrade the ${version < PROTOCOL_VERSION ? 'client' : 'server'})`;
}

const MAX_OPEN_TRANSACTIONS = 16;
/** Requests of one connection being handled at once; more wait in the socket. */
const MAX_IN_FLIGHT = 256;
const MAX_ITERATE_TRANSACTIONS = 1000;
/** Stop reading a peer that does not read its replies once this much is queued for it. */
const WRITE_BACKLOG_BYTES = 16 * 1024 * 1024;

interface OpenTransaction {
  txn: StorageTransaction;
  lockTimer?: NodeJS.Timeout;
}

export class Session {
  private readonly reader: FrameReader;
  private readonly serverNonce = newNonce();
  private served: ServedStorage | null = null;
  private isReadOnly: boolean;
  private isClosed = false;
  private handshakeTimer: NodeJS.Timeout | null;
  private stopPush: (() => void) | null = null;
  private readonly transactions = new Map<number, OpenTransaction>();
  private readonly timedOut = new Set<number>();
  private nextTxnId = 1;
  private inFlight = 0;

  constructor(
    private readonly socket: Socket,
    private readonly context: SessionContext,
    isReadOnlyAddress: boolean,
    private readonly peer: string,
    private readonly onClosed: (session: Session) => void,
  ) {
    this.isReadOnly = isReadOnlyAddress;
    this.reader = new FrameReader(HANDSHAKE_FRAME_BYTES, (body) => this.receive(body));
    socket.on('data', (chunk: Buffer) => {
      if (this.isClosed) return;
      try {
        this.reader.push(chunk);
      } catch (error) {
        this.fail(error);
      }
    });
    socket.on('drain', () => {
      if (this.inFlight < MAX_IN_FLIGHT) socket.resume();
    });
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
    this.handshakeTimer = setTimeout(
      () => this.fail(new ProtocolError(`no handshake within ${context.handshakeTimeoutMs} ms`)),
      context.handshakeTimeoutMs,
    );
    this.send({ t: 'hello', version: PROTOCOL_VERSION, nonce: this.serverNonce, isKeyRequired: isKeyRequired(context.keys) });
  }

  private send(message: unknown): void {
    if (this.isClosed) return;
    this.socket.write(encodeFrame(encodeMessage(message)));
    if (this.socket.writableLength > WRITE_BACKLOG_BYTES) this.socket.pause();
  }

  /** A reply that cannot be encoded becomes an error reply, never an unhandled rejection. */
  private reply(id: number, outcome: { value: unknown } | { error: unknown }): void {
    try {
      if ('value' in outcome) this.send({ t: 'res', id, value: outcome.value });
      else this.send({ t: 'err', id, error: encodeError(outcome.error) });
    } catch (error) {
      this.context.log.error(`a reply to ${this.peer} could not be encoded: ${String(error)}`, { peer: this.peer });
      this.send({ t: 'err', id, error: encodeError(new ProtocolError(`the reply could not be encoded (${(error as Error).message})`)) });
    }
  }

  /** Closes this connection for a protocol violation, with one log line. */
  private fail(error: unknown): void {
    if (this.isClosed) return;
    this.context.onProtocolError();
    this.context.log.warn(`closing connection from ${this.peer}: ${(error as Error).message}`, { peer: this.peer });
    this.close();
  }

  /** Shutdown: replies already written still reach the client, then the connection closes. */
  end(): void {
    if (this.isClosed) return;
    this.socket.end();
    setTimeout(() => this.close(), 2000).unref();
  }

  close(): void {
    if (this.isClosed) return;
    this.release();
    this.socket.destroy();
  }

  /**
   * What a session holds, given back exactly once however it ends (closed, failed, refused):
   * nothing more is read, timers stop, open transactions abort, the counts go down.
   */
  private release(): void {
    this.isClosed = true;
    this.reader.stop();
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.stopPush?.();
    for (const [id] of this.transactions) void this.abortTransaction(id);
    if (this.served) this.served.stats.connections--;
    this.onClosed(this);
  }

  private receive(body: Buffer): void {
    if (this.isClosed) return;
    let message;
    try {
      message = decodeMessage(body);
    } catch (error) {
      this.fail(new ProtocolError(`undecodable frame (${(error as Error).message})`));
      return;
    }
    if (!this.served) {
      if (message.t !== 'auth') return this.fail(new ProtocolError(`expected auth, got ${String(message.t)}`));
      return this.authenticate(message);
    }
    if (message.t !== 'req' || !Number.isSafeInteger(message.id) || typeof message.op !== 'string' || !Array.isArray(message.args)) {
      return this.fail(new ProtocolError('malformed request'));
    }
    const id = message.id;
    // Bound the work one peer can have in progress: stop reading it until some completes.
    if (++this.inFlight >= MAX_IN_FLIGHT) this.socket.pause();
    this.handle(message)
      .then(
        (value) => this.reply(id, { value }),
        (error: unknown) => {
          if (!(error instanceof ZeoError)) this.context.reportInternalError(`${String(message.op)} from ${this.peer}`, error);
          this.reply(id, { error });
        },
      )
      .finally(() => {
        this.inFlight--;
        if (this.inFlight < MAX_IN_FLIGHT && this.socket.writableLength <= WRITE_BACKLOG_BYTES) this.socket.resume();
      });
  }

  private authenticate(auth: AuthMessage): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    try {
      if (auth.version !== PROTOCOL_VERSION) throw new ProtocolError(versionProblem(auth.version));
      const admission = admitClient(this.context.keys, this.serverNonce, auth.nonce, auth.proof);
      const served = this.context.storages.get(String(auth.storage));
      if (!served) {
        throw new ProtocolError(`no storage named ${JSON.stringify(auth.storage)} here (served: ${[...this.context.storages.keys()].join(', ')})`);
      }
      this.isReadOnly ||= admission.isReadOnly || auth.isReadOnly === true || served.storage.isReadOnly;
      this.served = served;
      served.stats.connections++;
      if (auth.wantsPush === true) this.setPush(true);
      this.reader.maxFrameBytes = this.context.maxFrameBytes;
      this.send({
        t: 'welcome',
        proof: admission.provenKey === null ? null : serverProof(admission.provenKey, this.serverNonce, auth.nonce),
        isReadOnly: this.isReadOnly,
        lastTid: served.hub.lastTid,
        maxFrameBytes: this.context.maxFrameBytes,
      });
    } catch (error) {
      this.context.log.warn(`refused ${this.peer}: ${(error as Error).message}`, { peer: this.peer });
      this.context.onRefused();
      this.send({ t: 'refused', error: encodeError(error) });
      // Nothing more is read from this peer, not even what came in the same write; the
      // refusal is flushed, then the socket goes.
      this.release();
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 2000).unref();
    }
  }

  /** Pushed invalidations on this connection, on or off (a Redis-fed client asks while Redis is down). */
  private setPush(isOn: boolean): void {
    if (isOn && !this.stopPush) {
      this.stopPush = this.served!.hub.addPushTarget((invalidation) => this.send({ t: 'inv', invalidation }));
    } else if (!isOn && this.stopPush) {
      this.stopPush();
      this.stopPush = null;
    }
  }

  private assertWritable(): void {
    if (this.isReadOnly) throw new ReadOnlyError(`this connection to storage ${JSON.stringify(this.served!.name)}`);
    if (this.context.isClosing()) throw new UnavailableError('the storage server is shutting down; retry on another server');
  }

  private async handle(request: RequestMessage): Promise<unknown> {
    const served = this.served!;
    const { storage, hub, stats } = served;
    const args = request.args;
    if (this.context.isClosing() && request.op !== 'tpcFinish' && request.op !== 'tpcAbort') {
      throw new UnavailableError('the storage server is shutting down; retry on another server');
    }
    switch (request.op) {
      case 'load': {
        stats.loads++;
        const lastTid = hub.lastTid;
        const result = await storage.load(args[0] as bigint);
        return { data: result.data, tid: result.tid, lastTid };
      }
      case 'loadBefore': {
        stats.loads++;
        const lastTid = hub.lastTid;
        return { result: await storage.loadBefore(args[0] as bigint, args[1] as bigint), lastTid };
      }
      case 'loadMany':
        return this.loadMany(served, args[0]);
      case 'lastTransaction':
        return storage.lastTransaction();
      case 'history':
        return storage.history(args[0] as bigint, typeof args[1] === 'number' ? args[1] : undefined);
      case 'iterate':
        return this.iterate(storage, args);
      case 'newOids': {
        this.assertWritable();
        // The storage checks the argument; the cap keeps one request from allocating without bound.
        if (typeof args[0] === 'number' && args[0] > 100_000) {
          throw new InvalidArgumentError('count', `at most 100000 OIDs per request, got ${args[0]}`);
        }
        return storage.newOids(args[0] as number);
      }
      case 'commit': {
        this.assertWritable();
        const clientTid = args[1] as Tid;
        checkU64(clientTid, 'lastTid');
        // The storage checks the request itself (commit-checks.ts): a malformed one is InvalidArgumentError.
        try {
          const result = await this.context.trackCommit(storage.commit(args[0] as never));
          stats.commits++;
          return { tid: result.tid, invalidations: hub.commitReply(clientTid, result.tid) } satisfies WireCommitResult;
        } catch (error) {
          if ((error as ZeoError).code === 'ZEO_CONFLICT') stats.conflicts++;
          throw error;
        }
      }
      case 'tpcBegin': {
        this.assertWritable();
        if (this.transactions.size >= MAX_OPEN_TRANSACTIONS) {
          throw new TransactionStateError(`too many open transactions on one connection (limit ${MAX_OPEN_TRANSACTIONS})`);
        }
        const meta = args[0] ?? {};
        if (typeof meta !== 'object' || Array.isArray(meta)) {
          throw new InvalidArgumentError('meta', 'expected an object { user?, description?, extension? }');
        }
        const txn = await storage.tpcBegin(meta as never);
        const id = this.nextTxnId++;
        if (this.isClosed) await txn.abort();
        else this.transactions.set(id, { txn });
        return id;
      }
      case 'tpcVote':
        return this.vote(served, args);
      case 'tpcFinish':
        return this.finish(served, args);
      case 'tpcAbort':
        await this.abortTransaction(args[0] as number);
        return null;
      case 'pack':
        this.assertWritable();
        return storage.pack(args[0] as bigint);
      case 'invalidationsSince':
        checkU64(args[0], 'tid');
        return hub.since(args[0]);
      case 'setPush':
        if (typeof args[0] !== 'boolean') throw new InvalidArgumentError('setPush', `expected true or false, got ${typeof args[0]}`);
        this.setPush(args[0]);
        return null;
      case 'stats':
        return this.context.stats();
      case 'ping':
        return hub.lastTid;
      default:
        throw new ProtocolError(`unknown operation ${JSON.stringify(request.op)}`);
    }
  }

  private async loadMany(served: ServedStorage, oids: unknown): Promise<{ results: LoadManyEntry[]; lastTid: Tid }> {
    if (!Array.isArray(oids)) throw new ProtocolError('loadMany expects an array of OIDs');
    const lastTid = served.hub.lastTid;
    const results: LoadManyEntry[] = [];
    let bytes = 0;
    // Stay well under the frame limit; the client loads whatever is left out one by one.
    for (const oid of oids) {
      if (bytes > this.context.maxFrameBytes / 4) break;
      served.stats.loads++;
      try {
        const { data, tid } = await served.storage.load(oid as bigint);
        bytes += data.byteLength;
        results.push({ oid, data, tid });
      } catch (error) {
        results.push({ oid, error: encodeError(error) });
      }
    }
    return { results, lastTid };
  }

  private async iterate(storage: Storage, args: unknown[]): Promise<TransactionRecord[]> {
    const [fromTid, toTid, max] = args as [bigint, bigint | null, number];
    const limit = Number.isSafeInteger(max) && max > 0 ? Math.min(max, MAX_ITERATE_TRANSACTIONS) : MAX_ITERATE_TRANSACTIONS;
    const page: TransactionRecord[] = [];
    let bytes = 0;
    for await (const txn of storage.iterator(fromTid, toTid ?? undefined)) {
      page.push(txn);
      for (const record of txn.records) bytes += record.data.byteLength;
      if (page.length >= limit || bytes > this.context.maxFrameBytes / 4) break;
    }
    return page;
  }

  private openTransaction(id: unknown): OpenTransaction {
    const open = this.transactions.get(id as number);
    if (open) return open;
    if (this.timedOut.has(id as number)) {
      throw new TransactionStateError(
        `transaction ${String(id)} was aborted: it did not finish within ${this.context.commitLockTimeoutMs} ms ` +
          'after its vote (storageServer.commitLockTimeoutMs); retry it',
      );
    }
    throw new TransactionStateError(`no open transaction ${String(id)} on this connection`);
  }

  private async vote(served: ServedStorage, args: unknown[]): Promise<null> {
    const [id, stores, readCurrent] = args as [number, StoreRequest[], ReadCurrentRequest[]];
    const open = this.openTransaction(id);
    const isObject = (x: unknown) => typeof x === 'object' && x !== null;
    if (!Array.isArray(stores) || !Array.isArray(readCurrent) || !stores.every(isObject) || !readCurrent.every(isObject)) {
      throw new InvalidArgumentError('tpcVote', 'expected arrays of stores and readCurrent entries');
    }
    try {
      for (const s of stores) open.txn.store(s.oid, s.baseTid, s.data, s.refs);
      for (const r of readCurrent) open.txn.checkCurrent(r.oid, r.tid);
      await open.txn.vote();
    } catch (error) {
      if ((error as ZeoError).code === 'ZEO_CONFLICT') served.stats.conflicts++;
      this.transactions.delete(id);
      await open.txn.abort();
      throw error;
    }
    if (this.isClosed || !this.transactions.has(id)) {
      await open.txn.abort();
      throw new TransactionStateError(`transaction ${id} was aborted while it voted`);
    }
    // The commit lock is ours now: a client that goes quiet must not hold every writer hostage.
    open.lockTimer = setTimeout(() => {
      this.context.log.warn(
        `aborting transaction ${id} of ${this.peer}: voted but not finished within ` +
          `${this.context.commitLockTimeoutMs} ms (storageServer.commitLockTimeoutMs)`,
      );
      this.timedOut.add(id);
      void this.abortTransaction(id);
    }, this.context.commitLockTimeoutMs);
    return null;
  }

  private async finish(served: ServedStorage, args: unknown[]): Promise<WireCommitResult> {
    const [id, clientTid] = args as [number, Tid];
    checkU64(clientTid, 'lastTid');
    const open = this.openTransaction(id);
    clearTimeout(open.lockTimer);
    this.transactions.delete(id);
    const result = await this.context.trackCommit(open.txn.finish());
    served.stats.commits++;
    return { tid: result.tid, invalidations: served.hub.commitReply(clientTid, result.tid) };
  }

  private async abortTransaction(id: number): Promise<void> {
    const open = this.transactions.get(id);
    if (!open) return;
    clearTimeout(open.lockTimer);
    this.transactions.delete(id);
    await open.txn.abort().catch(() => undefined);
  }

  /** Voted transactions are aborted at shutdown; finishes already under way complete. */
  async abortAll(): Promise<void> {
    await Promise.all([...this.transactions.keys()].map((id) => this.abortTransaction(id)));
  }

  get hasOpenTransactions(): boolean {
    return this.transactions.size > 0;
  }
}
