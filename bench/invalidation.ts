// The invalidation-latency benchmark: how long after a commit returns to its committer do N
// other clients have the invalidation applied (their onInvalidation called)? Measured with
// invalidations pushed on the storage connections and through Redis, each in the same run.
//
// Three processes, as in production: the storage server (MemoryStorage, so fsync is not what is
// measured), a committer (this process, one commit every --gap ms), and a listener process
// holding N ClientStorages, each with its own connection (and Redis subscription). Times are
// wall-clock milliseconds (performance.timeOrigin + now()), comparable across processes. A
// listener can apply an invalidation before the committer's reply arrives (the server pushes
// first), so small negative latencies are real.
//
// Run: `node dist/bench/invalidation.js [--clients N] [--commits C] [--gap ms] [--redis URL]`.
// Prints a table, writes bench/results/invalidation.json, and says what machine it ran on.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DEFAULTS, type ZeoConfig } from '../config/schema.js';
import { ClientStorage } from '../storage/client/storage.js';
import { runStorageServerMain } from '../storage/server/main.js';
import { describeMachine, machineLine, type MachineInfo } from './machine.js';
import { formatTable } from './report-table.js';
import { writeBenchJson } from './result-file.js';

export interface InvalidationBenchOptions {
  clients?: number;
  commits?: number;
  /** Pause between commits (ms). */
  gapMs?: number;
  /** Redis for the Redis run; null skips it. Default redis://127.0.0.1:6379. */
  redisUrl?: string | null;
  outFile?: string | null;
  log?: (line: string) => void;
}

export interface InvalidationBenchRow {
  mode: 'push' | 'redis';
  clients: number;
  commits: number;
  /** Latencies from commit return to applied, over every (commit, client) pair, in ms. */
  p50: number;
  p99: number;
  max: number;
  /** Per commit: until the LAST of the N clients applied it. */
  allAppliedP50: number;
  allAppliedP99: number;
}

export interface InvalidationBenchResult {
  machine: MachineInfo;
  rows: InvalidationBenchRow[];
}

const now = () => performance.timeOrigin + performance.now();
const self = fileURLToPath(import.meta.url);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function readLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      lines.close();
      resolve(line);
    });
    child.once('exit', (code) => reject(new Error(`bench child exited (${code}) early`)));
  });
}

async function measure(mode: 'push' | 'redis', options: Required<Omit<InvalidationBenchOptions, 'outFile' | 'log'>>): Promise<InvalidationBenchRow> {
  const redis = mode === 'redis' ? { url: options.redisUrl!, prefix: `zeo-bench-${randomBytes(6).toString('hex')}:` } : null;
  const server = spawn(process.execPath, [self, '--role', 'server', JSON.stringify({ redis })], { stdio: ['ignore', 'pipe', 'inherit'] });
  const listeners: ChildProcess[] = [];
  const committer: { storage: ClientStorage | null } = { storage: null };
  try {
    const { port } = JSON.parse(await readLine(server)) as { port: number };
    const servers = [`127.0.0.1:${port}`];
    const listener = spawn(process.execPath, [self, '--role', 'listeners', JSON.stringify({ servers, redis, clients: options.clients })], { stdio: ['pipe', 'pipe', 'inherit'] });
    listeners.push(listener);
    await readLine(listener); // ready
    await new Promise((resolve) => setTimeout(resolve, 300)); // let Redis subscriptions settle
    const storage = await ClientStorage.open({ servers, log: () => undefined });
    committer.storage = storage;
    const [oid] = await storage.newOids();
    const returned = new Map<string, number>();
    let base = 0n;
    for (let i = 0; i < options.commits; i++) {
      const { tid } = await storage.commit({ stores: [{ oid: oid!, baseTid: base, data: randomBytes(100), refs: [] }] });
      returned.set(tid.toString(), now());
      base = tid;
      await new Promise((resolve) => setTimeout(resolve, options.gapMs));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    listener.stdin!.write('report\n');
    const applied = JSON.parse(await readLine(listener)) as Record<string, number[]>;
    const all: number[] = [];
    const lastPerCommit: number[] = [];
    for (const [tid, at] of returned) {
      const times = applied[tid] ?? [];
      if (times.length < options.clients) throw new Error(`${mode}: commit ${tid} reached ${times.length} of ${options.clients} clients`);
      for (const t of times) all.push(t - at);
      lastPerCommit.push(Math.max(...times) - at);
    }
    all.sort((a, b) => a - b);
    lastPerCommit.sort((a, b) => a - b);
    const round = (n: number) => Math.round(n * 100) / 100;
    return {
      mode,
      clients: options.clients,
      commits: options.commits,
      p50: round(percentile(all, 50)),
      p99: round(percentile(all, 99)),
      max: round(all[all.length - 1]!),
      allAppliedP50: round(percentile(lastPerCommit, 50)),
      allAppliedP99: round(percentile(lastPerCommit, 99)),
    };
  } finally {
    await committer.storage?.close();
    for (const child of [...listeners, server]) child.kill('SIGTERM');
  }
}

export async function runInvalidationBench(options: InvalidationBenchOptions = {}): Promise<InvalidationBenchResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const settings = {
    clients: options.clients ?? 8,
    commits: options.commits ?? 200,
    gapMs: options.gapMs ?? 10,
    redisUrl: options.redisUrl === undefined ? 'redis://127.0.0.1:6379' : options.redisUrl,
  };
  const machine = describeMachine();
  const rows = [await measure('push', settings)];
  if (settings.redisUrl) rows.push(await measure('redis', settings));
  const result = { machine, rows };
  log(formatInvalidationTable(result));
  await writeBenchJson('invalidation', result, options.outFile, log);
  return result;
}

