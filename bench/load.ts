// One measured load step: autocannon (programmatic API) driving a URL with a scenario's request
// mix for a bounded time, summarised as the numbers the report shows. Only 127.0.0.1 / localhost
// targets are accepted: the bench never sends load anywhere else.

import autocannon from 'autocannon';
import { autocannonRequests, type Scenario } from './scenarios.js';

export interface LoadOptions {
  url: string;
  /** A scenario's mix, or 'sweep': every product and page in turn (cache warm-up). */
  scenario: Scenario | 'sweep';
  durationSeconds: number;
  /** Stop after this many requests (before durationSeconds if it comes first). */
  amount?: number;
  connections: number;
  productCount?: number;
  /** autocannon's per-request timeout (seconds); a request slower than this counts as an error. */
  timeoutSeconds?: number;
  /** Called about once a second with requests completed so far. */
  onTick?: (completed: number) => void;
  /** Stops the step early (the fault scenario ends once the site has recovered). */
  signal?: AbortSignal;
}

export interface LoadResult {
  /** Responses received (any status). */
  completed: number;
  durationSeconds: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p97_5: number; p99: number; max: number; mean: number };
  /** Connection errors and timeouts: requests that got no response at all. */
  errors: number;
  timeouts: number;
  non2xx: number;
  /** Responses with status >= 500: with errors, the "failed requests" of the fault scenario. */
  serverErrors: number;
  statusCounts: Record<string, number>;
  /** Responses >= 500 by the method of the request ("POST": 2): a failed write cannot be retried. */
  serverErrorsByMethod: Record<string, number>;
  bytesPerSecond: number;
}

export class NonLocalTargetError extends Error {
  constructor(url: string) {
    super(`refusing to send load to ${url}: zeo bench only targets 127.0.0.1 or localhost`);
    this.name = 'NonLocalTargetError';
  }
}

export function assertLocalUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new NonLocalTargetError(url);
  }
  if (parsed.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname)) {
    throw new NonLocalTargetError(url);
  }
  return parsed;
}

/** Turns autocannon's result into the report's numbers (pure; exported for tests). */
export function summariseAutocannon(result: autocannon.Result): LoadResult {
  const statusCounts: Record<string, number> = {};
  for (const [status, stat] of Object.entries(result.statusCodeStats ?? {})) {
    statusCounts[status] = stat?.count ?? 0;
  }
  const completed = result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx'];
  const durationSeconds = result.duration;
  return {
    completed,
    durationSeconds,
    requestsPerSecond: durationSeconds > 0 ? completed / durationSeconds : 0,
    latencyMs: {
      p50: result.latency.p50,
      p97_5: result.latency.p97_5,
      p99: result.latency.p99,
      max: result.latency.max,
      mean: result.latency.mean,
    },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    serverErrors: result['5xx'],
    statusCounts,
    serverErrorsByMethod: {},
    bytesPerSecond: result.throughput.mean,
  };
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const url = assertLocalUrl(options.url);
  return new Promise((resolve, reject) => {
    let completed = 0;
    let cleanUp = () => {};
    const serverErrorsByMethod: Record<string, number> = {};
    const onServerError = (method: string) => {
      serverErrorsByMethod[method] = (serverErrorsByMethod[method] ?? 0) + 1;
    };
    const instance = autocannon(
      {
        url: url.origin,
        connections: options.connections,
        duration: options.durationSeconds,
        ...(options.amount ? { amount: options.amount } : {}),
        timeout: options.timeoutSeconds ?? 10,
        requests: autocannonRequests(options.scenario, { productCount: options.productCount, onServerError }),
      },
      (error, result) => {
        clearInterval(ticker);
        cleanUp();
        if (error) reject(error instanceof Error ? error : new Error(String(error)));
        else resolve({ ...summariseAutocannon(result), serverErrorsByMethod });
      },
    );
    instance.on('response', () => {
      completed++;
    });
    const stop = () => instance.stop();
    options.signal?.addEventListener('abort', stop, { once: true });
    // autocannon ignores `duration` when `amount` is set: bound it here.
    const deadline = options.amount ? setTimeout(stop, options.durationSeconds * 1_000) : null;
    cleanUp = () => {
      if (deadline) clearTimeout(deadline);
      options.signal?.removeEventListener('abort', stop);
    };
    const ticker = setInterval(() => options.onTick?.(completed), 1_000);
  });
}
