// The object-layer benchmark: zodbshootout's phases over MemoryStorage and FileStorage.
//
//   add      create N objects (a PersistentMap with a few small values each) in one transaction
//   update   change every object in one transaction
//   cold     a new DB (empty object cache) over a freshly opened storage (FileStorage: closed and
//            reopened, so its index and file handles start cold; the OS page cache stays warm)
//   warm     a new DB (empty object cache) over the same open storage
//   hot      a new transaction of the same DB: objects are in the connection's cache
//   steamin  the same transaction again: objects already loaded
//   raw      baseline: the same records read straight from the storage (loadBefore + msgpack
//            decode, no objects), measured in the same run, to show what the object layer costs
//
// Each read phase reads every value of every object. Reported: objects per second, median of
// `runs` runs (each run on a new storage). Run: `node dist/bench/objects.js [--objects N]
// [--runs R]`, or `zeo bench objects`. Writes bench/results/objects.json.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileStorage } from '../storage/file/storage.js';
import { MemoryStorage } from '../storage/memory/storage.js';
import type { Oid, Storage } from '../storage/contract.js';
import { DB } from '../storage/objects/db.js';
import { Persistent } from '../storage/objects/persistent.js';
import { PersistentList } from '../storage/objects/persistent-list.js';
import { PersistentMap } from '../storage/objects/persistent-map.js';
import { decodeRecord } from '../storage/objects/serializer.js';
import type { Transaction } from '../storage/objects/transaction.js';
import { describeMachine, machineLine, type MachineInfo } from './machine.js';
import { writeBenchJson } from './result-file.js';

export const PHASES = ['add', 'update', 'cold', 'warm', 'hot', 'steamin', 'raw'] as const;
export type Phase = (typeof PHASES)[number];
export type StorageKind = 'memory' | 'file';

export interface ObjectsBenchOptions {
  /** Objects per run (default 1,000). */
  objects?: number;
  /** Runs per storage; the median is reported (default 5). */
  runs?: number;
  storages?: StorageKind[];
  /** Where the JSON goes (default bench/results/objects.json; null: not written). */
  outFile?: string | null;
  log?: (line: string) => void;
}

export interface ObjectsBenchResult {
  machine: MachineInfo;
  objects: number;
  runs: number;
  /** Median objects per second, per storage and phase. */
  objectsPerSecond: Record<string, Record<Phase, number>>;
  /** Every run's objects per second, for the spread. */
  samples: Record<string, Record<Phase, number[]>>;
}

export type Item = PersistentMap<string, unknown>;

interface StorageHandle {
  storage: Storage;
  /** Closes and reopens (FileStorage) or returns the same storage (MemoryStorage). */
  reopen(): Promise<Storage>;
  dispose(): Promise<void>;
}

