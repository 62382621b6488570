// The fault scenario: while a read-mostly load runs, one worker is made to hang (its event loop
// blocked) and then one to crash (an uncaught exception), through the catalogue's guarded fault
// routes. Requests that get no answer or a 5xx are the "failed requests" (the goal is none). On
// a zeo site, /_zeo/status is polled meanwhile to time how long the router takes to stop sending
// to the broken worker (skip) and to have a new one taking traffic (replace).

import { runLoad } from './load.js';
import type { FaultResult, FaultTiming } from './results.js';
import { SCENARIOS } from './scenarios.js';
import { readStatus, type StatusReading, type WorkerStatus } from './site-status.js';
import type { RunningTarget, TargetName } from './targets.js';

export interface FaultRunOptions {
  target: RunningTarget;
  targetName: TargetName;
  workers: number;
  connections: number;
  productCount: number;
  /** Upper bound on the whole run; the load stops earlier once both faults are over. */
  maxSeconds: number;
  /** How long to wait for the site to recover from each fault. */
  recoverySeconds: number;
  log: (line: string) => void;
}

const HANG_MS = 20_000;
const POLL_MS = 50;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isServing = (worker: WorkerStatus) => worker.state === 'ready' && worker.isHealthy;

/**
 * When the fault showed in the readings (pure; exported for tests). `before` is the pool just
 * before the fault; a worker that was serving and stops serving (or disappears) is the skip; a
 * serving worker that was not serving before (a new id, or the same id restarted) is the
 * replacement, once as many workers serve as before.
 */
export function faultTiming(before: readonly WorkerStatus[], readings: readonly StatusReading[], injectedAt: number): FaultTiming {
  const serving = new Map(before.filter(isServing).map((w) => [w.id, w]));
  let skipMs: number | null = null;
  let replaceMs: number | null = null;
  for (const reading of readings) {
    if (reading.at < injectedAt) continue;
    const now = new Map(reading.workers.map((w) => [w.id, w]));
    if (skipMs === null) {
      const isSkipped = [...serving.keys()].some((id) => !now.has(id) || !isServing(now.get(id)!));
      if (isSkipped) skipMs = reading.at - injectedAt;
    }
    if (skipMs !== null && replaceMs === null) {
      const servingNow = reading.workers.filter(isServing);
      const hasNewcomer = servingNow.some((w) => !serving.has(w.id) || w.restarts > serving.get(w.id)!.restarts);
      if (hasNewcomer && servingNow.length >= serving.size) replaceMs = reading.at - injectedAt;
    }
  }
  return { skipMs, replaceMs };
}

/** A fault request in flight: how the site answered it, once it did. */
interface Injection {
  kind: 'hang' | 'crash';
  path: string;
  /** The status, or why there was none; null while unanswered. */
  answer: string | null;
  /** The site answered as a site without the fault routes does (404, or a fast 200 to a hang). */
  isRefused: boolean;
}

/**
 * Whether an answer shows the fault did not take effect (pure; exported for tests). A 5xx or no
 * answer is the fault at work (the router gave up on the worker); a crash answers 202 first; a
 * hang answers, if ever, only after blocking for `hangMs`. Anything else (404, 405, a quick 200)
 * is a site without the fault routes.
 */
export function isFaultRefused(kind: 'hang' | 'crash', status: number, elapsedMs: number, hangMs = HANG_MS): boolean {
  if (status >= 500) return false;
  if (kind === 'crash') return status !== 202;
  return !(status === 200 && elapsedMs >= hangMs / 2);
}

function inject(url: string, kind: 'hang' | 'crash', path: string): Injection {
  const injection: Injection = { kind, path, answer: null, isRefused: false };
  const startedAt = Date.now();
  // The fault request itself gets no useful answer (the hang one none at all): fire and go on.
  fetch(`${url}${path}`, { method: 'POST', signal: AbortSignal.timeout(HANG_MS + 15_000) })
    .then(async (response) => {
      await response.arrayBuffer().catch(() => {});
      injection.answer = String(response.status);
      injection.isRefused = isFaultRefused(kind, response.status, Date.now() - startedAt);
    })
    .catch((error: unknown) => {
      injection.answer = `no answer (${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name})`;
    });
  return injection;
}

/** The note for a fault the site refused, or null. */
function refusalNote(injection: Injection): string | null {
  return injection.isRefused
    ? `POST ${injection.path.split('?')[0]} answered ${injection.answer}: the site has no fault routes ` +
      '(the bench catalogue app serves them with ZEO_BENCH_FAULTS=1), so the fault was not injected'
    : null;
}

async function watch(adminUrl: string | null, before: StatusReading | null, injectedAt: number,
  recoveryMs: number, injection: Injection): Promise<FaultTiming> {
  const deadline = injectedAt + recoveryMs;
  if (!adminUrl || !before) {
    while (Date.now() < deadline && !injection.isRefused) await sleep(POLL_MS);
    return { skipMs: null, replaceMs: null, isInjected: !injection.isRefused, answer: injection.answer };
  }
  const readings: StatusReading[] = [];
  let timing: FaultTiming = { skipMs: null, replaceMs: null };
  while (Date.now() < deadline && !injection.isRefused) {
    const reading = await readStatus(adminUrl, 1_000);
    if (reading) readings.push(reading);
    timing = faultTiming(before.workers, readings, injectedAt);
    if (timing.replaceMs !== null) break;
    await sleep(POLL_MS);
  }
  return { ...timing, isInjected: !injection.isRefused, answer: injection.answer };
}

export async function runFaultScenario(options: FaultRunOptions): Promise<FaultResult> {
  const { target, log } = options;
  const notes: string[] = [];
  const stop = new AbortController();
  const loading = runLoad({
    url: target.url,
    scenario: SCENARIOS['read-mostly'],
    durationSeconds: options.maxSeconds,
    connections: options.connections,
    productCount: options.productCount,
    signal: stop.signal,
  });
  loading.catch(() => {});
  const recoveryMs = options.recoverySeconds * 1_000;
  await sleep(2_000);
  const beforeHang = target.adminUrl ? await readStatus(target.adminUrl) : null;
  const hangAt = Date.now();
  log(`  fault: POST /_bench/hang?ms=${HANG_MS} (blocks one worker's event loop)`);
  const hanging = inject(target.url, 'hang', `/_bench/hang?ms=${HANG_MS}`);
  const hang = await watch(target.adminUrl, beforeHang, hangAt, recoveryMs, hanging);
  await sleep(1_000);
  const beforeCrash = target.adminUrl ? await readStatus(target.adminUrl) : null;
  const crashAt = Date.now();
  log('  fault: POST /_bench/crash (one worker throws uncaught)');
  const crashing = inject(target.url, 'crash', '/_bench/crash');
  const crash = await watch(target.adminUrl, beforeCrash, crashAt, recoveryMs, crashing);
  await sleep(3_000);
  stop.abort();
  const load = await loading;
  for (const injection of [hanging, crashing]) {
    const note = refusalNote(injection);
    if (note) {
      notes.push(note);
      log(`  ${note}`);
    }
  }
  if (!target.adminUrl) {
    notes.push('no admin endpoint: skip/replace times are not observable on this target');
    const exits = target.workerExits();
    if (exits) notes.push(`${exits} worker process exit(s), each forked again by the cluster primary`);
  }
  return {
    target: options.targetName,
    workers: options.workers,
    load,
    failedRequests: load.errors + load.serverErrors,
    hang,
    crash,
    notes,
  };
}
