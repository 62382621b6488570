// The storage-server benchmark (issue 4): zodbshootout's phases over the network, next to the
// same phases on a local FileStorage, and concurrent clients with a mostly-read mix.
//
// Every process is real: the storage server is `zeo storage-server` (dist/bin/zeo.js) serving a
// FileStorage in a temp folder on a free loopback port, and each client is its own process
// (bench/network-client.ts), so client and server never share a CPU thread.
//
//   phases   per run, a fresh server; one client process runs add, update, cold (a new
//            ClientStorage: empty memory cache, no disk cache; a new DB), then leaves a disk cache
//            file; a NEW process opening that file runs warm, hot and steamin. The local
//            FileStorage row is bench/objects.ts's run, in the same process as this bench,
//            interleaved with the network runs (its warm is a new DB over the open storage).
//            Objects per second, median of `runs`.
//   clients  1, 2, 4 client processes against one server holding N objects, each with every
//            object in its caches, running transactions for `duration` seconds: 95% reads of
//            10 random objects, 5% updates of 1-2 random objects. Transactions per second (all
//            clients), conflict retries, writes that failed after every retry, p50/p99 latency.
//
// Invalidation latency is bench/invalidation.ts. Run: `node dist/bench/network.js [--objects N]
// [--runs N] [--duration S]` or `zeo bench network`. Prints tables, writes
// bench/results/network.json, says what machine it ran on. Every wait is bounded; every child
// is stopped at the end, on error and on SIGINT/SIGTERM (and exits by itself if we die).

import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ClientStorage } from '../storage/client/storage.js';
import { DB } from '../storage/objects/db.js';
import { InvalidArgumentError } from '../errors.js';
import { ChildHandle } from './launch/processes.js';
import { describeMachine, machineLine, type MachineInfo } from './machine.js';
import { addObjects, type ClientTask, type FirstResult, type LoadResult, type WarmResult } from './network-client.js';
import { median, oneRun, type Phase } from './objects.js';
import { formatCount, formatTable } from './report-table.js';
import { writeBenchJson } from './result-file.js';

export const NETWORK_PHASES = ['add', 'update', 'cold', 'warm', 'hot', 'steamin'] as const;
export type NetworkPhase = (typeof NETWORK_PHASES)[number];

export interface NetworkBenchOptions {
  /** Objects per run (default 1,000). */
  objects?: number;
  /** Runs per storage; the median is reported (default 3). */
  runs?: number;
  /** Seconds of transactions per concurrency step (default 5). */
  duration?: number;
  /** Client process counts (default 1, 2, 4). */
  clients?: number | number[];
  /** Share of write transactions in the concurrent mix (default 0.05). */
  writeRatio?: number;
  /** Bound on any one wait for a child (default 120 s). */
  stepTimeoutMs?: number;
  /** Where the JSON goes (default bench/results/network.json; null: not written). */
  outFile?: string | null;
  /** Show the children's stderr. */
  verbose?: boolean;
  log?: (line: string) => void;
}

export interface ConcurrencyRow {
  clients: number;
  seconds: number;
  transactions: number;
  transactionsPerSecond: number;
  reads: number;
  writes: number;
  conflictRetries: number;
  failedWrites: number;
  /** Loads that went to the server (the clients' caches had lost those objects to invalidations). */
  serverLoads: number;
  p50Ms: number;
  p99Ms: number;
  readP50Ms: number;
  writeP50Ms: number;
  writeP99Ms: number;
}

export interface NetworkBenchResult {
  kind: 'zeo-bench-network';
  machine: MachineInfo;
  objects: number;
  runs: number;
  durationSeconds: number;
  writeRatio: number;
  /** Median objects per second per phase: 'network' (storage server process) and 'file' (local). */
  objectsPerSecond: Record<'network' | 'file', Record<NetworkPhase, number>>;
  samples: Record<'network' | 'file', Record<NetworkPhase, number[]>>;
  /** Per network run: loads the warm process's caches answered / sent to the server. */
  warmCache: Array<{ hits: number; misses: number }>;
  concurrency: ConcurrencyRow[];
  notes: string[];
}

const here = dirname(fileURLToPath(import.meta.url));
const ZEO_BIN = join(here, '..', 'bin', 'zeo.js');
const CLIENT_ENTRY = join(here, 'network-client.js');

