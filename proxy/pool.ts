// The pool supervisor: starts the app-server worker threads, keeps them healthy and sized.
//  - a worker that exits unexpectedly is replaced (with a growing delay if replacements keep
//    crashing, so a broken app does not spin the CPU);
//  - a worker silent past hangTimeoutMs (a blocked event loop) is terminated and replaced;
//  - a worker whose heap passes memoryLimitMb is recycled: a replacement starts, takes traffic,
//    then the old one drains;
//  - scale(n) and reload() change the workers without failing a request: new workers take
//    traffic only once ready, old ones leave only after draining.
// Remote app servers are listed here too, so the router balances over one list.

import { EventEmitter } from 'node:events';
import type { ZeoConfig } from '../config/schema.js';
import type { Backend } from './backend.js';
import { Balancer } from './balancer.js';
import type { Logger } from '../log.js';
import { RemoteBackend } from './remote-backend.js';
import { WorkerBackend } from './worker-backend.js';

export interface PoolOptions {
  config: ZeoConfig;
  /** Path or URL of the site's app module. */
  appModule: string;
  /** Path or URL of a storage-factory module (appserver/site-runtime.ts); null = ClientStorage. */
  storageFactory: string | null;
  log: Logger;
  /** How long a new worker may take to become ready. */
  startTimeoutMs?: number;
  /** How long a draining worker may take to finish its requests before it is terminated. */
  drainTimeoutMs?: number;
}

const MAX_RESTART_DELAY_MS = 5_000;

export class Pool extends EventEmitter {
  /** Workers that take (or are about to take) traffic, in start order. */
  readonly workers: WorkerBackend[] = [];
  readonly remotes: RemoteBackend[];
  targetCount = 0;
  private readonly options: PoolOptions;
  private readonly balancer: Balancer;
  private config: ZeoConfig;
  private nextWorkerId = 1;
  private timer: NodeJS.Timeout | null = null;
  /** scale/reload run one at a time. */
  private operations: Promise<unknown> = Promise.resolve();
  private readonly leaving = new Set<WorkerBackend>();
  private crashStreak = 0;
  /** Workers being started right now (they count toward the target already). */
  private starting = 0;
  private isClosed = false;

  constructor(options: PoolOptions) {
    super();
    this.options = options;
    this.config = options.config;
    this.balancer = new Balancer(options.config.router.balancing);
    this.remotes = options.config.router.remotes.map((url) => new RemoteBackend(url, options.config, options.log));
  }

  /** Starts `count` workers and waits until all are ready (rejects if one fails to start). */
  async start(count: number): Promise<void> {
    this.targetCount = count;
    const started = await Promise.allSettled(Array.from({ length: count }, () => this.startWorker(0)));
    const failure = started.find((result) => result.status === 'rejected');
    if (failure) {
      await this.close();
      throw (failure as PromiseRejectedResult).reason;
    }
    this.timer = setInterval(() => this.tick(), this.config.router.health.pingIntervalMs);
    this.timer.unref();
  }

  backends(): Backend[] {
    return [...this.workers, ...this.remotes];
  }

  pick(exclude?: ReadonlySet<Backend>): Backend | null {
    return this.balancer.pick(this.backends(), exclude);
  }

  /** Grows or shrinks to n workers; shrinking drains the leaving workers first. */
  scale(count: number): Promise<void> {
    return this.serially(async () => {
      this.targetCount = count;
      while (this.workers.length + this.starting < count) await this.startWorker(0);
      const surplus = this.workers.slice(count);
      await Promise.all(surplus.map((worker) => this.retire(worker)));
    });
  }

  /** Replaces every worker, one at a time: start the new one, wait until ready, drain the old. */
  reload(): Promise<void> {
    return this.serially(async () => {
      for (const old of [...this.workers]) {
        if (!this.workers.includes(old)) continue; // replaced meanwhile (crash, hang)
        await this.startWorker(old.restarts + 1);
        await this.retire(old);
      }
    });
  }

  /** New config (SIGHUP): health thresholds and limits apply to new workers; the count applies now. */
  async applyConfig(config: ZeoConfig, count: number): Promise<void> {
    this.config = config;
    await this.scale(count);
  }

