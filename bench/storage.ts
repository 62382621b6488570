// The FileStorage benchmark: what a commit, a load and an open cost on this machine.
//
//   big transaction     one transaction of 1,000 small records
//   small transactions  1,000 transactions of one record, one after another
//   committers          1, 4 and 16 concurrent committers (1,000 commits in all): group commit
//                       shows as commits per fsync > 1 and more commits/s than 1 committer
//                       (the baseline, measured in the same run)
//   loads               10,000 loads of random objects among 1,000
//   open                a file of 1,000,000 records opened with its saved index, then without
//                       (a full scan)
//
// Run: `node dist/bench/storage.js [--records N] [--runs R]` or `zeo bench storage --records N`.
// Prints a table, writes bench/results/storage.json, and says what machine it ran on.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { InvalidArgumentError } from '../errors.js';
import { FileStorage } from '../storage/file/storage.js';
import { describeMachine, machineLine, type MachineInfo } from './machine.js';
import { writeBenchJson } from './result-file.js';

export interface StorageBenchOptions {
  /** Records in the file the open benchmark opens (default 1,000,000). */
  records?: number;
  /** Repetitions of each timed step; the median is reported (default 3). */
  runs?: number;
  /** Where the JSON goes (default bench/results/storage.json; null: not written). */
  outFile?: string | null;
  log?: (line: string) => void;
}

export interface StorageBenchRow {
  name: string;
  operations: number;
  /** Median wall time of one run. */
  milliseconds: number;
  perSecond: number;
  /** fsyncs per run (commit steps only). */
  fsyncs: number | null;
}

export interface StorageBenchResult {
  machine: MachineInfo;
  records: number;
  runs: number;
  rows: StorageBenchRow[];
}

const RECORD = new Uint8Array(100).fill(42);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function checkCount(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError(name, `expected a positive whole number, got ${String(value)}`);
  }
  return value;
}

/** A fresh FileStorage in a temp folder; the folder goes when `use` is done. */
async function withStorage<T>(use: (storage: FileStorage, path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'zeo-bench-storage-'));
  const path = join(dir, 'Data.fs');
  const storage = await FileStorage.open(path);
  try {
    return await use(storage, path);
  } finally {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs `step` `runs` times on fresh storages; returns the median time and fsyncs. */
async function measure(
  runs: number,
  step: (storage: FileStorage) => Promise<void>,
  prepare: (storage: FileStorage) => Promise<void> = async () => {},
): Promise<{ milliseconds: number; fsyncs: number }> {
  const times: number[] = [];
  const fsyncs: number[] = [];
  for (let run = 0; run < runs; run++) {
    await withStorage(async (storage) => {
      await prepare(storage);
      const before = storage.stats.fsyncs;
      const start = performance.now();
      await step(storage);
      times.push(performance.now() - start);
      fsyncs.push(storage.stats.fsyncs - before);
    });
  }
  return { milliseconds: median(times), fsyncs: median(fsyncs) };
}

function row(name: string, operations: number, measured: { milliseconds: number; fsyncs: number | null }): StorageBenchRow {
  return {
    name,
    operations,
    milliseconds: Math.round(measured.milliseconds * 10) / 10,
    perSecond: Math.round((operations / measured.milliseconds) * 1000),
    fsyncs: measured.fsyncs,
  };
}

async function commitMany(storage: FileStorage, count: number, firstOid: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await storage.commit({ stores: [{ oid: BigInt(firstOid + i), baseTid: 0n, data: RECORD, refs: [] }] });
  }
}

async function writeFileOfRecords(storage: FileStorage, records: number): Promise<void> {
  const perTransaction = 1000;
  for (let first = 0; first < records; first += perTransaction) {
    const stores = [];
    for (let oid = first; oid < Math.min(first + perTransaction, records); oid++) {
      stores.push({ oid: BigInt(oid), baseTid: 0n, data: RECORD.subarray(0, 50), refs: [] });
    }
    await storage.commit({ stores });
  }
}

