// The storage server: serves one or more named storages (any Storage) to ClientStorages over
// TCP or TLS. It owns the listening socket, the address gate (applied to the TCP connection,
// before TLS: tls.ts), the invalidation hubs (one per storage) and the sessions (one per
// connection, session.ts); shutdown lets commits in progress finish before storages close. The
// wire protocol is documented in ../protocol/messages.ts.

import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { InvalidArgumentError } from '../../errors.js';
import { toLogger, type Logger, type LogTarget } from '../../log.js';
import type { Storage } from '../contract.js';
import { InternalErrorLog } from './error-log.js';
import { Gate } from './gate.js';
import { InvalidationHub } from './invalidation-hub.js';
import { MAX_FRAME_BYTES } from '../protocol/framing.js';
import type { ServerStats, StorageStats } from '../protocol/messages.js';
import { Session, type ServedStorage, type SessionContext } from './session.js';
import { loadSecureContext, startTls, type TlsFiles } from './tls.js';

export interface StorageServerOptions {
  /** Storages by the name clients ask for. */
  storages: Record<string, Storage>;
  listen?: { host: string; port: number };
  /** Shared secret proven by challenge-response; null = no key required. */
  key?: string | null;
  readOnlyKeys?: string[];
  /** CIDR allow list; empty = any address. */
  allow?: string[];
  /** Addresses (CIDR) that may only read. */
  readOnlyAllow?: string[];
  /** PEM text or file paths. */
  tls?: TlsFiles | null;
  commitLockTimeoutMs?: number;
  invalidationQueue?: { maxCount: number; maxAgeMs: number };
  /**
   * At start, read the storage's transactions of this last stretch of time into the
   * invalidation queue, so clients that missed them before a restart keep their caches.
   * Default 60 s; 0 = start with an empty queue.
   */
  queuePrefillMs?: number;
  maxFrameBytes?: number;
  handshakeTimeoutMs?: number;
  /** Publish invalidations on Redis; null = push them over client connections only. */
  redis?: { url: string; prefix: string } | null;
  /** Close the storages when the server closes (runStorageServerMain owns its storages). */
  closeStorages?: boolean;
  /** Where the server logs (default: the process logger, component "storage-server"). */
  log?: LogTarget;
}

type CheckedServerOptions = Required<Omit<StorageServerOptions, 'log'>> & { log: Logger };

export class StorageServer {
  private readonly server: Server;
  private readonly sessions = new Set<Session>();
  /** Allowed TCP connections still in their TLS handshake. */
  private readonly handshaking = new Set<Socket>();
  private readonly secureContext: SecureContext | null;
  private readonly served = new Map<string, ServedStorage>();
  private readonly commitsInProgress = new Set<Promise<unknown>>();
  private readonly gate: Gate;
  private readonly log: Logger;
  private readonly internalErrors: InternalErrorLog;
  private readonly context: SessionContext;
  private isClosing = false;
  private closing: Promise<void> | null = null;
  private refusedConnections = 0;
  private closedForProtocolErrors = 0;