export function formatInvalidationTable(result: InvalidationBenchResult): string {
  const headers = ['mode', 'clients', 'commits', 'p50 ms', 'p99 ms', 'max ms', 'all-applied p50', 'all-applied p99'];
  const rows = result.rows.map((r) => [r.mode, String(r.clients), String(r.commits), String(r.p50), String(r.p99), String(r.max), String(r.allAppliedP50), String(r.allAppliedP99)]);
  return [
    'invalidation latency: commit returned -> applied by each other client',
    formatTable(headers, rows, headers.map((_, i) => i > 0)),
    machineLine(result.machine),
  ].join('\n');
}

/** Child role: a storage server serving a MemoryStorage. */
async function serverRole(settings: { redis: { url: string; prefix: string } | null }): Promise<void> {
  const config: ZeoConfig = structuredClone(DEFAULTS);
  config.storage = { ...config.storage, kind: 'memory', name: 'main' };
  config.storageServer.listen = { host: '127.0.0.1', port: 0 };
  config.redis = settings.redis ?? { url: null, prefix: 'zeo:' };
  const server = await runStorageServerMain(config, { log: () => undefined });
  process.stdout.write(JSON.stringify({ port: server.address.port }) + '\n');
}

/** Child role: N ClientStorages recording when each applied each invalidation. */
async function listenersRole(settings: { servers: string[]; redis: { url: string; prefix: string } | null; clients: number }): Promise<void> {
  const applied = new Map<string, number[]>();
  const storages = await Promise.all(
    Array.from({ length: settings.clients }, () => ClientStorage.open({ servers: settings.servers, redis: settings.redis, log: () => undefined })),
  );
  for (const storage of storages) {
    storage.onInvalidation((invalidation) => {
      const at = now();
      const key = invalidation.tid.toString();
      const times = applied.get(key) ?? [];
      times.push(at);
      applied.set(key, times);
    });
  }
  process.stdout.write('ready\n');
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'report') process.stdout.write(JSON.stringify(Object.fromEntries(applied)) + '\n');
  }
  await Promise.all(storages.map((s) => s.close()));
}

function flag(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const role = flag('--role');
  const run =
    role === 'server'
      ? serverRole(JSON.parse(process.argv[4]!))
      : role === 'listeners'
        ? listenersRole(JSON.parse(process.argv[4]!))
        : runInvalidationBench({
            clients: flag('--clients') ? Number(flag('--clients')) : undefined,
            commits: flag('--commits') ? Number(flag('--commits')) : undefined,
            gapMs: flag('--gap') ? Number(flag('--gap')) : undefined,
            redisUrl: flag('--redis'),
          }).then(() => process.exit(0));
  run.catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
