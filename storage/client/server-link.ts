// Keeps one live connection to a storage server for a ClientStorage: tries the listed servers
// in order, then the read-only fallbacks, reconnects with exponential backoff (capped at 2 s)
// and, while on a fallback, keeps probing the read-write servers to switch back. Callers that
// need a connection wait for one up to unavailableTimeoutMs, then get UnavailableError naming
// every address tried.

import { AccessDeniedError, UnavailableError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { Connection, formatAddress, type ConnectionOptions, type ServerAddress } from './connection.js';

export interface ServerLinkOptions {
  servers: ServerAddress[];
  readOnlyFallback: ServerAddress[];
  connection: ConnectionOptions;
  unavailableTimeoutMs: number;
  log: Logger;
  /** A new connection is up (first or after a loss); pushes may already be flowing. */
  onConnected: (connection: Connection) => void;
}

const BACKOFF_START_MS = 50;
const BACKOFF_CAP_MS = 2000;
const PROBE_PRIMARY_MS = 2000;

type Waiter = (connection: Connection | null) => void;

export class ServerLink {
  private current: Connection | null = null;
  private waiters = new Set<Waiter>();
  private isClosed = false;
  private sleepTimer: NodeJS.Timeout | null = null;
  private wakeSleep: (() => void) | null = null;
  private lastErrors = new Map<string, string>();
  /** Set once a full round of addresses has been tried; open() waits for it. */
  private firstRound: Promise<void>;
  private endFirstRound!: () => void;

  constructor(private readonly options: ServerLinkOptions) {
    this.firstRound = new Promise((resolve) => (this.endFirstRound = resolve));
  }

  start(): void {
    void this.run();
  }

  get connection(): Connection | null {
    return this.current?.isOpen ? this.current : null;
  }

  /** The current connection, waiting up to unavailableTimeoutMs for one. */
  async connected(): Promise<Connection> {
    const now = this.connection;
    if (now) return now;
    if (this.isClosed) throw new UnavailableError('the ClientStorage is closed');
    return new Promise<Connection>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(this.unavailable());
      }, this.options.unavailableTimeoutMs);
      const waiter: Waiter = (connection) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        if (connection) resolve(connection);
        else reject(new UnavailableError('the ClientStorage is closed'));
      };
      this.waiters.add(waiter);
    });
  }

  /**
   * Waits for the first round of attempts; rejects at once if every server refused our key
   * (retrying would not help), otherwise waits for a connection like any caller.
   */
  async opened(): Promise<Connection> {
    await this.firstRound;
    const errors = [...this.lastErrors.values()];
    if (!this.connection && errors.length > 0 && errors.every((e) => e.startsWith('access denied'))) {
      throw new AccessDeniedError(`every storage server refused this client (${this.describeTried()})`);
    }
    return this.connected();
  }

  private unavailable(): UnavailableError {
    return new UnavailableError(`storage server unavailable: tried ${this.describeTried()}; retrying in the background`);
  }

  private describeTried(): string {
    const all = [...this.options.servers, ...this.options.readOnlyFallback].map(formatAddress);
    return all.map((a) => (this.lastErrors.has(a) ? `${a} (${this.lastErrors.get(a)})` : a)).join(', ');
  }

  private async tryConnect(address: ServerAddress, isFallback: boolean): Promise<Connection | null> {
    const label = formatAddress(address);
    try {
      const connection = await Connection.open(address, {
        ...this.options.connection,
        isReadOnly: this.options.connection.isReadOnly || isFallback,
      });
      this.lastErrors.delete(label);
      return connection;
    } catch (error) {
      this.lastErrors.set(label, (error as Error).message);
      return null;
    }
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.isClosed) {
      let connection: Connection | null = null;
      let isFallback = false;
      for (const address of this.options.servers) {
        connection = await this.tryConnect(address, false);
        if (connection || this.isClosed) break;
      }
      if (!connection && !this.isClosed) {
        for (const address of this.options.readOnlyFallback) {
          connection = await this.tryConnect(address, true);
          if (connection || this.isClosed) break;
        }
        isFallback = connection !== null;
      }
      this.endFirstRound();
      if (this.isClosed) {
        connection?.close();
        break;
      }
      if (!connection) {
        await this.sleep(Math.min(BACKOFF_START_MS * 2 ** attempt++, BACKOFF_CAP_MS));
        continue;
      }
      attempt = 0;
      if (isFallback) this.options.log.warn(`no read-write server answers; reading from fallback ${connection.label}`, { server: connection.label });
      await this.serve(connection, isFallback);
    }
  }

  /** Uses `connection` until it closes (or, for a fallback, until a primary answers). */
  private async serve(connection: Connection, isFallback: boolean): Promise<void> {
    const closed = new Promise<Error>((resolve) => connection.onClose(resolve));
    this.current = connection;
    this.options.onConnected(connection);
    for (const waiter of [...this.waiters]) waiter(connection);
    if (!isFallback) {
      const error = await closed;
      if (!this.isClosed) this.options.log.warn(`${error.message}; reconnecting`);
    } else {
      while (!this.isClosed && connection.isOpen) {
        await Promise.race([this.sleep(PROBE_PRIMARY_MS), closed]);
        if (this.isClosed || !connection.isOpen) break;
        for (const address of this.options.servers) {
          const primary = await this.tryConnect(address, false);
          if (!primary) continue;
          this.options.log.info(`read-write server ${primary.label} is back; leaving the fallback`, { server: primary.label });
          connection.close();
          if (this.isClosed) primary.close();
          else await this.serve(primary, false);
          return;
        }
      }
    }
    if (this.current === connection) this.current = null;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeSleep = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
    });
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wakeSleep?.();
    this.current?.close();
    this.current = null;
    for (const waiter of [...this.waiters]) waiter(null);
  }
}
