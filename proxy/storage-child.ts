// The storage server as a child process of `zeo start`: isolated from the app (an app bug that
// kills a worker, or the router, never takes the database down with it, and the reverse).
// Runs `node dist/bin/zeo.js storage-server --config <temp file>` with an IPC channel; the child
// reports its listening address over it (bin/zeo.ts), and shuts itself down if the channel
// closes (the launcher died), so no storage server is ever left behind.
//  - start(): spawns it and resolves with the address once it listens; rejects with the exit
//    code if it dies first (a locked or damaged file, a port in use).
//  - it is restarted when it dies later, after 0.5 s, 1 s, 2 s … up to 10 s; the delay resets
//    once a child has stayed up for 30 s. A port 0 in the config is pinned to the port the first
//    child got, so restarted children listen where the app servers already point. A MemoryStorage
//    server is not restarted (its data died with it): onLost tells the launcher instead.
//  - stop(): SIGTERM, then SIGKILL if it has not exited within stopTimeoutMs.

import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isConfigVariable } from '../config/env.js';
import { TimeoutError, UnavailableError } from '../errors.js';
import type { ListenAddress, ZeoConfig } from '../config/schema.js';
import type { Logger } from '../log.js';

export interface StorageChildOptions {
  config: ZeoConfig;
  log: Logger;
  /** How long a child may take to listen (default 60 s: a large file's index is rebuilt first). */
  startTimeoutMs?: number;
  /** How long a child may take to exit after SIGTERM before SIGKILL (default 10 s). */
  stopTimeoutMs?: number;
  /**
   * Called instead of a restart when the storage kind cannot survive one: a MemoryStorage
   * restarted empty would serve a database that went back in time under every client cache.
   */
  onLost?: (reason: string) => void;
}

const ZEO_SCRIPT = fileURLToPath(new URL('../bin/zeo.js', import.meta.url));
const FIRST_RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 10_000;
const STABLE_AFTER_MS = 30_000;

interface ListeningMessage {
  type: 'zeo:storage-server-listening';
  address: ListenAddress;
}

const isListeningMessage = (message: unknown): message is ListeningMessage =>
  typeof message === 'object' && message !== null && (message as ListeningMessage).type === 'zeo:storage-server-listening';

/** The child's environment: the config travels in the file, so config variables must not override it again. */
function childEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !isConfigVariable(name)));
}

export class StorageServerChild {
  /** Where the storage server listens (known once start() resolved). */
  address: ListenAddress | null = null;
  restarts = 0;
  private child: ChildProcess | null = null;
  private readonly configFile = join(tmpdir(), `zeo-storage-${process.pid}-${randomBytes(4).toString('hex')}.json`);
  private config: ZeoConfig;
  private restartTimer: NodeJS.Timeout | null = null;
  private restartStreak = 0;
  private isStopping = false;

  constructor(private readonly options: StorageChildOptions) {
    this.config = options.config;
  }

  /** The running child's process id, or null between a death and its restart. */
  get pid(): number | null {
    return this.child?.exitCode === null && this.child.signalCode === null ? (this.child.pid ?? null) : null;
  }

  async start(): Promise<ListenAddress> {
    const address = await this.spawnChild();
    if (this.config.storageServer.listen.port === 0) {
      this.config = { ...this.config, storageServer: { ...this.config.storageServer, listen: { ...address } } };
    }
    this.address = address;
    return address;
  }

  async stop(): Promise<void> {
    this.isStopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const stopTimeoutMs = this.options.stopTimeoutMs ?? 10_000;
      const isExited = await Promise.race([exited.then(() => true), delay(stopTimeoutMs).then(() => false)]);
      if (!isExited) {
        this.options.log.warn('storage server did not stop in time; killing it', { storagePid: child.pid, stopTimeoutMs });
        child.kill('SIGKILL');
        await exited;
      }
    }
    rmSync(this.configFile, { force: true });
  }

  /** Spawns one child; resolves with its address once it listens, rejects if it dies first. */
  private spawnChild(): Promise<ListenAddress> {
    // The file lives only while a child starts (it has read it once it listens); 0600 because
    // the config may hold the storage key.
    writeFileSync(this.configFile, JSON.stringify(this.config), { mode: 0o600 });
    const child = fork(ZEO_SCRIPT, ['storage-server', '--config', this.configFile], {
      env: childEnv(),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Its own process group: a Ctrl-C in the terminal reaches only the launcher, which stops
      // the router and workers first and the storage server last (never the reverse).
      detached: true,
    });
    this.child = child;
    const startedAt = Date.now();
    const startTimeoutMs = this.options.startTimeoutMs ?? 60_000;
    return new Promise<ListenAddress>((resolve, reject) => {
      let isListening = false;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new TimeoutError(`the storage server did not listen within ${startTimeoutMs} ms`));
      }, startTimeoutMs);
      child.on('message', (message) => {
        if (isListening || !isListeningMessage(message)) return;
        isListening = true;
        clearTimeout(timer);
        rmSync(this.configFile, { force: true });
        this.options.log.info('storage server listening', { storagePid: child.pid, ...message.address });
        resolve(message.address);
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        if (!isListening) rmSync(this.configFile, { force: true });
        if (!isListening) reject(new UnavailableError(`the storage server could not be started: ${error.message}`, { cause: error }));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (!isListening) {
          rmSync(this.configFile, { force: true });
          reject(new UnavailableError(`the storage server exited (${signal ?? `code ${code}`}) before it listened; its output above says why`));
          return;
        }
        if (this.isStopping) return;
        this.options.log.error('storage server died', { storagePid: child.pid, code, signal, upMs: Date.now() - startedAt });
        if (this.config.storage.kind === 'memory') {
          this.options.onLost?.('the storage server died and its MemoryStorage data with it; a restart would serve an empty database');
          return;
        }
        if (Date.now() - startedAt > STABLE_AFTER_MS) this.restartStreak = 0;
        this.scheduleRestart();
      });
    });
  }

  private scheduleRestart(): void {
    const wait = Math.min(MAX_RESTART_DELAY_MS, FIRST_RESTART_DELAY_MS * 2 ** this.restartStreak);
    this.restartStreak++;
    this.options.log.warn('restarting the storage server', { inMs: wait, attempt: this.restartStreak });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.isStopping) return;
      this.restarts++;
      this.spawnChild().catch((error: unknown) => {
        if (this.isStopping) return;
        this.options.log.error('storage server restart failed', { error: error instanceof Error ? error.message : String(error) });
        this.scheduleRestart();
      });
    }, wait);
  }
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
