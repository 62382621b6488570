// The network bench with tiny sizes: a real storage-server process and real client processes,
// every phase measured, the warm process served from the disk cache the previous one left, the
// concurrent steps adding up, the JSON written, and no process left behind (also after SIGINT).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { childPids } from '../../bench/cpu-usage.js';
import type { LoadResult } from '../../bench/network-client.js';
import { concurrencyRow, NETWORK_PHASES, runNetworkBench } from '../../bench/network.js';

const BENCH_ENTRY = fileURLToPath(new URL('../../bench/network.js', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A process that is gone or a zombie (its parent has not reaped it) no longer runs. */
function isRunning(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return false;
  try {
    return readFileSync(stat, 'utf8').replace(/^.*\) /, '')[0] !== 'Z';
  } catch {
    return false;
  }
}

function descendants(pid: number): number[] {
  const direct = childPids(pid);
  return [...direct, ...direct.flatMap(descendants)];
}

t.test('a concurrency row adds up its clients and takes percentiles over all of them', async (t) => {
  const client = (reads: number[], writes: number[], retries: number, failed: number): LoadResult => ({
    elapsedMs: 2_000, reads: reads.length, writes: writes.length, conflictRetries: retries, failedWrites: failed, serverLoads: failed * 5,
    readLatenciesMs: reads, writeLatenciesMs: writes,
  });
  const row = concurrencyRow(2, [client([1, 1, 1, 1], [10], 2, 0), client([1, 1, 1], [20, 30], 1, 1)]);
  t.equal(row.transactions, 10);
  t.equal(row.transactionsPerSecond, 5, '10 transactions in 2 s');
  t.equal(row.reads, 7);
  t.equal(row.writes, 3);
  t.equal(row.conflictRetries, 3);
  t.equal(row.failedWrites, 1);
  t.equal(row.serverLoads, 5);
  t.equal(row.p50Ms, 1);
  t.equal(row.p99Ms, 30);
  t.equal(row.writeP50Ms, 20);
});

t.test('tiny run: every phase over a storage-server process and locally, 1 and 2 clients', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'zeo-network-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const outFile = join(dir, 'network.json');
  const lines: string[] = [];
  const objects = 30;
  const result = await runNetworkBench({ objects, runs: 1, duration: 0.5, clients: [1, 2], outFile, log: (line) => lines.push(line) });

  for (const kind of ['network', 'file'] as const) {
    for (const phase of NETWORK_PHASES) {
      const rate = result.objectsPerSecond[kind][phase];
      t.ok(Number.isFinite(rate) && rate > 0, `${kind} ${phase}: ${rate} objects/s`);
    }
  }
  // Every load of the warm read (the list and each object) came from the cache file the first
  // process left; none went to the server.
  t.equal(result.warmCache.length, 1);
  t.ok(result.warmCache[0]!.hits >= objects + 1, `warm: ${result.warmCache[0]!.hits} cache hits`);
  t.equal(result.warmCache[0]!.misses, 0, 'warm: nothing loaded from the server');

  t.same(result.concurrency.map((row) => row.clients), [1, 2]);
  for (const row of result.concurrency) {
    t.ok(row.transactions > 0 && row.reads + row.writes === row.transactions, `${row.clients} clients: ${row.transactions} transactions`);
    t.ok(row.seconds >= 0.5 && row.seconds < 10, `ran ${row.seconds} s`);
    t.ok(row.p50Ms <= row.p99Ms);
    t.ok(row.failedWrites <= row.writes);
  }

  const written = JSON.parse(await readFile(outFile, 'utf8')) as typeof result;
  t.equal(written.kind, 'zeo-bench-network');
  t.equal(written.objects, objects);
  t.ok(written.machine.cores >= 1 && written.machine.node === process.version);
  const table = lines.join('\n');
  t.match(table, /storage server \(FileStorage\), over TCP/);
  t.match(table, /local FileStorage/);
  t.match(table, /tx\/s/);
  t.same(descendants(process.pid).filter(isRunning), [], 'no child process left');
});

t.test('SIGINT stops the bench and every process it started', { timeout: 60_000 }, async (t) => {
  const bench = spawn(process.execPath, [BENCH_ENTRY, '--objects', '30', '--runs', '50', '--duration', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  bench.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => bench.once('exit', (code) => resolve(code)));
  t.teardown(() => void bench.kill('SIGKILL'));
  // Wait until it has a storage server and a client process running.
  let started: number[] = [];
  for (let i = 0; i < 400 && started.length < 2; i++) {
    await sleep(50);
    started = descendants(bench.pid!).filter(isRunning);
  }
  t.ok(started.length >= 2, `the bench started ${started.length} processes`);
  bench.kill('SIGINT');
  t.equal(await exited, 130, 'exit code 130 after SIGINT');
  t.match(stderr, /interrupted/);
  for (let i = 0; i < 100 && started.some(isRunning); i++) await sleep(50);
  t.same(started.filter(isRunning), [], 'every process it started is gone');
});
