// The router's Prometheus metrics, in a Registry of its own (never prom-client's global one, so
// two sites in one process — tests — do not collide). Per-worker gauges are read from the pool
// at scrape time.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkerHealth } from '../appserver/worker-protocol.js';
import type { Backend } from './backend.js';
import type { Pool } from './pool.js';

export class RouterMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'method' | 'status'>;
  readonly duration: Histogram<'method'>;
  readonly retries: Counter<string>;
  readonly failures: Counter<'reason'>;
  readonly replacements: Counter<'reason'>;

  constructor(pool: Pool) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'zeo_router_' });
    this.requests = new Counter({
      name: 'zeo_requests_total',
      help: 'Requests answered by the router, by method and status',
      labelNames: ['method', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'zeo_request_duration_seconds',
      help: 'Time from the request arriving to the response being written',
      labelNames: ['method'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.retries = new Counter({ name: 'zeo_retries_total', help: 'Requests sent again to another app server', registers });
    this.failures = new Counter({
      name: 'zeo_router_failures_total',
      help: 'Requests the router answered itself with 413/502/503/504',
      labelNames: ['reason'],
      registers,
    });
    this.replacements = new Counter({
      name: 'zeo_worker_replacements_total',
      help: 'Workers replaced, by reason (exit, hung, memory)',
      labelNames: ['reason'],
      registers,
    });
    pool.on('replacing', (reason: string) => this.replacements.inc({ reason }));
    new Gauge({
      name: 'zeo_workers',
      help: 'Worker threads taking traffic',
      registers,
      collect() {
        this.set(pool.workers.length);
      },
    });
    const perBackend = (name: string, help: string, read: (health: WorkerHealth | null, backend: Backend) => number | null) =>
      new Gauge({
        name,
        help,
        labelNames: ['backend'],
        registers,
        collect() {
          this.reset();
          for (const backend of pool.backends()) {
            const snapshot = backend.snapshot();
            const value = read(snapshot.kind === 'worker' ? (snapshot.health as WorkerHealth | null) : null, backend);
            if (value !== null) this.set({ backend: backend.id }, value);
          }
        },
      });
    perBackend('zeo_backend_in_flight', 'Requests in flight per app server', (_h, backend) => backend.inFlight);
    perBackend('zeo_backend_healthy', '1 when the app server takes traffic', (_h, backend) => (backend.isAvailable() ? 1 : 0));
    perBackend('zeo_backend_served_total', 'Requests answered per app server', (_h, backend) => backend.snapshot().served);
    perBackend('zeo_backend_errors_total', 'Failed requests per app server', (_h, backend) => backend.snapshot().errors);
    perBackend('zeo_worker_heap_used_bytes', 'Heap used per worker', (health) => health?.heapUsedBytes ?? null);
    perBackend('zeo_worker_event_loop_delay_max_seconds', 'Worst event-loop delay since the last ping', (health) =>
      health ? health.eventLoopDelayMaxMs / 1000 : null,
    );
    perBackend('zeo_worker_storage_lag_seconds', 'How far the worker storage client is behind its server', (health) =>
      health?.storageLagMs != null ? health.storageLagMs / 1000 : null,
    );
    perBackend('zeo_worker_conflicts_total', 'Requests that hit a conflict at least once', (health) => health?.conflicts ?? null);
    new Gauge({
      name: 'zeo_worker_cache_hit_ratio',
      help: 'Storage cache hit ratio per worker and cache',
      labelNames: ['backend', 'cache'],
      registers,
      collect() {
        this.reset();
        for (const worker of pool.workers) {
          for (const [cache, ratio] of Object.entries(worker.lastHealth?.cacheHitRates ?? {})) {
            this.set({ backend: worker.id, cache }, ratio);
          }
        }
      },
    });
  }
}
