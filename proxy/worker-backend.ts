// The router's side of one app-server worker thread: starts it (appserver/worker.js), sends it
// requests over its MessagePort and matches the answers, pings it, and keeps its health. The
// pool (proxy/pool.ts) decides what to do when it hangs, dies or grows too big; this class only
// reports that ('hung', 'exit', 'overMemory' events).

import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { ZeoConfig } from '../config/schema.js';
import { BackendFailedError } from '../errors.js';
import type { RequestMessage, WorkerHealth, WorkerStartData, WorkerToRouter } from '../appserver/worker-protocol.js';
import type { Backend, BackendSnapshot, BackendState, ProxyRequest, ProxyResponse } from './backend.js';
import { ErrorWindow, HealthState } from './health.js';
import type { Logger } from '../log.js';

const WORKER_ENTRY = new URL('../appserver/worker.js', import.meta.url);

export interface WorkerBackendOptions {
  workerId: number;
  config: ZeoConfig;
  appModule: string;
  storageFactory: string | null;
  log: Logger;
  restarts?: number;
}

interface Pending {
  resolve(response: ProxyResponse): void;
  reject(error: Error): void;
  canRetry: boolean;
}

export class WorkerBackend extends EventEmitter implements Backend {
  readonly id: string;
  readonly workerId: number;
  state: BackendState = 'starting';
  restarts: number;
  served = 0;
  errors = 0;
  lastHealth: WorkerHealth | null = null;
  readonly healthState: HealthState;
  private readonly errorWindow = new ErrorWindow();
  private readonly options: WorkerBackendOptions;
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextRequestId = 1;
  private nextPingId = 1;
  private outstandingPing: { id: number; sentAt: number } | null = null;
  private lastAnswerAt = Date.now();
  private readonly exited: Promise<number>;
  private fatalMessage: string | null = null;