async function openStorage(kind: StorageKind): Promise<StorageHandle> {
  if (kind === 'memory') {
    const storage = new MemoryStorage();
    return { storage, reopen: async () => storage, dispose: () => storage.close() };
  }
  const dir = await mkdtemp(join(tmpdir(), 'zeo-bench-objects-'));
  const path = join(dir, 'bench.fs');
  const handle: StorageHandle = {
    storage: await FileStorage.open(path, { showProgress: false }),
    async reopen() {
      await handle.storage.close();
      handle.storage = await FileStorage.open(path, { showProgress: false });
      return handle.storage;
    },
    async dispose() {
      await handle.storage.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

export async function itemsOf(tx: Transaction): Promise<PersistentList<Item>> {
  return (await (await tx.root()).get('items')) as PersistentList<Item>;
}

/** Reads every value of every object; returns a checksum so nothing is optimized away. */
export async function readAll(tx: Transaction): Promise<number> {
  let checksum = 0;
  for await (const item of await itemsOf(tx)) {
    for await (const [, value] of item.entries()) checksum += typeof value === 'number' ? value : String(value).length;
  }
  return checksum;
}

/** The baseline: every record loaded and decoded, references left as references. */
async function readRecords(storage: Storage, oids: Oid[]): Promise<number> {
  const beforeTid = (await storage.lastTransaction()) + 1n;
  let checksum = 0;
  for (const oid of oids) {
    const revision = await storage.loadBefore(oid, beforeTid);
    const [, state] = decodeRecord(revision!.data, null);
    checksum += (state as unknown[]).length;
  }
  return checksum;
}

export async function timed(count: number, fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return count / seconds;
}

export async function oneRun(kind: StorageKind, objects: number): Promise<Record<Phase, number>> {
  const handle = await openStorage(kind);
  try {
    const db = await DB.open(handle.storage, { cacheSize: objects * 2 });
    const add = await timed(objects, () =>
      db.transaction(async (tx) => {
        const list = new PersistentList<Item>();
        for (let i = 0; i < objects; i++) {
          list.push(new PersistentMap<string, unknown>([['id', i], ['name', `object ${i}`], ['count', 0], ['flag', true]]));
        }
        (await tx.root()).set('items', list);
      }),
    );
    const update = await timed(objects, () =>
      db.transaction(async (tx) => {
        for await (const item of await itemsOf(tx)) item.set('count', ((item.peek('count') as number) ?? 0) + 1);
      }),
    );
    const oids = await db.read(async (tx) => (await itemsOf(tx)).toJSON().map((item) => Persistent.oidOf(item)!));
    await db.close();
    const coldDb = await DB.open(await handle.reopen(), { cacheSize: objects * 2 });
    const cold = await timed(objects, () => coldDb.read(readAll));
    await coldDb.close();
    const raw = await timed(objects, () => readRecords(handle.storage, oids));
    const warmDb = await DB.open(handle.storage, { cacheSize: objects * 2 });
    const warm = await timed(objects, () => warmDb.read(readAll));
    const hot = await timed(objects, () => warmDb.read(readAll));
    const steamin = await warmDb.read(async (tx) => {
      const expected = await readAll(tx);
      let checksum = 0;
      const rate = await timed(objects, async () => {
        checksum = await readAll(tx);
      });
      if (checksum !== expected) throw new Error('steamin read different data');
      return rate;
    });
    await warmDb.close();
    return { add, update, cold, warm, hot, steamin, raw };
  } finally {
    await handle.dispose();
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function formatTable(result: ObjectsBenchResult): string {
  const header = ['storage', ...PHASES].map((h) => h.padStart(10)).join(' ');
  const rows = Object.entries(result.objectsPerSecond).map(([storage, phases]) =>
    [storage.padStart(10), ...PHASES.map((p) => Math.round(phases[p]).toLocaleString('en-US').padStart(10))].join(' '),
  );
  return [
    `object layer, ${result.objects} objects, objects/second (median of ${result.runs} runs)`,
    machineLine(result.machine),
    header,
    ...rows,
  ].join('\n');
}

export async function runObjectsBench(options: ObjectsBenchOptions = {}): Promise<ObjectsBenchResult> {
  const objects = options.objects ?? 1000;
  const runs = options.runs ?? 5;
  const storages = options.storages ?? ['memory', 'file'];
  const log = options.log ?? ((line: string) => console.log(line));
  const machine = describeMachine();
  const samples: ObjectsBenchResult['samples'] = {};
  const objectsPerSecond: ObjectsBenchResult['objectsPerSecond'] = {};
  for (const kind of storages) {
    const perPhase = Object.fromEntries(PHASES.map((p) => [p, [] as number[]])) as Record<Phase, number[]>;
    await oneRun(kind, objects); // warm up the JIT (not counted)
    for (let run = 0; run < runs; run++) {
      const rates = await oneRun(kind, objects);
      for (const phase of PHASES) perPhase[phase].push(rates[phase]);
    }
    samples[kind] = perPhase;
    objectsPerSecond[kind] = Object.fromEntries(PHASES.map((p) => [p, median(perPhase[p])])) as Record<Phase, number>;
  }
  const result: ObjectsBenchResult = { machine, objects, runs, objectsPerSecond, samples };
  log(formatTable(result));
  await writeBenchJson('objects', result, options.outFile, log);
  return result;
}

function flag(name: string): number | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? Number(process.argv[index + 1]) : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runObjectsBench({ objects: flag('--objects'), runs: flag('--runs') }).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