/** Every child alive, so an error or a signal can stop them all. */
class Children {
  private readonly live = new Set<ChildHandle>();
  constructor(private readonly isVerbose: boolean) {}

  start(name: string, entry: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildHandle {
    const child = fork(entry, args, { cwd: options.cwd, env: options.env ?? process.env, execArgv: [], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const handle = new ChildHandle(name, child, this.isVerbose);
    this.live.add(handle);
    child.once('exit', () => this.live.delete(handle));
    return handle;
  }

  async stop(handle: ChildHandle): Promise<void> {
    await handle.stop(5_000);
    this.live.delete(handle);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.live].map((handle) => this.stop(handle)));
  }

  /** Synchronous last resort (process exit): SIGKILL by pid. */
  killAll(): void {
    for (const handle of this.live) if (handle.isRunning) handle.child.kill('SIGKILL');
  }
}

interface Server {
  address: string;
  handle: ChildHandle;
}

/** `zeo storage-server` over a new FileStorage in `dir`, on a free 127.0.0.1 port. */
async function startServer(children: Children, dir: string, timeoutMs: number): Promise<Server> {
  // Only our settings: a ZEO_* or REDIS_URL of the caller's shell must not change what is measured.
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('ZEO_') && name !== 'REDIS_URL'));
  Object.assign(env, {
    ZEO_STORAGE_KIND: 'file',
    ZEO_STORAGE_NAME: 'main',
    ZEO_STORAGE_PATH: join(dir, 'Data.fs'),
    ZEO_STORAGE_SERVER_LISTEN_HOST: '127.0.0.1',
    ZEO_STORAGE_SERVER_LISTEN_PORT: '0',
  });
  // cwd = the temp folder, so no zeo.config.json of the caller's folder is read.
  const handle = children.start('storage server', ZEO_BIN, ['storage-server'], { cwd: dir, env });
  const message = await handle.waitForMessage('zeo:storage-server-listening', timeoutMs);
  const { host, port } = message.address as { host: string; port: number };
  return { address: `${host}:${port}`, handle };
}

async function runClient<T>(children: Children, task: ClientTask, timeoutMs: number): Promise<T> {
  const handle = children.start(`bench client (${task.role})`, CLIENT_ENTRY, [JSON.stringify(task)]);
  try {
    return (await handle.waitForMessage('result', timeoutMs)).result as T;
  } finally {
    await children.stop(handle);
  }
}