  constructor(options: WorkerBackendOptions) {
    super();
    this.options = options;
    this.workerId = options.workerId;
    this.id = `worker-${options.workerId}`;
    this.restarts = options.restarts ?? 0;
    const { health } = options.config.router;
    this.healthState = new HealthState(health);
    const memoryLimitMb = options.config.workers.memoryLimitMb;
    const data: WorkerStartData = {
      workerId: options.workerId,
      config: options.config,
      appModule: options.appModule,
      storageFactory: options.storageFactory,
    };
    this.worker = new Worker(WORKER_ENTRY, {
      workerData: data,
      // The hard stop, at twice the limit (or the limit + 128 MB): the pool recycles a worker
      // politely at memoryLimitMb, and a request that grows the heap past it must still finish.
      resourceLimits: { maxOldGenerationSizeMb: memoryLimitMb + Math.max(128, memoryLimitMb) },
      stdout: false,
      stderr: false,
    });
    this.worker.on('message', (message: WorkerToRouter) => this.onMessage(message));
    this.worker.on('error', (error) => {
      this.fatalMessage ??= error.message;
      options.log.error('worker thread error', { worker: this.id, error: error.stack ?? error.message });
    });
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    void this.exited.then((code) => this.onExit(code));
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Resolves when the worker said `ready`; rejects if it failed or exited first. */
  ready(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`worker ${this.workerId} did not start within ${timeoutMs} ms`)), timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.off('ready', onReady);
        this.off('exit', onExit);
      };
      const fail = (error: Error) => {
        cleanup();
        reject(error);
      };
      const onReady = () => {
        cleanup();
        resolve();
      };
      const onExit = (code: number) =>
        fail(new Error(`worker ${this.workerId} failed to start: ${this.fatalMessage ?? `exited with code ${code}`}`));
      this.on('ready', onReady);
      this.on('exit', onExit);
    });
  }

  isAvailable(): boolean {
    return this.state === 'ready' && this.healthState.isHealthy;
  }

  dispatch(request: ProxyRequest, canRetry: boolean): Promise<ProxyResponse> {
    if (this.state !== 'ready' && this.state !== 'draining') {
      return Promise.reject(new BackendFailedError(this.id, `it is ${this.state}`, false));
    }
    const id = this.nextRequestId++;
    const message: RequestMessage = { type: 'request', id, ...request };
    return new Promise<ProxyResponse>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, canRetry });
      try {
        this.worker.postMessage(message, request.body ? [request.body] : []);
      } catch (error) {
        this.pending.delete(id);
        reject(new BackendFailedError(this.id, 'the request could not be posted', false, { cause: error }));
      }
    }).then(
      (response) => {
        this.served++;
        const isError = response.status >= 500;
        if (isError) this.errors++;
        this.errorWindow.add(isError);
        return response;
      },
      (error: unknown) => {
        this.errors++;
        this.errorWindow.add(true);
        throw error;
      },
    );
  }

  /** The router gave up on a request (client timeout): forget it, and suspect the worker. */
  abandon(reason: string): void {
    if (this.healthState.fail(reason)) this.options.log.warn('worker taken out', { worker: this.id, reason });
  }

  /**
   * One health tick (the pool calls it every pingIntervalMs): judges the previous ping, then
   * sends the next. A ping unanswered past pingTimeoutMs takes the worker out at once and hands
   * its retryable requests back to the router; silence past hangTimeoutMs emits 'hung'.
   */
  tick(now = Date.now()): void {
    if (this.state !== 'ready' && this.state !== 'draining') return;
    const { pingTimeoutMs, hangTimeoutMs } = this.options.config.router.health;
    if (this.outstandingPing) {
      const waited = now - this.outstandingPing.sentAt;
      if (waited > pingTimeoutMs) {
        const reason = `no answer to a ping for ${waited} ms (event loop blocked?)`;
        if (this.healthState.fail(reason)) this.options.log.warn('worker taken out', { worker: this.id, reason });
        this.releaseRetryable(reason);
      }
      if (now - this.lastAnswerAt > hangTimeoutMs) this.emit('hung', now - this.lastAnswerAt);
      return;
    }
    this.outstandingPing = { id: this.nextPingId++, sentAt: now };
    this.worker.postMessage({ type: 'ping', id: this.outstandingPing.id });
  }

  /** Stop sending it requests, let the ones in flight finish (bounded), then stop the thread. */
  async drain(timeoutMs: number): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'draining';
    const deadline = Date.now() + timeoutMs;
    while (this.pending.size > 0 && Date.now() < deadline) await sleep(10);
    this.worker.postMessage({ type: 'drain' });
    let timer: NodeJS.Timeout | undefined;
    const exitedInTime = await Promise.race([
      this.exited.then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(100, deadline - Date.now())))),
    ]);
    clearTimeout(timer);
    if (!exitedInTime) await this.terminate();
  }

  async terminate(): Promise<void> {
    if (this.state !== 'stopped') this.state = 'draining';
    await this.worker.terminate();
    await this.exited;
  }

  snapshot(): BackendSnapshot {
    return {
      id: this.id,
      kind: 'worker',
      state: this.state,
      isHealthy: this.healthState.isHealthy,
      reason: this.healthState.reason,
      inFlight: this.pending.size,
      served: this.served,
      errors: this.errors,
      restarts: this.restarts,
      health: this.lastHealth,
    };
  }

  private onMessage(message: WorkerToRouter): void {
    this.lastAnswerAt = Date.now();
    switch (message.type) {
      case 'response': {
        const pending = this.pending.get(message.id);
        if (!pending) return; // abandoned or handed to another worker already
        this.pending.delete(message.id);
        pending.resolve({ status: message.status, headers: message.headers, body: message.body });
        break;
      }
      case 'pong':
        if (this.outstandingPing?.id === message.id) this.outstandingPing = null;
        this.lastHealth = message.health;
        this.judge(message.health);
        break;
      case 'ready':
        this.state = 'ready';
        this.emit('ready');
        break;
      case 'fatal':
        this.fatalMessage = message.message;
        break;
      case 'log':
        this.options.log[message.level](message.message, { worker: this.id, ...message.fields });
        break;
      case 'stopped':
        break;
    }
  }

  private judge(health: WorkerHealth): void {
    const { maxErrorRate } = this.options.config.router.health;
    const errorRate = this.errorWindow.rate();
    let check = { isGood: true, isHard: false, reason: null as string | null };
    if (!health.isStorageConnected) check = { isGood: false, isHard: true, reason: 'storage connection down' };
    else if (errorRate !== null && errorRate > maxErrorRate) {
      // At once, as a missed ping: the window already needs minSamples requests, so one unlucky
      // request cannot evict a worker; rise keeps it out until it answers well again.
      check = { isGood: false, isHard: true, reason: `error rate ${errorRate.toFixed(2)} above ${maxErrorRate}` };
    }
    const changed = this.healthState.record(check);
    if (changed) {
      const verdict = this.healthState.isHealthy ? 'worker back in' : 'worker taken out';
      this.options.log[this.healthState.isHealthy ? 'info' : 'warn'](verdict, { worker: this.id, reason: check.reason });
    }
    if (health.heapUsedBytes > this.options.config.workers.memoryLimitMb * 1024 * 1024) {
      this.emit('overMemory', health.heapUsedBytes);
    }
  }

  /** Fail the requests the router may resend elsewhere; the others keep waiting for an answer. */
  private releaseRetryable(reason: string): void {
    for (const [id, pending] of this.pending) {
      if (!pending.canRetry) continue;
      this.pending.delete(id);
      pending.reject(new BackendFailedError(this.id, reason, true));
    }
  }

  private onExit(code: number): void {
    const wasExpected = this.state === 'draining';
    this.state = 'stopped';
    for (const pending of this.pending.values()) {
      pending.reject(new BackendFailedError(this.id, `the worker thread exited (code ${code})`, true));
    }
    this.pending.clear();
    this.emit('exit', code, wasExpected);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
