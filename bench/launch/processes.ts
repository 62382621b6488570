// Starting and stopping the processes a bench run measures: every system under test runs in its
// own child process (never inside the bench process, whose event loop drives autocannon), talks
// to the bench over IPC ({type: 'ready', ...}), and is stopped by pid with SIGTERM, then SIGKILL.
// A child also exits by itself when its IPC channel closes, so a killed bench leaves nothing behind.

import { fork, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export interface BenchMessage {
  type: string;
  [key: string]: unknown;
}

const STDERR_TAIL_BYTES = 4096;

export class ChildHandle {
  readonly name: string;
  readonly child: ChildProcess;
  private stderrTail = '';
  private readonly messages: BenchMessage[] = [];
  private readonly waiters = new Set<() => void>();
  private exitCode: number | string | null = null;
  private hasExited = false;

  constructor(name: string, child: ChildProcess, isVerbose: boolean) {
    this.name = name;
    this.child = child;
    child.stderr?.on('data', (chunk: Buffer) => {
      if (isVerbose) process.stderr.write(chunk);
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      if (isVerbose) process.stderr.write(chunk);
    });
    child.on('message', (message: BenchMessage) => {
      this.messages.push(message);
      this.wake();
    });
    child.on('exit', (code, signal) => {
      this.hasExited = true;
      this.exitCode = code ?? signal;
      this.wake();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get isRunning(): boolean {
    return !this.hasExited;
  }

  /** The last lines the child wrote to stderr, for error messages. */
  get stderr(): string {
    return this.stderrTail.trim();
  }

  private wake(): void {
    for (const waiter of this.waiters) waiter();
  }

  /** Messages of `type` received so far (oldest first). */
  received(type: string): BenchMessage[] {
    return this.messages.filter((m) => m.type === type);
  }

  send(message: BenchMessage): void {
    if (this.child.connected) this.child.send(message);
  }

  /** Resolves with the first message of `type`; rejects if the child exits or time runs out. */
  waitForMessage(type: string, timeoutMs: number): Promise<BenchMessage> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const message = this.messages.find((m) => m.type === type);
        if (message) return finish(() => resolve(message));
        const failure = this.messages.find((m) => m.type === 'failed');
        if (failure) {
          return finish(() => reject(new Error(`${this.name}: ${String(failure.error)}` +
            (this.stderr ? `; its stderr ends with:\n${this.stderr}` : ''))));
        }
        if (this.hasExited) {
          return finish(() => reject(new Error(
            `${this.name} exited (${String(this.exitCode)}) before it was ready` +
              (this.stderr ? `; its stderr ends with:\n${this.stderr}` : ''))));
        }
      };
      const timer = setTimeout(() => finish(() => reject(new Error(
        `${this.name} was not ready after ${timeoutMs} ms` + (this.stderr ? `; stderr:\n${this.stderr}` : '')))), timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Waits for `work`, failing at once (with the child's stderr) if the child exits first. */
  async whileRunning<T>(work: Promise<T>, what: string): Promise<T> {
    let check = () => {};
    const exited = new Promise<never>((_, reject) => {
      check = () => {
        if (!this.hasExited) return;
        reject(new Error(`${this.name} exited (${String(this.exitCode)}) before ${what}` +
          (this.stderr ? `; its stderr ends with:\n${this.stderr}` : '')));
      };
      this.waiters.add(check);
      check();
    });
    exited.catch(() => {});
    try {
      return await Promise.race([work, exited]);
    } finally {
      this.waiters.delete(check);
    }
  }

  /** Waits for `url` to answer below 500 while the child runs. */
  waitUntilServing(url: string, timeoutMs: number): Promise<void> {
    return this.whileRunning(waitForHttp(url, timeoutMs), `it answered ${url}`);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the child is gone. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.hasExited) return;
    const exited = new Promise<void>((resolve) => {
      if (this.hasExited) resolve();
      else this.child.once('exit', () => resolve());
    });
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!this.hasExited) this.child.kill('SIGKILL');
    }, graceMs);
    await exited;
    clearTimeout(timer);
  }
}

export interface SpawnOptions {
  args?: string[];
  /** Added to `baseEnv`. */
  env?: Record<string, string>;
  /** The environment the child starts from; default this process's. */
  baseEnv?: NodeJS.ProcessEnv;
  execArgv?: string[];
  isVerbose?: boolean;
}

/** Forks a compiled bench entry file (a URL relative to the caller's import.meta.url). */
export function spawnEntry(name: string, entry: URL, options: SpawnOptions = {}): ChildHandle {
  const child = fork(fileURLToPath(entry), options.args ?? [], {
    env: { ...(options.baseEnv ?? process.env), ...options.env },
    execArgv: options.execArgv ?? [],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  return new ChildHandle(name, child, options.isVerbose ?? false);
}

/** Spawns a non-Node program (nginx) the same way: stderr kept, stopped by pid. */
export function spawnProgram(name: string, command: string, args: string[], options: SpawnOptions = {}): ChildHandle {
  const child = spawn(command, args, { env: { ...(options.baseEnv ?? process.env), ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new ChildHandle(name, child, options.isVerbose ?? false);
}

/** A port that was free a moment ago on 127.0.0.1 (for children that must be told theirs). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls a TCP port until it accepts a connection (a storage server is up). */
export async function waitForTcp(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = 'no answer';
  while (Date.now() < deadline) {
    const isOpen = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', (error) => {
        lastProblem = error.message;
        resolve(false);
      });
    });
    if (isOpen) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${host}:${port} did not accept connections within ${timeoutMs} ms (${lastProblem})`);
}

/** Polls `url` until it answers below 500; rejects with the last problem after `timeoutMs`. */
export async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = 'no answer';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status < 500) return;
      lastProblem = `status ${response.status}`;
    } catch (error) {
      lastProblem = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (${lastProblem})`);
}

/** In a child: exit when the parent goes away, and report fatal start-up errors over IPC. */
export function runAsChild(name: string, start: () => Promise<() => Promise<void>>): void {
  let stop: (() => Promise<void>) | null = null;
  let isStopping = false;
  const shutdown = async (code: number) => {
    if (isStopping) return;
    isStopping = true;
    const timer = setTimeout(() => process.exit(code), 5_000);
    timer.unref();
    try {
      await stop?.();
    } catch (error) {
      process.stderr.write(`${name}: stopping failed: ${String(error)}\n`);
    }
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));
  process.on('disconnect', () => void shutdown(0));
  start().then(
    (stopFn) => {
      stop = stopFn;
    },
    (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`${name}: ${error instanceof Error ? (error.stack ?? message) : message}\n`);
      process.send?.({ type: 'failed', error: message });
      void shutdown(1);
    },
  );
}
