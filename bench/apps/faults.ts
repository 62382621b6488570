// Fault routes for the bench's fault scenario: a request that blocks its worker's event loop (a
// runaway handler) and one that crashes its worker (an uncaught exception). They exist only when
// ZEO_BENCH_FAULTS=1 is set in the app's environment, so a site never exposes them by accident.
//   POST /_bench/hang?ms=N   busy-waits N ms (default 60 000), then answers 200
//   POST /_bench/crash       answers 202, then throws from a timer (the worker dies)

export const FAULTS_ENV = 'ZEO_BENCH_FAULTS';

export type FaultAction = { kind: 'hang'; ms: number } | { kind: 'crash' };

export function areFaultsEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[FAULTS_ENV] === '1';
}

/** The fault a request asks for, or null when it is not a fault route. */
export function faultFromRequest(method: string, pathname: string, search: URLSearchParams): FaultAction | null {
  if (method !== 'POST') return null;
  if (pathname === '/_bench/crash') return { kind: 'crash' };
  if (pathname === '/_bench/hang') {
    const ms = Number(search.get('ms') ?? 60_000);
    return { kind: 'hang', ms: Number.isFinite(ms) && ms > 0 ? Math.min(ms, 600_000) : 60_000 };
  }
  return null;
}

/** Blocks the event loop on purpose: nothing else in this thread runs meanwhile. */
export function hangFor(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // spin: a blocked event loop is exactly the failure the router's ping must catch
  }
}

export class BenchCrash extends Error {
  constructor() {
    super('crash requested by the bench fault scenario (POST /_bench/crash)');
    this.name = 'BenchCrash';
  }
}

/** Throws from a timer, after the 202 has gone out, so the process or thread dies uncaught. */
export function crashSoon(): void {
  setTimeout(() => {
    throw new BenchCrash();
  }, 20);
}
