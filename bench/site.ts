// `zeo bench` (site): one run that measures the zeo site and its baselines on the same catalogue
// and data, on this machine, in one go. For each worker count, each target is started fresh
// (its own storage or schema), warmed up, and driven through each scenario by autocannon; the
// site's /_zeo/status is read around every step. Then the fault scenario runs on the site (and
// on the cluster baseline, for contrast). Progress goes to `log` (stderr), one line per step.

import { join } from 'node:path';
import type { ZeoConfig } from '../config/schema.js';
import { DEFAULT_PRODUCT_COUNT, pageCount } from './apps/catalogue-data.js';
import { FAULTS_ENV } from './apps/faults.js';
import { nodeAppLauncher } from './baselines/app-spec.js';
import { startClusterTarget } from './baselines/cluster.js';
import { findNginx, startNginxTarget } from './baselines/nginx.js';
import { backendPids, createCatalogueSchema, dropCatalogueSchema, newSchemaName } from './baselines/postgres-app.js';
import { runFaultScenario } from './fault-run.js';
import { checkGoals, non2xxNotes } from './goals.js';
import { startSiteTarget, startWithStorageServer, type ZeoLaunchOptions } from './launch/zeo-site.js';
import { runLoad, type LoadResult } from './load.js';
import { describeMachine } from './machine.js';
import { probeCatalogue } from './site-probe.js';
import { medianSteps } from './rounds.js';
import { formatCount, formatMs } from './report-table.js';
import type { BenchRunOptions, FaultResult, SiteBenchResults, StepResult } from './results.js';
import { SCENARIOS, type Scenario } from './scenarios.js';
import { cpuPerRequest, readCpu } from './cpu-usage.js';
import { countersBetween, readStatus } from './site-status.js';
import { type RunningTarget, TARGET_DESCRIPTIONS, type TargetName } from './targets.js';

export interface SiteBenchOptions extends Omit<BenchRunOptions, 'productCount'> {
  /** Catalogue size; null: the bench catalogue's (2,000), or with `url` what the site has. */
  productCount: number | null;
  /** Drive an already running site instead of launching anything (no baselines). */
  url: string | null;
  adminUrl: string | null;
  baseConfig: ZeoConfig;
  postgresUrl: string;
  /** PostgreSQL pool size per app process of the PostgreSQL baseline. */
  postgresPoolSize: number;
  /** Upper bound on the cache warm-up sweep run once per started target (0: none). */
  sweepSeconds: number;
  /** Rounds of the whole sweep (default 1); the median round is reported. */
  repeat?: number;
  command: string;
  isVerbose: boolean;
  /** Folder for V8 CPU profiles of the zeo processes (one subfolder per target and size). */
  cpuProfileDir: string | null;
  log: (line: string) => void;
  signal?: AbortSignal;
}

/** A multi-line failure (first line, then the child's last stderr line) as one line for notes. */
export function oneLine(message: string): string {
  const lines = message.split('\n').map((line) => line.trim()).filter(Boolean);
  return lines.length <= 1 ? (lines[0] ?? '') : `${lines[0]} … ${lines[lines.length - 1]}`;
}

/** Ends the run between steps when the user interrupts it; the finally blocks clean up. */
class Interrupted extends Error {}

function summary(load: LoadResult): string {
  return `${formatCount(load.requestsPerSecond)} req/s, p50 ${formatMs(load.latencyMs.p50)} ms, ` +
    `p99 ${formatMs(load.latencyMs.p99)} ms, ${load.errors} errors, ${load.non2xx} non-2xx`;
}

/** SiteBenchOptions with the catalogue size settled (given, the default, or found on the site). */
type SettledOptions = SiteBenchOptions & { productCount: number };

