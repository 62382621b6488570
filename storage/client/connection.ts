// One client connection to a storage server: socket (TCP or TLS), the client half of the
// handshake, and request/reply matching with many requests in flight. Pushed invalidations go
// to `onPush`. It knows nothing of failover or caches (server-link.ts, storage.ts).
// The protocol is documented in storage/protocol/messages.ts.

import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, ProtocolError, TimeoutError, UnavailableError } from '../../errors.js';
import type { Invalidation, Tid } from '../contract.js';
import { encodeFrame, FrameReader, MAX_FRAME_BYTES } from '../protocol/framing.js';
import { clientProof, newNonce, verifyServer } from '../protocol/handshake.js';
import {
  decodeError,
  decodeMessage,
  encodeMessage,
  HANDSHAKE_FRAME_BYTES,
  PROTOCOL_VERSION,
  type Op,
  type WelcomeMessage,
  type WireMessage,
} from '../protocol/messages.js';

export interface ServerAddress {
  host: string;
  port: number;
}

export interface ConnectionOptions {
  storage: string;
  key: string | null;
  isReadOnly: boolean;
  wantsPush: boolean;
  /** TLS on; `ca` (PEM text or path) to trust a private CA, null for the system roots. */
  tls: { ca: string | null } | null;
  connectTimeoutMs: number;
}

/** "host:port" or "[v6]:port" -> address; throws InvalidArgumentError. */
export function parseServerAddress(text: string): ServerAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw new InvalidArgumentError('servers', `${JSON.stringify(text)} is not "host:port"`);
  }
  return { host: match[1] ?? match[2]!, port };
}

