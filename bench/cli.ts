// `zeo bench [site|storage|objects|invalidation] [options]`: the bench's command line. `site`
// (the default) runs bench/site.ts and prints its table, writing JSON and HTML reports; the
// others are dispatched to their own bench modules (imported lazily, with flags passed as an
// options object: `--objects 500 --runs 3` -> {objects: 500, runs: 3}).

import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfigWithSource } from '../config/load.js';
import type { ZeoConfig } from '../config/schema.js';
import { InvalidArgumentError } from '../errors.js';
import { DEFAULT_PRODUCT_COUNT } from './apps/catalogue-data.js';
import { DEFAULT_POSTGRES_URL } from './baselines/postgres-app.js';
import { assertLocalUrl } from './load.js';
import { formatTextReport, writeReports } from './report.js';
import { SCENARIO_NAMES, type ScenarioName } from './scenarios.js';
import { runSiteBench, type SiteBenchOptions } from './site.js';
import type { TargetName } from './targets.js';

export const BENCH_USAGE = `usage: zeo bench [site|storage|objects|invalidation|network] [options]

zeo bench site (the default): the site and its baselines under autocannon load
  -c, --config FILE        config to launch the site from (default: the usual lookup)
      --url URL            drive a running site at URL instead (127.0.0.1 only; no baselines): it must
                           serve the catalogue routes (the demo shop does); its product count is found
      --admin-url URL      its admin endpoint, for /_zeo/status (with --url)
      --workers 1,2,4      worker counts to sweep (default: the config's workers.count)
      --duration S         seconds per measured step (default 10)
      --warmup S           seconds of warm-up before each step (default 5)
      --sweep S            at most S seconds, once per started target, fetching every product
                           and page twice per worker to fill the caches (default 30; 0: none)
      --connections N      concurrent connections (default 32)
      --repeat N           run the whole sweep N times, report each step's median (default 1)
      --scenarios LIST     ${SCENARIO_NAMES.join(',')} (default all)
      --targets LIST       site,cluster,nginx,postgres (default all; nginx only if installed)
      --fault-workers N    workers for the hang+crash run (default 3); --no-faults skips it
      --products N         catalogue size (default ${DEFAULT_PRODUCT_COUNT}; with --url, what the site has)
      --postgres-url URL   for the PostgreSQL baseline (default ${DEFAULT_POSTGRES_URL})
      --out DIR            where the JSON and HTML reports go (default bench/results)
      --verbose            show the children's output
      --cpu-prof DIR       every zeo process and worker thread writes a CPU profile into DIR
                           (summarise: node dist/bench/profile-summary.js DIR/<target>)
zeo bench storage|objects|invalidation|network [--name value ...]: the lower-level benchmarks
  (\`zeo bench <name> --help\` lists each one's options)
`;

const ALL_TARGETS: TargetName[] = ['site', 'cluster', 'nginx', 'postgres'];
const RESULTS_FOLDER = fileURLToPath(new URL('../../bench/results/', import.meta.url));

const OUT_FILE_OPTION = (name: string) =>
  `      --out-file FILE      where the JSON goes (default bench/results/${name}.json; null: not written)`;

/** The lower-level benchmarks: their module, entry point and help (their flags are their options). */
const OTHER_BENCHES: Record<string, { module: string; exportName: string; help: string }> = {
  storage: {
    module: './storage.js',
    exportName: 'runStorageBench',
    help: `usage: zeo bench storage [options]

FileStorage on its own: one transaction of many records, many one-record transactions (an fsync
each), group commit with 1/4/16 concurrent committers, and opening a large file with and
without its saved index.
      --records N          records in the file the open benchmark opens (default 1000000)
      --runs N             repetitions of each timed step; the median is reported (default 3)
${OUT_FILE_OPTION('storage')}
`,
  },
  objects: {
    module: './objects.js',
    exportName: 'runObjectsBench',
    help: `usage: zeo bench objects [options]

The object layer, zodbshootout style: add, update, cold, warm, hot and steamin phases over
MemoryStorage and FileStorage, objects per second.
      --objects N          objects per run (default 1000)
      --runs N             runs per storage; the median is reported (default 5)
      --storages LIST      memory,file (default both)
${OUT_FILE_OPTION('objects')}
`,
  },
  invalidation: {
    module: './invalidation.js',
    exportName: 'runInvalidationBench',
    help: `usage: zeo bench invalidation [options]

Invalidation fan-out: from a commit's return until N other client processes have applied it,
pushed on the storage connection and over Redis, p50/p99.
      --clients N          listening clients (default 8)
      --commits N          commits measured (default 200)
      --gap-ms MS          pause between commits (default 10)
      --redis-url URL      Redis for the Redis run; null skips it (default redis://127.0.0.1:6379)
${OUT_FILE_OPTION('invalidation')}
`,
  },
  network: {
    module: './network.js',
    exportName: 'runNetworkBench',
    help: `usage: zeo bench network [options]

The object phases over a storage-server process, next to a local FileStorage in the same run;
then 1/2/4 client processes running a read-mostly transaction mix through the server.
      --objects N          objects per run (default 1000)
      --runs N             runs per storage; the median is reported (default 3)
      --duration S         seconds of transactions per concurrency step (default 5)
      --clients LIST       client process counts (default 1,2,4)
      --write-ratio R      share of write transactions in the concurrent mix (default 0.05)
      --step-timeout-ms MS bound on any one wait for a child (default 120000)
      --verbose            show the children's stderr
${OUT_FILE_OPTION('network')}
`,
  },
};