/** Warms a started target up, then runs each scenario on it: one StepResult per scenario. */
async function* measureTarget(target: RunningTarget, targetName: TargetName, workers: number, options: SettledOptions,
  progress: (text: string) => void): AsyncGenerator<StepResult> {
  const drive = (scenario: Scenario, seconds: number) => runLoad({
    url: target.url, scenario, durationSeconds: seconds, connections: options.connections,
    productCount: options.productCount, signal: options.signal,
  });
  if (options.sweepSeconds > 0) {
    // Fill every worker's caches first: a site in production runs warm, and a cold cache costs a
    // storage round trip per object, which the timed warm-up alone cannot cover. Least-busy
    // balancing does not hand every worker every object, hence two passes per worker.
    const passes = 2 * Math.max(1, workers);
    const sweep = await runLoad({ url: target.url, scenario: 'sweep', durationSeconds: options.sweepSeconds,
      amount: passes * (options.productCount + pageCount(options.productCount)), connections: 8,
      productCount: options.productCount, signal: options.signal });
    options.log(`    warm-up sweep over every product and page (${passes}x): ${formatCount(sweep.completed)} requests ` +
      `in ${sweep.durationSeconds.toFixed(1)} s`);
  }
  for (const name of options.scenarios) {
    if (options.signal?.aborted) throw new Interrupted('interrupted');
    const scenario = SCENARIOS[name];
    progress(`${targetName} · ${workers} workers · ${name}: ${options.warmupSeconds} s warm-up + ${options.durationSeconds} s`);
    if (options.warmupSeconds > 0) await drive(scenario, options.warmupSeconds);
    const before = target.adminUrl ? await readStatus(target.adminUrl) : null;
    const scope = (await target.cpuScope?.()) ?? null;
    const cpuBefore = scope && readCpu(scope);
    const load = await drive(scenario, options.durationSeconds);
    const cpuAfter = scope && readCpu(scope);
    const after = target.adminUrl ? await readStatus(target.adminUrl) : null;
    const site = target.adminUrl ? countersBetween(before, after) : null;
    const cpu = scope ? cpuPerRequest(cpuBefore, cpuAfter, load.completed, scope) : null;
    options.log(`    ${summary(load)}`);
    yield { target: targetName, workers, scenario: name, load, site, cpu };
  }
}