  async close(): Promise<void> {
    this.isClosed = true;
    if (this.timer) clearInterval(this.timer);
    const all = [...this.workers, ...this.leaving];
    this.workers.length = 0;
    await Promise.all(all.map((worker) => worker.drain(this.drainTimeoutMs)));
    await Promise.all(this.remotes.map((remote) => remote.close()));
  }

  private get drainTimeoutMs(): number {
    return this.options.drainTimeoutMs ?? Math.min(this.config.router.requestTimeoutMs, 10_000);
  }

  private serially<T>(operation: () => Promise<T>): Promise<T> {
    const next = this.operations.then(operation, operation);
    this.operations = next.catch(() => {});
    return next;
  }

  private async startWorker(restarts: number): Promise<WorkerBackend> {
    const worker = new WorkerBackend({
      workerId: this.nextWorkerId++,
      config: this.config,
      appModule: this.options.appModule,
      storageFactory: this.options.storageFactory,
      log: this.options.log,
      restarts,
    });
    worker.on('exit', (code: number, wasExpected: boolean) => this.onExit(worker, code, wasExpected));
    worker.on('hung', (silentMs: number) => this.onHung(worker, silentMs));
    worker.on('overMemory', (heapBytes: number) => this.onOverMemory(worker, heapBytes));
    this.starting++;
    try {
      await worker.ready(this.options.startTimeoutMs ?? 30_000);
    } catch (error) {
      await worker.terminate().catch(() => {});
      throw error;
    } finally {
      this.starting--;
    }
    if (this.isClosed) {
      await worker.terminate();
      throw new Error('the pool was closed while a worker was starting');
    }
    this.workers.push(worker);
    this.emit('workerReady', worker);
    return worker;
  }

  /** Out of the balancing list first (no new requests), then drained and stopped. */
  private async retire(worker: WorkerBackend): Promise<void> {
    this.remove(worker);
    this.leaving.add(worker);
    try {
      await worker.drain(this.drainTimeoutMs);
    } finally {
      this.leaving.delete(worker);
    }
  }

  private remove(worker: WorkerBackend): void {
    const index = this.workers.indexOf(worker);
    if (index >= 0) this.workers.splice(index, 1);
  }

  private tick(): void {
    for (const worker of new Set([...this.workers, ...this.leaving])) worker.tick();
    for (const remote of this.remotes) remote.tick();
  }

  private onExit(worker: WorkerBackend, code: number, wasExpected: boolean): void {
    const wasServing = this.workers.includes(worker);
    this.remove(worker);
    if (wasExpected || !wasServing || this.isClosed) return;
    this.options.log.error('worker exited; replacing it', { worker: worker.id, code });
    this.emit('replacing', 'exit');
    this.replaceLater(worker.restarts + 1);
  }

  private onHung(worker: WorkerBackend, silentMs: number): void {
    if (!this.workers.includes(worker)) return;
    this.options.log.error('worker hung; terminating and replacing it', { worker: worker.id, silentMs });
    this.emit('replacing', 'hung');
    this.remove(worker);
    void worker.terminate();
    this.replaceLater(worker.restarts + 1);
  }

  private onOverMemory(worker: WorkerBackend, heapBytes: number): void {
    if (!this.workers.includes(worker) || this.leaving.has(worker)) return;
    this.options.log.warn('worker over its memory limit; recycling it', { worker: worker.id, heapBytes });
    this.emit('replacing', 'memory');
    this.leaving.add(worker);
    void this.serially(async () => {
      try {
        if (this.workers.includes(worker)) await this.startWorker(worker.restarts + 1);
      } finally {
        this.leaving.delete(worker);
        if (this.workers.includes(worker)) await this.retire(worker);
      }
    });
  }

  /** A replacement, delayed more while replacements keep failing (a crash loop). */
  private replaceLater(restarts: number): void {
    const delay = this.crashStreak === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** this.crashStreak);
    setTimeout(() => {
      if (this.isClosed || this.workers.length + this.starting >= this.targetCount) return;
      this.startWorker(restarts).then(
        (worker) => {
          this.crashStreak = 0;
          this.options.log.info('replacement worker ready', { worker: worker.id });
        },
        (error: unknown) => {
          this.crashStreak++;
          this.options.log.error('replacement worker failed to start', { error: String(error) });
          this.replaceLater(restarts + 1);
        },
      );
    }, delay).unref();
  }
}