function positiveInteger(flag: string, text: string, max = 1_000_000): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > max) {
    throw new InvalidArgumentError(flag, `${JSON.stringify(text)} is not a whole number from 1 to ${max}`);
  }
  return value;
}

function list<T extends string>(flag: string, text: string, allowed: readonly T[]): T[] {
  const items = text.split(',').map((item) => item.trim()).filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item as T)) {
      throw new InvalidArgumentError(flag, `${JSON.stringify(item)} is not one of ${allowed.join(', ')}`);
    }
  }
  if (items.length === 0) throw new InvalidArgumentError(flag, 'needs at least one name');
  return [...new Set(items)] as T[];
}

export type ParsedBenchArgs =
  | { kind: 'help'; text: string }
  | { kind: 'other'; what: string; options: Record<string, unknown> }
  | { kind: 'site'; configFile: string | undefined; options: Omit<SiteBenchOptions, 'baseConfig' | 'log' | 'command' | 'workers'> & { workers: number[] | null }; outFolder: string };

/**
 * `--objects 500 --fast --out-file null` -> {objects: 500, fast: true, outFile: null}; a comma in
 * a value makes a list.
 */
export function flagsToOptions(args: readonly string[]): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) throw new InvalidArgumentError(arg, 'expected --name [value]');
    const name = arg.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const next = args[i + 1];
    if (next === undefined || next.startsWith('--')) {
      options[name] = true;
      continue;
    }
    i++;
    const words: Record<string, unknown> = { null: null, true: true, false: false };
    const parse = (text: string) =>
      /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : Object.hasOwn(words, text) ? words[text] : text;
    options[name] = next.includes(',') ? next.split(',').map(parse) : parse(next);
  }
  return options;
}

