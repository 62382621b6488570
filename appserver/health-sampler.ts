// What an app server knows about its own health, gathered for the router's pings and the
// stand-alone health endpoint: event-loop delay (a busy or blocked loop shows here first), heap,
// the storage connection, request and error counts, cache hit rates and how far the storage
// client lags behind its server.

import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { toHex } from '../storage/tid.js';
import type { RunnerStats } from './request-runner.js';
import type { WorkerHealth } from './worker-protocol.js';

/** What the sampler reads about the worker's storage and DB; site-runtime.ts builds it. */
export interface StorageProbe {
  /** The client's snapshot TID (every invalidation up to it applied). */
  lastTid(): bigint | null;
  /** The storage server's last TID as last heard, when known. */
  serverLastTid(): bigint | null;
  isConnected(): boolean;
  /** Cache statistics, any nesting; every {hits, misses} pair becomes a hit rate. */
  cacheStats(): Record<string, unknown>;
}

const NS_PER_MS = 1e6;

export class HealthSampler {
  private readonly histogram: IntervalHistogram;
  private readonly workerId: number;

  constructor(workerId: number) {
    this.workerId = workerId;
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
    this.histogram.enable();
  }

  /** A report; the event-loop delay covers the time since the previous report. */
  sample(stats: RunnerStats, storage: StorageProbe | null): WorkerHealth {
    const meanNs = this.histogram.count > 0 ? this.histogram.mean : 0;
    const maxNs = this.histogram.count > 0 ? this.histogram.max : 0;
    this.histogram.reset();
    const lastTid = storage?.lastTid() ?? null;
    const serverLastTid = storage?.serverLastTid() ?? null;
    return {
      workerId: this.workerId,
      eventLoopDelayMeanMs: round(meanNs / NS_PER_MS),
      eventLoopDelayMaxMs: round(maxNs / NS_PER_MS),
      heapUsedBytes: getHeapStatistics().used_heap_size,
      isStorageConnected: storage?.isConnected() ?? true,
      inFlight: stats.inFlight,
      served: stats.served,
      errors: stats.errors,
      conflicts: stats.conflicts,
      conflictsExhausted: stats.conflictsExhausted,
      catchUps: stats.catchUps,
      cacheHitRates: cacheHitRates(storage),
      // TIDs carry their commit time in the high bits (storage/tid.ts), so the TID gap is a time gap.
      storageLagMs:
        lastTid !== null && serverLastTid !== null
          ? serverLastTid > lastTid
            ? Number((serverLastTid - lastTid) >> 16n)
            : 0
          : null,
      lastTid: lastTid !== null ? toHex(lastTid) : null,
    };
  }

  close(): void {
    this.histogram.disable();
  }
}

/** Hit rates from whatever stats the storage client offers: any `{hits, misses}` pair. */
function cacheHitRates(storage: StorageProbe | null): Record<string, number> {
  const rates: Record<string, number> = {};
  let stats: Record<string, unknown> | undefined;
  try {
    stats = storage?.cacheStats();
  } catch {
    return rates;
  }
  if (!stats) return rates;
  const visit = (name: string, value: unknown): void => {
    if (!value || typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    if (typeof record.hits === 'number' && typeof record.misses === 'number') {
      const total = record.hits + record.misses;
      rates[name || 'cache'] = total > 0 ? round(record.hits / total) : 0;
      return;
    }
    for (const [key, inner] of Object.entries(record)) visit(name ? `${name}.${key}` : key, inner);
  };
  visit('', stats);
  return rates;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