  private constructor(private readonly options: CheckedServerOptions) {
    this.log = options.log;
    this.internalErrors = new InternalErrorLog(options.log);
    this.context = {
      storages: this.served,
      keys: { key: this.options.key, readOnlyKeys: this.options.readOnlyKeys },
      maxFrameBytes: this.options.maxFrameBytes,
      handshakeTimeoutMs: this.options.handshakeTimeoutMs,
      commitLockTimeoutMs: this.options.commitLockTimeoutMs,
      log: this.log,
      reportInternalError: (what, error) => this.internalErrors.report(what, error),
      isClosing: () => this.isClosing,
      trackCommit: (commit) => {
        this.commitsInProgress.add(commit);
        const forget = () => this.commitsInProgress.delete(commit);
        commit.then(forget, forget);
        return commit;
      },
      stats: () => this.stats(),
      onProtocolError: () => this.closedForProtocolErrors++,
      onRefused: () => this.refusedConnections++,
    };
    this.gate = new Gate({ allow: options.allow, readOnlyAllow: options.readOnlyAllow });
    this.secureContext = options.tls ? loadSecureContext(options.tls) : null;
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Validates options, builds the hubs and starts listening. */
  static async start(options: StorageServerOptions): Promise<StorageServer> {
    const names = Object.keys(options.storages ?? {});
    if (names.length === 0) throw new InvalidArgumentError('storages', 'serve at least one storage');
    const maxFrameBytes = options.maxFrameBytes ?? 64 * 1024 * 1024;
    if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1024 || maxFrameBytes > MAX_FRAME_BYTES) {
      throw new InvalidArgumentError('maxFrameBytes', `expected 1024..${MAX_FRAME_BYTES}, got ${maxFrameBytes}`);
    }
    const full: CheckedServerOptions = {
      storages: options.storages,
      listen: options.listen ?? { host: '127.0.0.1', port: 0 },
      key: options.key ?? null,
      readOnlyKeys: options.readOnlyKeys ?? [],
      allow: options.allow ?? [],
      readOnlyAllow: options.readOnlyAllow ?? [],
      tls: options.tls ?? null,
      commitLockTimeoutMs: options.commitLockTimeoutMs ?? 30_000,
      invalidationQueue: options.invalidationQueue ?? { maxCount: 10_000, maxAgeMs: 3_600_000 },
      queuePrefillMs: options.queuePrefillMs ?? 60_000,
      maxFrameBytes,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 5_000,
      redis: options.redis ?? null,
      closeStorages: options.closeStorages ?? false,
      log: toLogger(options.log, 'storage-server'),
    };
    const server = new StorageServer(full);
    for (const name of names) {
      const storage = full.storages[name]!;
      const hub = await InvalidationHub.create(name, storage, {
        queue: full.invalidationQueue,
        prefillMs: full.queuePrefillMs,
        redis: full.redis,
        log: full.log,
      });
      server.served.set(name, { name, storage, hub, stats: { connections: 0, loads: 0, commits: 0, conflicts: 0 } });
    }
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.server.listen(full.listen.port, full.listen.host, () => {
        server.server.off('error', reject);
        resolve();
      });
    });
    return server;
  }

  /** The host and port actually bound (port 0 in the options picks a free one). */
  get address(): { host: string; port: number } {
    const info = this.server.address() as AddressInfo;
    return { host: info.address, port: info.port };
  }

  get invalidationMode(): 'redis' | 'push' {
    return this.options.redis ? 'redis' : 'push';
  }

  /** The gate decides on the TCP connection, before a byte is read or sent (TLS included). */
  private accept(socket: Socket): void {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const decision = this.gate.check(socket.remoteAddress);
    if (!decision.isAllowed || this.isClosing) {
      this.refusedConnections++;
      this.log.warn(`refused connection from ${peer}: ${decision.isAllowed ? 'shutting down' : decision.reason}`, { peer });
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    if (!this.secureContext) return this.startSession(socket, decision.isReadOnly, peer);
    const secure = startTls(socket, this.secureContext, this.options.handshakeTimeoutMs, (outcome) => {
      this.handshaking.delete(secure);
      if ('socket' in outcome) {
        if (this.isClosing) outcome.socket.destroy();
        else this.startSession(outcome.socket, decision.isReadOnly, peer);
      } else if ('failure' in outcome) {
        this.closedForProtocolErrors++;
        this.log.warn(`closing connection from ${peer}: ${outcome.failure}`, { peer });
      } else {
        // Most often a client that does not trust this server's certificate.
        this.log.info(`${peer} closed the connection during the TLS handshake`, { peer });
      }
    });
    this.handshaking.add(secure);
  }

  private startSession(socket: Socket, isReadOnly: boolean, peer: string): void {
    const session = new Session(socket, this.context, isReadOnly, peer, (s) => this.sessions.delete(s));
    this.sessions.add(session);
  }


  stats(): ServerStats {
    const storages: Record<string, StorageStats> = {};
    for (const [name, served] of this.served) {
      storages[name] = { ...served.stats, queueLength: served.hub.queue.length, lastTid: served.hub.lastTid };
    }
    return {
      connections: this.sessions.size,
      refusedConnections: this.refusedConnections,
      closedForProtocolErrors: this.closedForProtocolErrors,
      storages,
    };
  }

  /**
   * Stops accepting, lets commits in progress finish (their replies go out), aborts voted
   * transactions, closes every connection, then the hubs and (if owned) the storages.
   */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    this.isClosing = true;
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.handshaking) socket.destroy();
    await Promise.allSettled([...this.commitsInProgress]);
    await Promise.all([...this.sessions].map((s) => s.abortAll()));
    // end(), not destroy(): replies just written must still reach their clients.
    for (const session of [...this.sessions]) session.end();
    await stopped;
    this.internalErrors.close();
    for (const served of this.served.values()) {
      await served.hub.close();
      if (this.options.closeStorages) await served.storage.close();
    }
  }
}

export function startStorageServer(options: StorageServerOptions): Promise<StorageServer> {
  return StorageServer.start(options);
}
