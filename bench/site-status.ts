// Reading a running site's admin endpoints the way an operator would: GET /_zeo/status (every
// worker with its state and health report) and GET /_zeo/metrics (Prometheus text, for the
// router's retry count). A step's counters are the difference between a reading before it and
// one after; a site without an admin endpoint simply has none.

import type { SiteCounters } from './results.js';

export interface WorkerStatus {
  id: string;
  state: string;
  isHealthy: boolean;
  restarts: number;
  /** Requests the router has had answered by this worker. */
  served: number;
  /** Requests that hit a ConflictError at least once (ran again), since the worker started. */
  conflicts: number | null;
  cacheHitRates: Record<string, number>;
  storageLagMs: number | null;
}

export interface StatusReading {
  at: number;
  workers: WorkerStatus[];
  /** zeo_retries_total from /_zeo/metrics, when available. */
  routerRetries: number | null;
}

const asNumber = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

/** Parses /_zeo/status JSON (proxy/admin.ts poolStatus) into worker statuses; tolerant of gaps. */
export function parseStatus(body: unknown): WorkerStatus[] {
  const workers = (body as { workers?: unknown } | null)?.workers;
  if (!Array.isArray(workers)) return [];
  return workers.map((entry: Record<string, unknown>) => {
    const health = (entry.health ?? {}) as Record<string, unknown>;
    const rates = (entry.cacheHitRates ?? health.cacheHitRates ?? {}) as Record<string, unknown>;
    const cacheHitRates: Record<string, number> = {};
    for (const [name, rate] of Object.entries(rates)) if (asNumber(rate) !== null) cacheHitRates[name] = rate as number;
    return {
      id: String(entry.id ?? entry.workerId ?? '?'),
      state: String(entry.state ?? 'unknown'),
      isHealthy: entry.isHealthy === true,
      restarts: asNumber(entry.restarts) ?? 0,
      served: asNumber(entry.served) ?? 0,
      conflicts: asNumber(health.conflicts),
      cacheHitRates,
      storageLagMs: asNumber(entry.storageLagMs ?? health.storageLagMs),
    };
  });
}

/** The value of a Prometheus counter without labels (summed over label sets if it has any). */
export function metricValue(text: string, name: string): number | null {
  let total: number | null = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) total = (total ?? 0) + value;
  }
  return total;
}

export async function readStatus(adminUrl: string, timeoutMs = 2_000): Promise<StatusReading | null> {
  try {
    const [status, metrics] = await Promise.all([
      fetch(`${adminUrl}/_zeo/status`, { signal: AbortSignal.timeout(timeoutMs) }),
      fetch(`${adminUrl}/_zeo/metrics`, { signal: AbortSignal.timeout(timeoutMs) }).catch(() => null),
    ]);
    if (!status.ok) return null;
    const workers = parseStatus(await status.json());
    const metricsText = metrics?.ok ? await metrics.text() : '';
    return { at: Date.now(), workers, routerRetries: metricValue(metricsText, 'zeo_retries_total') };
  } catch {
    return null;
  }
}

/** The cache for the hit-rate column: the storage client's ("storage", or one named like memory), else the first. */
function mainCacheRate(rates: Record<string, number>): number | null {
  const names = Object.keys(rates);
  const name = names.find((n) => /^storage$|mem/i.test(n)) ?? names[0];
  return name === undefined ? null : rates[name]!;
}

/** What happened between two readings (pure; exported for tests). */
export function countersBetween(before: StatusReading | null, after: StatusReading | null): SiteCounters | null {
  if (!after) return null;
  const earlier = new Map((before?.workers ?? []).map((w) => [w.id, w]));
  let conflictRetries: number | null = null;
  for (const worker of after.workers) {
    if (worker.conflicts === null) continue;
    conflictRetries = (conflictRetries ?? 0) + worker.conflicts - (earlier.get(worker.id)?.conflicts ?? 0);
  }
  const rates = after.workers.map((w) => mainCacheRate(w.cacheHitRates)).filter((r): r is number => r !== null);
  const lags = after.workers.map((w) => w.storageLagMs).filter((l): l is number => l !== null);
  return {
    conflictRetries,
    cacheHitRate: rates.length ? rates.reduce((a, b) => a + b, 0) / rates.length : null,
    storageLagMs: lags.length ? Math.max(...lags) : null,
    routerRetries: after.routerRetries !== null ? after.routerRetries - (before?.routerRetries ?? 0) : null,
    workers: after.workers.map((w) => ({
      id: w.id, served: w.served - (earlier.get(w.id)?.served ?? 0), cacheHitRates: w.cacheHitRates,
    })),
  };
}