async function networkRun(children: Children, objects: number, timeoutMs: number): Promise<{ rates: Record<NetworkPhase, number>; warmCache: { hits: number; misses: number } }> {
  const dir = await mkdtemp(join(tmpdir(), 'zeo-bench-network-'));
  let server: Server | null = null;
  try {
    server = await startServer(children, dir, timeoutMs);
    const task: ClientTask = { role: 'first', server: server.address, objects, diskCachePath: join(dir, 'client.cache') };
    const first = await runClient<FirstResult>(children, task, timeoutMs);
    // One hit is the root record, which DB.open loaded to check it exists; any more: not cold.
    if (first.coldCacheHits > 1) throw new Error(`cold read had ${first.coldCacheHits} cache hits: its caches were not empty`);
    const warm = await runClient<WarmResult>(children, { ...task, role: 'warm' }, timeoutMs);
    return {
      rates: { add: first.add, update: first.update, cold: first.cold, warm: warm.warm, hot: warm.hot, steamin: warm.steamin },
      warmCache: { hits: warm.warmCacheHits, misses: warm.warmCacheMisses },
    };
  } finally {
    if (server) await children.stop(server.handle);
    await rm(dir, { recursive: true, force: true });
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** Pure: one concurrency step's row from its clients' results (exported for tests). */
export function concurrencyRow(clients: number, results: LoadResult[]): ConcurrencyRow {
  const sum = (pick: (r: LoadResult) => number) => results.reduce((total, r) => total + pick(r), 0);
  const sorted = (values: number[]) => values.sort((a, b) => a - b);
  const reads = sorted(results.flatMap((r) => r.readLatenciesMs));
  const writes = sorted(results.flatMap((r) => r.writeLatenciesMs));
  const all = sorted([...reads, ...writes]);
  const seconds = Math.max(...results.map((r) => r.elapsedMs)) / 1000;
  const transactions = sum((r) => r.reads + r.writes);
  return {
    clients,
    seconds: round3(seconds),
    transactions,
    transactionsPerSecond: Math.round(transactions / seconds),
    reads: sum((r) => r.reads),
    writes: sum((r) => r.writes),
    conflictRetries: sum((r) => r.conflictRetries),
    failedWrites: sum((r) => r.failedWrites),
    serverLoads: sum((r) => r.serverLoads),
    p50Ms: round3(percentile(all, 50)),
    p99Ms: round3(percentile(all, 99)),
    readP50Ms: round3(percentile(reads, 50)),
    writeP50Ms: round3(percentile(writes, 50)),
    writeP99Ms: round3(percentile(writes, 99)),
  };
}

async function concurrencySteps(children: Children, settings: { objects: number; durationMs: number; writeRatio: number; clients: number[]; timeoutMs: number }): Promise<ConcurrencyRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'zeo-bench-network-'));
  let server: Server | null = null;
  try {
    server = await startServer(children, dir, settings.timeoutMs);
    const storage = await ClientStorage.open({ servers: [server.address], storage: 'main', log: () => undefined });
    try {
      const db = await DB.open(storage);
      await db.transaction((tx) => addObjects(tx, 'items', settings.objects));
      await db.close();
    } finally {
      await storage.close();
    }
    const rows: ConcurrencyRow[] = [];
    for (const count of settings.clients) {
      const task: ClientTask = { role: 'load', server: server.address, objects: settings.objects, diskCachePath: '', durationMs: settings.durationMs, writeRatio: settings.writeRatio };
      const handles = Array.from({ length: count }, (_, i) => children.start(`bench load client ${i + 1}/${count}`, CLIENT_ENTRY, [JSON.stringify(task)]));
      try {
        await Promise.all(handles.map((h) => h.waitForMessage('ready', settings.timeoutMs)));
        for (const h of handles) h.send({ type: 'go' });
        const results = await Promise.all(handles.map((h) => h.waitForMessage('result', settings.durationMs + settings.timeoutMs)));
        rows.push(concurrencyRow(count, results.map((m) => m.result as LoadResult)));
      } finally {
        await Promise.all(handles.map((h) => children.stop(h)));
      }
    }
    return rows;
  } finally {
    if (server) await children.stop(server.handle);
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatNetworkTables(result: NetworkBenchResult): string {
  const labels = { network: 'storage server (FileStorage), over TCP', file: 'local FileStorage' } as const;
  const phaseRows = (['network', 'file'] as const).map((kind) => [labels[kind], ...NETWORK_PHASES.map((p) => formatCount(result.objectsPerSecond[kind][p]))]);
  const headers = ['clients', 'tx/s', 'reads', 'writes', 'conflict retries', 'failed writes', 'server loads', 'p50 ms', 'p99 ms', 'read p50', 'write p50', 'write p99'];
  const rows = result.concurrency.map((r) => [
    String(r.clients), formatCount(r.transactionsPerSecond), formatCount(r.reads), formatCount(r.writes), String(r.conflictRetries),
    String(r.failedWrites), formatCount(r.serverLoads), formatMs(r.p50Ms), formatMs(r.p99Ms), formatMs(r.readP50Ms), formatMs(r.writeP50Ms), formatMs(r.writeP99Ms),
  ]);
  return [
    `zodbshootout phases, ${result.objects} objects, objects/second (median of ${result.runs} runs)`,
    formatTable(['storage', ...NETWORK_PHASES], phaseRows, [false, ...NETWORK_PHASES.map(() => true)]),
    'network: cold = new ClientStorage, no disk cache; warm = new process on the disk cache the previous one left.',
    'local: cold = FileStorage reopened; warm = new DB over the open storage (bench/objects.ts).',
    '',
    `concurrent client processes, ${Math.round((1 - result.writeRatio) * 100)}% reads of 10 random objects / ` +
      `${Math.round(result.writeRatio * 100)}% updates of 1-2, ${result.durationSeconds} s each`,
    formatTable(headers, rows, headers.map((_, i) => i > 0)),
    ...result.notes,
    machineLine(result.machine),
  ].join('\n');
}

/** Milliseconds with the precision a value needs: hot reads take microseconds, commits milliseconds. */
const formatMs = (n: number) => (n >= 100 ? String(Math.round(n)) : n >= 1 ? n.toFixed(1) : n.toFixed(3));

function checkWhole(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new InvalidArgumentError(`--${name}`, `expected a whole number from ${min} to ${max}, got ${String(value)}`);
  return value;
}

export async function runNetworkBench(options: NetworkBenchOptions = {}): Promise<NetworkBenchResult> {
  const objects = checkWhole('objects', options.objects ?? 1000, 1, 1_000_000);
  const runs = checkWhole('runs', options.runs ?? 3, 1, 100);
  const durationSeconds = options.duration ?? 5;
  if (!(durationSeconds > 0 && durationSeconds <= 3600)) throw new InvalidArgumentError('--duration', `expected seconds above 0, at most 3600, got ${String(durationSeconds)}`);
  const clients = (Array.isArray(options.clients) ? options.clients : options.clients === undefined ? [1, 2, 4] : [options.clients]).map((c) => checkWhole('clients', c, 1, 64));
  const writeRatio = options.writeRatio ?? 0.05;
  if (!(writeRatio >= 0 && writeRatio <= 1)) throw new InvalidArgumentError('--write-ratio', `expected a share from 0 to 1, got ${String(writeRatio)}`);
  const timeoutMs = options.stepTimeoutMs ?? 120_000;
  const log = options.log ?? ((line: string) => console.log(line));
  const children = new Children(options.verbose ?? false);
  let isInterrupted = false;
  const onSignal = () => {
    if (isInterrupted) return;
    isInterrupted = true;
    process.stderr.write('zeo bench network: interrupted; stopping its processes\n');
    children.stopAll().finally(() => process.exit(130));
  };
  const onExit = () => children.killAll();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', onExit);
  try {
    const machine = describeMachine();
    const samples = { network: emptySamples(), file: emptySamples() };
    const warmCache: NetworkBenchResult['warmCache'] = [];
    await oneRun('file', objects); // warm up this process's JIT for the local runs (not counted)
    for (let run = 0; run < runs; run++) {
      const network = await networkRun(children, objects, timeoutMs);
      warmCache.push(network.warmCache);
      const local: Record<Phase, number> = await oneRun('file', objects);
      for (const phase of NETWORK_PHASES) {
        samples.network[phase].push(network.rates[phase]);
        samples.file[phase].push(local[phase]);
      }
    }
    const concurrency = await concurrencySteps(children, { objects, durationMs: durationSeconds * 1000, writeRatio, clients, timeoutMs });
    const notes = [`up to ${Math.max(...clients)} client processes and the storage server share ${machine.cores} cores; loopback TCP`];
    const result: NetworkBenchResult = {
      kind: 'zeo-bench-network',
      machine,
      objects,
      runs,
      durationSeconds,
      writeRatio,
      objectsPerSecond: { network: medians(samples.network), file: medians(samples.file) },
      samples,
      warmCache,
      concurrency,
      notes,
    };
    log(formatNetworkTables(result));
    await writeBenchJson('network', result, options.outFile, log);
    return result;
  } finally {
    await children.stopAll();
    // The run fails as its children die: exit as interrupted, not with that failure.
    if (isInterrupted) process.exit(130);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
  }
}

function emptySamples(): Record<NetworkPhase, number[]> {
  return Object.fromEntries(NETWORK_PHASES.map((p) => [p, [] as number[]])) as Record<NetworkPhase, number[]>;
}

function medians(samples: Record<NetworkPhase, number[]>): Record<NetworkPhase, number> {
  return Object.fromEntries(NETWORK_PHASES.map((p) => [p, median(samples[p])])) as Record<NetworkPhase, number>;
}

function flag(name: string): number | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? Number(process.argv[index + 1]) : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const clientsFlag = process.argv.indexOf('--clients');
  runNetworkBench({
    objects: flag('--objects'),
    runs: flag('--runs'),
    duration: flag('--duration'),
    clients: clientsFlag >= 0 ? (process.argv[clientsFlag + 1] ?? '').split(',').map(Number) : undefined,
    verbose: process.argv.includes('--verbose'),
  }).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
