// A client process of the network benchmark (bench/network.ts forks one per role): its own
// ClientStorage and DB against the storage server process under test, so client and server
// never share a CPU thread. The task arrives as a JSON argument; results go back over IPC
// ({type: 'result'} or {type: 'failed'}). The process exits when its parent goes away.
//
// Roles:
//   first  add and update N objects, then read them with empty caches (cold: a new ClientStorage
//          without disk cache, a new DB); then fills a disk cache file (untimed) for the next process
//   warm   a new process whose ClientStorage opens that disk cache file: warm, then hot (a new
//          transaction of the same DB) and steamin (the same transaction again)
//   load   after 'go', transactions for a fixed time: mostly reads of random objects, some
//          updates of 1-2 random objects; latencies, conflict retries and failures reported
//
// first and warm first run the same code paths on objects under another root key ('warmup'), through
// clients that are then thrown away, so V8's JIT is warm while the measured caches are not: a
// phase measures cache state, not a cold compiler (as bench/objects.ts's untimed first run does).

import { pathToFileURL } from 'node:url';
import { ClientStorage } from '../storage/client/storage.js';
import { isConflict } from '../storage/contract.js';
import { DB } from '../storage/objects/db.js';
import { PersistentList } from '../storage/objects/persistent-list.js';
import { PersistentMap } from '../storage/objects/persistent-map.js';
import type { Transaction } from '../storage/objects/transaction.js';
import { itemsOf, readAll, timed, type Item } from './objects.js';

export interface ClientTask {
  role: 'first' | 'warm' | 'load';
  /** "host:port" of the storage server. */
  server: string;
  objects: number;
  /** The disk cache file 'first' fills and 'warm' opens. */
  diskCachePath: string;
  /** load: how long to run transactions once told to go. */
  durationMs?: number;
  /** load: share of write transactions (0.05). */
  writeRatio?: number;
  /** load: objects read by a read transaction (10). */
  readsPerTransaction?: number;
}

export interface FirstResult {
  add: number;
  update: number;
  cold: number;
  /** Loads the cold ClientStorage answered from its memory cache during the cold read (0 expected). */
  coldCacheHits: number;
}

export interface WarmResult {
  warm: number;
  hot: number;
  steamin: number;
  /** Loads answered by the memory + disk cache / sent to the server during the warm read. */
  warmCacheHits: number;
  warmCacheMisses: number;
}

export interface LoadResult {
  elapsedMs: number;
  reads: number;
  writes: number;
  /** Commits that hit a ConflictError and ran again (DB.transaction's retries). */
  conflictRetries: number;
  /** Write transactions whose ConflictError outlived every retry. */
  failedWrites: number;
  /** Loads this client's caches could not answer (objects invalidated by others' commits). */
  serverLoads: number;
  readLatenciesMs: number[];
  writeLatenciesMs: number[];
}

const quiet = () => undefined;

async function withDb<T>(task: ClientTask, diskCachePath: string | null, fn: (db: DB, storage: ClientStorage) => Promise<T>): Promise<T> {
  const storage = await ClientStorage.open({ servers: [task.server], storage: 'main', diskCachePath, log: quiet });
  try {
    const db = await DB.open(storage, { cacheSize: task.objects * 2 + 100 });
    try {
      return await fn(db, storage);
    } finally {
      await db.close();
    }
  } finally {
    await storage.close();
  }
}

async function listUnder(tx: Transaction, key: string): Promise<PersistentList<Item>> {
  return (await (await tx.root()).get(key)) as PersistentList<Item>;
}

/** The objects of bench/objects.ts's add phase: a PersistentMap with four small values each. */
export async function addObjects(tx: Transaction, key: string, objects: number): Promise<void> {
  const list = new PersistentList<Item>();
  for (let i = 0; i < objects; i++) {
    list.push(new PersistentMap<string, unknown>([['id', i], ['name', `object ${i}`], ['count', 0], ['flag', true]]));
  }
  (await tx.root()).set(key, list);
}

async function updateAll(tx: Transaction, key: string): Promise<void> {
  for await (const item of await listUnder(tx, key)) item.set('count', ((item.peek('count') as number) ?? 0) + 1);
}

async function readUnder(tx: Transaction, key: string): Promise<number> {
  let checksum = 0;
  for await (const item of await listUnder(tx, key)) {
    for await (const [, value] of item.entries()) checksum += typeof value === 'number' ? value : String(value).length;
  }
  return checksum;
}

/** JIT warm-up on the 'warmup' objects through a client that is then closed. */
async function warmUpReads(task: ClientTask): Promise<void> {
  for (let client = 0; client < 2; client++) {
    await withDb(task, null, async (db) => {
      await db.read((tx) => readUnder(tx, 'warmup')); // the load path
      for (let i = 0; i < 3; i++) await db.read((tx) => readUnder(tx, 'warmup')); // hot
      await db.read(async (tx) => {
        for (let i = 0; i < 3; i++) await readUnder(tx, 'warmup'); // steamin
      });
    });
  }
}