/** Parses `zeo bench` arguments (pure; exported for tests). */
export function parseBenchArgs(args: readonly string[]): ParsedBenchArgs {
  const first = args[0];
  const what = first && !first.startsWith('-') ? first : 'site';
  const rest = first && !first.startsWith('-') ? args.slice(1) : args;
  if (rest.includes('--help') || rest.includes('-h') || what === 'help') {
    return { kind: 'help', text: OTHER_BENCHES[what]?.help ?? BENCH_USAGE };
  }
  if (OTHER_BENCHES[what]) return { kind: 'other', what, options: flagsToOptions(rest) };
  if (what !== 'site') {
    throw new InvalidArgumentError('zeo bench',
      `unknown benchmark ${JSON.stringify(what)}; use site, ${Object.keys(OTHER_BENCHES).join(', ')}`);
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: [...rest],
      strict: true,
      options: {
        config: { type: 'string', short: 'c' }, url: { type: 'string' }, 'admin-url': { type: 'string' },
        workers: { type: 'string' }, duration: { type: 'string' }, warmup: { type: 'string' }, sweep: { type: 'string' },
        connections: { type: 'string' }, repeat: { type: 'string' }, scenarios: { type: 'string' }, targets: { type: 'string' },
        'fault-workers': { type: 'string' }, 'no-faults': { type: 'boolean' }, products: { type: 'string' },
        'postgres-url': { type: 'string' }, out: { type: 'string' }, verbose: { type: 'boolean' },
        'cpu-prof': { type: 'string' },
      },
    });
  } catch (error) {
    throw new InvalidArgumentError('zeo bench', `${(error as Error).message}; \`zeo bench --help\` lists the options`);
  }
  const v = parsed.values;
  if (parsed.positionals.length) throw new InvalidArgumentError('zeo bench', `unexpected ${parsed.positionals.join(' ')}`);
  const url = v.url ? assertLocalUrl(v.url).origin : null;
  const adminUrl = v['admin-url'] ? assertLocalUrl(v['admin-url']).origin : null;
  const warmupSeconds = v.warmup === undefined ? 5 : v.warmup === '0' ? 0 : positiveInteger('--warmup', v.warmup, 600);
  return {
    kind: 'site',
    configFile: v.config,
    outFolder: v.out ?? RESULTS_FOLDER,
    options: {
      url,
      adminUrl,
      workers: v.workers ? v.workers.split(',').map((w) => positiveInteger('--workers', w.trim(), 256)) : null,
      durationSeconds: v.duration ? positiveInteger('--duration', v.duration, 3_600) : 10,
      warmupSeconds,
      sweepSeconds: v.sweep === undefined ? 30 : v.sweep === '0' ? 0 : positiveInteger('--sweep', v.sweep, 3_600),
      connections: v.connections ? positiveInteger('--connections', v.connections, 10_000) : 32,
      repeat: v.repeat ? positiveInteger('--repeat', v.repeat, 20) : 1,
      scenarios: v.scenarios ? list<ScenarioName>('--scenarios', v.scenarios, SCENARIO_NAMES) : [...SCENARIO_NAMES],
      targets: v.targets ? list<TargetName>('--targets', v.targets, ALL_TARGETS) : [...ALL_TARGETS],
      faultWorkers: v['no-faults'] ? null : v['fault-workers'] ? positiveInteger('--fault-workers', v['fault-workers'], 256) : 3,
      productCount: v.products ? positiveInteger('--products', v.products, 1_000_000) : null,
      postgresUrl: v['postgres-url'] ?? DEFAULT_POSTGRES_URL,
      postgresPoolSize: 8,
      isVerbose: v.verbose ?? false,
      cpuProfileDir: v['cpu-prof'] ? resolve(v['cpu-prof']) : null,
    },
  };
}

async function runOther(what: string, options: Record<string, unknown>): Promise<number> {
  const source = OTHER_BENCHES[what]!;
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(source.module)) as Record<string, unknown>;
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String(error).includes(source.module.slice(2))) {
      process.stderr.write(`zeo bench ${what}: not available in this build (bench/${source.module.slice(2, -3)}.ts is missing)\n`);
      return 1;
    }
    throw error;
  }
  const run = loaded[source.exportName];
  if (typeof run !== 'function') {
    process.stderr.write(`zeo bench ${what}: bench/${source.module.slice(2, -3)}.ts has no ${source.exportName}()\n`);
    return 1;
  }
  const result: unknown = await run(options);
  return typeof result === 'number' ? result : 0;
}

const configWorkers = (config: ZeoConfig) => (config.workers.count === 'auto' ? availableParallelism() : config.workers.count);

export async function runBenchCli(args: string[]): Promise<number> {
  const parsed = parseBenchArgs(args);
  if (parsed.kind === 'help') {
    process.stdout.write(parsed.text);
    return 0;
  }
  if (parsed.kind === 'other') return runOther(parsed.what, parsed.options);
  const { config } = loadConfigWithSource({ file: parsed.configFile });
  const interrupt = new AbortController();
  const onSignal = () => {
    if (interrupt.signal.aborted) process.exit(130);
    process.stderr.write('zeo bench: stopping after the current step (Ctrl-C again to quit at once)\n');
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const results = await runSiteBench({
      ...parsed.options,
      workers: parsed.options.workers ?? [configWorkers(config)],
      baseConfig: config,
      command: `zeo bench ${args.join(' ')}`.trim(),
      log: (line) => process.stderr.write(line + '\n'),
      signal: interrupt.signal,
    });
    process.stdout.write(formatTextReport(results));
    const written = await writeReports(results, parsed.outFolder);
    process.stdout.write(`\nwrote ${written.json}\nwrote ${written.html}\n`);
    return results.steps.some((step) => step.error) || results.faults.some((fault) => fault.error) ? 1 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