export async function runStorageBench(options: StorageBenchOptions = {}): Promise<StorageBenchResult> {
  const records = checkCount('records', options.records, 1_000_000);
  const runs = checkCount('runs', options.runs, 3);
  const log = options.log ?? ((line: string) => console.log(line));
  const machine = describeMachine();
  const rows: StorageBenchRow[] = [];
  log(`FileStorage benchmark · ${machineLine(machine)}`);

  const big = await measure(runs, async (storage) => {
    const stores = Array.from({ length: 1000 }, (_, i) => ({ oid: BigInt(i), baseTid: 0n, data: RECORD, refs: [] }));
    await storage.commit({ stores });
  });
  rows.push(row('1 transaction of 1,000 records (records/s)', 1000, big));

  rows.push(row('1,000 transactions of 1 record (commits/s)', 1000, await measure(runs, (s) => commitMany(s, 1000, 0))));

  for (const committers of [1, 4, 16]) {
    const share = Math.floor(1000 / committers);
    const measured = await measure(runs, async (storage) => {
      await Promise.all(Array.from({ length: committers }, (_, c) => commitMany(storage, share, c * share)));
    });
    rows.push(row(`${committers} concurrent committer${committers > 1 ? 's' : ''} (commits/s)`, share * committers, measured));
  }

  const loads = await measure(
    runs,
    async (storage) => {
      for (let i = 0; i < 10_000; i++) await storage.load(BigInt(Math.floor(Math.random() * 1000)));
    },
    (storage) => commitMany(storage, 1000, 0),
  );
  rows.push(row('10,000 loads (loads/s)', 10_000, { ...loads, fsyncs: null }));

  await withStorage(async (storage, path) => {
    log(`writing a file of ${records.toLocaleString('en')} records for the open benchmark...`);
    await writeFileOfRecords(storage, records);
    await storage.close();
    const withIndex: number[] = [];
    const withoutIndex: number[] = [];
    for (let run = 0; run < runs; run++) {
      let start = performance.now();
      const indexed = await FileStorage.open(path, { showProgress: false });
      withIndex.push(performance.now() - start);
      if (!indexed.openInfo.usedSavedIndex) throw new Error('the saved index was not used');
      await indexed.close();
      await rm(path + '.index');
      start = performance.now();
      // Read-only: nothing is written back, so the next run finds no index either.
      const scanned = await FileStorage.open(path, { showProgress: false, isReadOnly: true });
      withoutIndex.push(performance.now() - start);
      await scanned.close();
      const writer = await FileStorage.open(path, { showProgress: false });
      await writer.close(); // saves the index again for the next run
    }
    rows.push(row(`open ${records.toLocaleString('en')} records, saved index (records/s)`, records, { milliseconds: median(withIndex), fsyncs: null }));
    rows.push(row(`open ${records.toLocaleString('en')} records, full scan (records/s)`, records, { milliseconds: median(withoutIndex), fsyncs: null }));
  });

  const result: StorageBenchResult = { machine, records, runs, rows };
  log(formatTable(result));
  await writeBenchJson('storage', result, options.outFile, log);
  return result;
}

export function formatTable(result: StorageBenchResult): string {
  const header = ['step', 'ops', 'ms (median)', 'per second', 'fsyncs', 'ops/fsync'];
  const lines = result.rows.map((r) => [
    r.name,
    r.operations.toLocaleString('en'),
    r.milliseconds.toLocaleString('en'),
    r.perSecond.toLocaleString('en'),
    r.fsyncs === null ? '' : String(r.fsyncs),
    r.fsyncs ? (r.operations / r.fsyncs).toFixed(1) : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    format(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...lines.map(format),
    `${result.runs} runs each, median · ${machineLine(result.machine)}`,
  ].join('\n');
}

function flag(name: string): number | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? Number(process.argv[index + 1]) : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runStorageBench({ records: flag('--records'), runs: flag('--runs') }).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