export function formatAddress(address: ServerAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export class Connection {
  readonly label: string;
  welcome!: WelcomeMessage;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closeError: Error | null = null;
  private readonly closeListeners: Array<(error: Error) => void> = [];
  /** Pushes that arrived before a handler was set (they can share a chunk with the welcome). */
  private pushBuffer: Invalidation[] | null = [];
  private pushHandler: ((invalidation: Invalidation) => void) | null = null;

  private constructor(
    private readonly socket: Socket,
    address: ServerAddress,
  ) {
    this.label = formatAddress(address);
  }

  /** Connects and authenticates; rejects with AccessDeniedError, UnavailableError, ... */
  static open(address: ServerAddress, options: ConnectionOptions): Promise<Connection> {
    const ca = options.tls?.ca ? (options.tls.ca.includes('-----BEGIN') ? options.tls.ca : readFileSync(options.tls.ca, 'utf8')) : undefined;
    const socket = options.tls
      ? // SNI takes host names only; an IP address is checked against the certificate's IP SANs.
        connectTls({ host: address.host, port: address.port, ca, servername: isIP(address.host) ? undefined : address.host })
      : connectTcp({ host: address.host, port: address.port });
    socket.setNoDelay(true);
    const connection = new Connection(socket, address);
    return connection.handshake(options);
  }

  private handshake(options: ConnectionOptions): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const clientNonce = newNonce();
      let serverNonce: Uint8Array | null = null;
      let isDone = false;
      const timer = setTimeout(() => fail(new TimeoutError(`no handshake with ${this.label} within ${options.connectTimeoutMs} ms`)), options.connectTimeoutMs);
      const fail = (error: Error) => {
        if (isDone) return;
        isDone = true;
        clearTimeout(timer);
        this.socket.destroy();
        reject(error);
      };
      const reader = new FrameReader(HANDSHAKE_FRAME_BYTES, (body) => {
        if (isDone) return this.receive(decodeMessage(body));
        const message = decodeMessage(body);
        if (message.t === 'hello' && serverNonce === null) {
          serverNonce = message.nonce;
          if (message.version !== PROTOCOL_VERSION) throw new ProtocolError(`server speaks protocol ${message.version}, not ${PROTOCOL_VERSION}`);
          const proof = options.key === null ? null : clientProof(options.key, serverNonce, clientNonce);
          this.write({ t: 'auth', version: PROTOCOL_VERSION, storage: options.storage, nonce: clientNonce, proof, isReadOnly: options.isReadOnly, wantsPush: options.wantsPush });
        } else if (message.t === 'welcome' && serverNonce !== null) {
          verifyServer(options.key, serverNonce, clientNonce, message.proof);
          this.welcome = message;
          // Replies are bounded by the server's own limit (it splits pages and batches).
          reader.maxFrameBytes = Math.min(MAX_FRAME_BYTES, message.maxFrameBytes * 2 + 1024 * 1024);
          isDone = true;
          clearTimeout(timer);
          resolve(this);
        } else if (message.t === 'refused') {
          fail(decodeError(message.error));
        } else {
          throw new ProtocolError(`unexpected ${String(message.t)} during the handshake`);
        }
      });
      this.socket.on('data', (chunk: Buffer) => {
        try {
          reader.push(chunk);
        } catch (error) {
          const cause = error instanceof Error ? error : new Error(String(error));
          if (!isDone) fail(cause);
          else this.shutDown(new UnavailableError(`connection to ${this.label} closed: ${cause.message}`, { cause }));
        }
      });
      this.socket.on('error', (error) => {
        fail(new UnavailableError(`cannot reach storage server ${this.label}: ${error.message}`, { cause: error }));
        this.shutDown(new UnavailableError(`connection to ${this.label} lost: ${error.message}`, { cause: error }));
      });
      this.socket.on('close', () => {
        fail(new UnavailableError(`storage server ${this.label} closed the connection during the handshake`));
        this.shutDown(new UnavailableError(`connection to ${this.label} closed`));
      });
    });
  }

  private write(message: unknown): void {
    this.socket.write(encodeFrame(encodeMessage(message)));
  }

  private receive(message: WireMessage): void {
    switch (message.t) {
      case 'res':
      case 'err': {
        const pending = this.pending.get(message.id);
        if (!pending) return;
        this.pending.delete(message.id);
        if (message.t === 'res') pending.resolve(message.value);
        else pending.reject(decodeError(message.error));
        return;
      }
      case 'inv':
        if (this.pushHandler) this.pushHandler(message.invalidation);
        else this.pushBuffer?.push(message.invalidation);
        return;
      default:
        throw new ProtocolError(`unexpected message ${String(message.t)}`);
    }
  }

  /** Where pushed invalidations go; those received before this call are delivered now. */
  setPushHandler(handler: (invalidation: Invalidation) => void): void {
    this.pushHandler = handler;
    const buffered = this.pushBuffer ?? [];
    this.pushBuffer = null;
    for (const invalidation of buffered) handler(invalidation);
  }

  get isOpen(): boolean {
    return this.closeError === null;
  }

  get isReadOnly(): boolean {
    return this.welcome.isReadOnly;
  }

  get serverLastTid(): Tid {
    return this.welcome.lastTid;
  }

  /** Sends one request; rejects with the server's error, or UnavailableError if the connection goes. */
  request<T>(op: Op, args: unknown[]): Promise<T> {
    if (this.closeError) return Promise.reject(this.closeError);
    const id = this.nextId++;
    const body = encodeMessage({ t: 'req', id, op, args });
    if (body.byteLength > this.welcome.maxFrameBytes) {
      return Promise.reject(
        new InvalidArgumentError(op, `request of ${body.byteLength} bytes exceeds the server's maxFrameBytes (${this.welcome.maxFrameBytes})`),
      );
    }
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.socket.write(encodeFrame(body));
    });
  }

  /** Called once when the connection ends, with the reason. */
  onClose(listener: (error: Error) => void): void {
    if (this.closeError) listener(this.closeError);
    else this.closeListeners.push(listener);
  }

  close(): void {
    this.shutDown(new UnavailableError(`connection to ${this.label} closed by the client`));
  }

  private shutDown(error: Error): void {
    if (this.closeError) return;
    this.closeError = error;
    this.socket.destroy();
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
    for (const listener of this.closeListeners) listener(error);
  }
}