async function firstRole(task: ClientTask): Promise<FirstResult> {
  const n = task.objects;
  const writes = await withDb(task, null, async (db) => {
    await db.transaction((tx) => addObjects(tx, 'warmup', n));
    await db.transaction((tx) => updateAll(tx, 'warmup'));
    const add = await timed(n, () => db.transaction((tx) => addObjects(tx, 'items', n)));
    const update = await timed(n, () => db.transaction((tx) => updateAll(tx, 'items')));
    return { add, update };
  });
  await warmUpReads(task);
  const reads = await withDb(task, null, async (db, storage) => {
    const hitsBefore = storage.stats().cache.hits;
    const cold = await timed(n, () => db.read(readAll));
    return { cold, coldCacheHits: storage.stats().cache.hits - hitsBefore };
  });
  // Untimed: leave the disk cache file the next process (warm) starts from.
  await withDb(task, task.diskCachePath, (db) => db.read(readAll));
  return { ...writes, ...reads };
}

async function warmRole(task: ClientTask): Promise<WarmResult> {
  await warmUpReads(task);
  return withDb(task, task.diskCachePath, async (db, storage) => {
    const before = storage.stats().cache;
    const warm = await timed(task.objects, () => db.read(readAll));
    const after = storage.stats().cache;
    // As in bench/objects.ts: hot and steamin on the DB that just ran warm.
    const hot = await timed(task.objects, () => db.read(readAll));
    const steamin = await db.read(async (tx) => {
      const expected = await readAll(tx);
      let checksum = 0;
      const rate = await timed(task.objects, async () => {
        checksum = await readAll(tx);
      });
      if (checksum !== expected) throw new Error('steamin read different data');
      return rate;
    });
    return { warm, hot, steamin, warmCacheHits: after.hits - before.hits, warmCacheMisses: after.misses - before.misses };
  });
}

const randomIndex = (n: number) => Math.floor(Math.random() * n);

async function readRandom(tx: Transaction, count: number, n: number): Promise<number> {
  const list = await itemsOf(tx);
  let checksum = 0;
  for (let i = 0; i < count; i++) {
    const item = (await list.get(randomIndex(n)))!;
    for await (const [, value] of item.entries()) checksum += typeof value === 'number' ? value : 1;
  }
  return checksum;
}

async function updateRandom(tx: Transaction, n: number): Promise<void> {
  const list = await itemsOf(tx);
  const count = Math.random() < 0.5 ? 1 : 2;
  for (let i = 0; i < count; i++) {
    const item = (await list.get(randomIndex(n)))!;
    item.set('count', (((await item.get('count')) as number) ?? 0) + 1);
  }
}

function waitForGo(): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (message: { type?: string }) => {
      if (message?.type !== 'go') return;
      process.off('message', onMessage);
      resolve();
    };
    process.on('message', onMessage);
  });
}

async function loadRole(task: ClientTask): Promise<LoadResult> {
  const n = task.objects;
  const writeRatio = task.writeRatio ?? 0.05;
  const readsPerTransaction = task.readsPerTransaction ?? 10;
  return withDb(task, null, async (db, storage) => {
    await db.read(readAll); // every object in this client's caches: the steady state of a busy worker
    const go = waitForGo();
    process.send!({ type: 'ready' });
    await go;
    const result: LoadResult = { elapsedMs: 0, reads: 0, writes: 0, conflictRetries: 0, failedWrites: 0, serverLoads: 0, readLatenciesMs: [], writeLatenciesMs: [] };
    const missesBefore = storage.stats().cache.misses;
    const start = performance.now();
    const deadline = start + (task.durationMs ?? 5_000);
    while (performance.now() < deadline) {
      const began = performance.now();
      if (Math.random() < writeRatio) {
        try {
          await db.transaction((tx) => updateRandom(tx, n));
        } catch (error) {
          if (!isConflict(error)) throw error;
          result.failedWrites++;
        }
        result.writes++;
        result.writeLatenciesMs.push(performance.now() - began);
      } else {
        await db.read((tx) => readRandom(tx, readsPerTransaction, n));
        result.reads++;
        result.readLatenciesMs.push(performance.now() - began);
      }
    }
    result.elapsedMs = performance.now() - start;
    result.conflictRetries = db.stats().conflicts;
    result.serverLoads = storage.stats().cache.misses - missesBefore;
    return result;
  });
}

async function main(): Promise<void> {
  process.on('disconnect', () => process.exit(0));
  const task = JSON.parse(process.argv[2] ?? '{}') as ClientTask;
  const run = task.role === 'first' ? firstRole : task.role === 'warm' ? warmRole : task.role === 'load' ? loadRole : null;
  if (!run) throw new Error(`unknown role ${JSON.stringify(task.role)}`);
  const result = await run(task);
  process.send!({ type: 'result', result }, () => process.disconnect());
}

if (process.send && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.send!({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () => process.exit(1));
  });
}