export async function runSiteBench(given: SiteBenchOptions): Promise<SiteBenchResults> {
  const machine = describeMachine();
  const notes: string[] = [];
  let productCount = given.productCount ?? DEFAULT_PRODUCT_COUNT;
  if (given.url) {
    // A running site is not launched with our catalogue: check it has the routes, and ask only
    // for the products it has (the demo shop has 200, not 2,000).
    const probe = await probeCatalogue(given.url, given.productCount);
    productCount = probe.productCount;
    notes.push(...probe.notes);
    given.log(`    ${probe.notes.join('; ')}`);
  }
  const options: SettledOptions = { ...given, productCount };
  const steps: StepResult[] = [];
  const faults: FaultResult[] = [];
  let targets = [...options.targets];
  const nginxPath = targets.includes('nginx') ? findNginx() : null;
  if (targets.includes('nginx') && !nginxPath) {
    notes.push('nginx is not installed: the nginx baseline was skipped (install nginx to measure it)');
    targets = targets.filter((t) => t !== 'nginx');
  }
  if (options.url) {
    notes.push(`drove the running site at ${options.url}; no baselines (they need the same launch)`);
    targets = ['site'];
  }
  const faultTargets = options.faultWorkers && !options.url
    ? targets.filter((t): t is TargetName => t === 'site' || t === 'cluster')
    : options.faultWorkers && options.url ? ['site' as const] : [];
  const rounds = Math.max(1, options.repeat ?? 1);
  const total = rounds * (options.url ? 1 : options.workers.length) * targets.length * options.scenarios.length +
    faultTargets.length;
  let stepNumber = 0;
  const progress = (text: string) => options.log(`[${++stepNumber}/${total}] ${text}`);
  const checkInterrupted = () => {
    if (options.signal?.aborted) throw new Interrupted('interrupted');
  };

  const schema = targets.includes('postgres') ? newSchemaName() : null;
  const start = async (target: TargetName, workers: number, isFaultable: boolean): Promise<RunningTarget> => {
    const zeoOptions = (): ZeoLaunchOptions => ({
      baseConfig: options.baseConfig, workers, productCount: options.productCount, isFaultable,
      isVerbose: options.isVerbose,
      cpuProfileDir: options.cpuProfileDir
        ? join(options.cpuProfileDir, `${target}-${workers}w${isFaultable ? '-faults' : ''}`) : null,
    });
    if (options.url) {
      return { url: options.url, adminUrl: options.adminUrl, workerExits: () => 0, close: async () => {} };
    }
    switch (target) {
      case 'site':
        return startSiteTarget(zeoOptions());
      case 'cluster':
        return startWithStorageServer(zeoOptions(), (app) => startClusterTarget(app, workers, options));
      case 'nginx':
        return startWithStorageServer(zeoOptions(), (app) => startNginxTarget(nginxPath!, app, workers, options));
      case 'postgres': {
        const cluster = await startClusterTarget(nodeAppLauncher({
          kind: 'postgres', productCount: options.productCount, connectionString: options.postgresUrl,
          schema: schema!, poolSize: options.postgresPoolSize,
        }, isFaultable ? { [FAULTS_ENV]: '1' } : {}), workers, options);
        return {
          ...cluster,
          cpuScope: async () => ({ ...(await cluster.cpuScope!()),
            storagePids: await backendPids(options.postgresUrl, schema!).catch(() => []) }),
        };
      }
    }
  };

  try {
    if (schema) {
      options.log(`creating PostgreSQL schema ${schema} with ${options.productCount} products`);
      await createCatalogueSchema(options.postgresUrl, schema, options.productCount);
    }
    const workerCounts = options.url ? [0] : options.workers;
    for (let round = 1; round <= rounds; round++) for (const requestedWorkers of workerCounts) {
      if (rounds > 1 && requestedWorkers === workerCounts[0]) options.log(`round ${round} of ${rounds}`);
      for (const targetName of targets) {
        checkInterrupted();
        let workers = requestedWorkers;
        let target: RunningTarget | null = null;
        try {
          target = await start(targetName, workers, false);
          if (options.url && target.adminUrl) {
            const reading = await readStatus(target.adminUrl);
            if (reading) workers = reading.workers.length;
          }
          for await (const step of measureTarget(target, targetName, workers, options, progress)) {
            steps.push({ ...step, round });
          }
        } catch (error) {
          if (error instanceof Interrupted) throw error;
          const message = error instanceof Error ? error.message : String(error);
          options.log(`    ${targetName} with ${workers} workers failed: ${message}`);
          notes.push(`${targetName} with ${workers} workers failed: ${oneLine(message)}`);
          for (const name of options.scenarios) {
            if (!steps.some((s) => s.target === targetName && s.workers === workers && s.scenario === name && s.round === round)) {
              steps.push({ target: targetName, workers, scenario: name, load: null, site: null, error: message, round });
            }
          }
        } finally {
          await target?.close();
        }
      }
    }
    for (const targetName of faultTargets) {
      checkInterrupted();
      let workers = options.faultWorkers!;
      if (options.url && options.adminUrl) workers = (await readStatus(options.adminUrl))?.workers.length ?? workers;
      progress(`${targetName} · ${workers} workers · fault: read-mostly while one worker hangs and one crashes`);
      let target: RunningTarget | null = null;
      try {
        target = await start(targetName, workers, true);
        const result = await runFaultScenario({
          target, targetName, workers, connections: options.connections, productCount: options.productCount,
          maxSeconds: 90, recoverySeconds: 15, log: options.log,
        });
        faults.push(result);
        options.log(`    ${result.failedRequests} failed requests; ${result.load ? summary(result.load) : ''}`);
      } catch (error) {
        if (error instanceof Interrupted) throw error;
        const message = error instanceof Error ? error.message : String(error);
        options.log(`    fault run on ${targetName} failed: ${message}`);
        faults.push({ target: targetName, workers, load: null, failedRequests: null,
          hang: { skipMs: null, replaceMs: null }, crash: { skipMs: null, replaceMs: null }, notes: [], error: oneLine(message) });
      } finally {
        await target?.close();
      }
    }
  } catch (error) {
    if (!(error instanceof Interrupted)) throw error;
    notes.push('interrupted: the results are partial');
  } finally {
    if (schema) await dropCatalogueSchema(options.postgresUrl, schema).catch((error: unknown) => {
      options.log(`could not drop PostgreSQL schema ${schema}: ${String(error)}`);
    });
  }

  const reported = rounds > 1 ? medianSteps(steps) : steps;
  if (rounds > 1) notes.push(`each row is the median of ${rounds} rounds (every round restarts every target); all rounds are in the JSON`);
  const targetDescriptions: Partial<Record<TargetName, string>> = {};
  for (const target of targets) targetDescriptions[target] = options.url && target === 'site'
    ? `the running site at ${options.url}` : TARGET_DESCRIPTIONS[target];
  return {
    kind: 'zeo-bench-site',
    command: options.command,
    machine,
    options: {
      workers: options.workers, scenarios: options.scenarios, targets, durationSeconds: options.durationSeconds,
      warmupSeconds: options.warmupSeconds, sweepSeconds: options.sweepSeconds, connections: options.connections,
      productCount: options.productCount,
      faultWorkers: options.faultWorkers, repeat: rounds,
    },
    targetDescriptions,
    steps: reported,
    ...(rounds > 1 ? { allRounds: steps } : {}),
    faults,
    goals: checkGoals(reported, faults),
    notes: [...notes, ...non2xxNotes(reported, faults)],
  };
}
