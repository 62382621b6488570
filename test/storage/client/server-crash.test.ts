// The storage server process is SIGKILLed in the middle of commits and restarted: clients
// reconnect by themselves, no acknowledged commit is lost, and no client serves stale data
// afterwards, including one whose disk cache outlived it (verified on reconnect against the
// server's invalidation queue, which a restarted server refills from the file). OIDs a client
// took before a kill or a restart are never handed out again, so its DB creates objects
// afterwards without a conflict.
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientStorage } from '../../../storage/client/storage.js';
import { DB, Persistent } from '../../../index.js';
import { isConflict, type Oid, type Tid } from '../../../storage/contract.js';
import { sleep, startServerProcess } from '../fixtures/server-processes.js';

const encode = (n: number) => new TextEncoder().encode(String(n));
const decode = (data: Uint8Array) => Number(new TextDecoder().decode(data));

t.test('SIGKILL during commits: reconnects, nothing acknowledged lost, nothing stale served', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'zeo-crash-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const server = await startServerProcess(t, { kind: 'file', path: join(dir, 'Data.fs') });
  const servers = [`127.0.0.1:${server.port}`];
  const open = (extra: object = {}) => ClientStorage.open({ servers, unavailableTimeoutMs: 15_000, log: () => undefined, ...extra });

  const committers = await Promise.all([0, 1, 2, 3].map(() => open()));
  const diskCachePath = join(dir, 'reader.cache');
  let reader = await open({ diskCachePath, diskCacheBytes: 1 << 20 });
  t.teardown(async () => {
    await Promise.all(committers.map((c) => c.close()));
    await reader.close();
  });
  const oids: Oid[] = [1n, 2n, 3n, 4n];

  // Each committer counts up its own object; it remembers what was acknowledged, and a commit
  // whose reply was lost (outcome unknown) separately.
  const acked = oids.map(() => 0);
  const unknown = oids.map(() => -1);
  let isRunning = true;
  const work = committers.map(async (storage, i) => {
    const oid = oids[i]!;
    let base: Tid = 0n;
    let value = 0;
    while (isRunning) {
      try {
        const { tid } = await storage.commit({ stores: [{ oid, baseTid: base, data: encode(value + 1), refs: [] }] });
        value++;
        base = tid;
        acked[i] = value;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'ZEO_UNAVAILABLE' && /outcome is unknown/.test((error as Error).message)) unknown[i] = value + 1;
        else if (!isConflict(error) && code !== 'ZEO_UNAVAILABLE') throw error;
        // Find out where the object stands (the lost commit may have landed) and go on from there.
        const current = await storage.load(oid).catch(() => null);
        if (current) {
          base = current.tid;
          value = decode(current.data);
        }
      }
    }
  });
  // The reader keeps its cache warm with every object.
  const reading = (async () => {
    while (isRunning) {
      for (const oid of oids) await reader.load(oid).catch(() => undefined);
      await sleep(5);
    }
  })();

  for (let kill = 0; kill < 3; kill++) {
    await sleep(700);
    await server.kill('SIGKILL');
    await sleep(150);
    await server.restart();
  }
  await sleep(700);
  isRunning = false;
  await Promise.all([...work, reading]);

  const fresh = await open();
  t.teardown(() => fresh.close());
  const lastTid = await fresh.lastTransaction();
  for (const [i, oid] of oids.entries()) {
    const value = decode((await fresh.load(oid)).data);
    t.ok(acked[i]! > 5, `committer ${i} kept committing across the kills (${acked[i]} acknowledged)`);
    t.ok(value === acked[i] || value === unknown[i], `object ${oid}: ${value} is the last acknowledged value ${acked[i]} (or the one whose outcome was unknown, ${unknown[i]})`);
  }
  // Nothing stale: the reader, after catching up, serves exactly what the server has.
  await reader.sync(lastTid);
  for (const oid of oids) {
    t.same(await reader.load(oid), await fresh.load(oid), `the reader serves the current revision of ${oid}`);
  }

  // The disk cache outlives the reader: commits made while it is away are applied on reconnect.
  await reader.close();
  await committers[0]!.commit({ stores: [{ oid: 1n, baseTid: (await committers[0]!.load(1n)).tid, data: encode(-1), refs: [] }] });
  reader = await open({ diskCachePath, diskCacheBytes: 1 << 20 });
  t.equal(reader.stats().cacheResets, 0, 'the server still had the missed invalidations: the cache was kept');
  t.ok(reader.stats().cache.entries > 0, 'and it started warm');
  t.equal(decode((await reader.load(1n)).data), -1, 'the change made while it was away is seen, not the cached value');

  // A restarted server refills its queue from the file's recent history: a cache that missed
  // commits just before the restart is brought up to date, not dropped.
  await reader.close();
  await committers[1]!.commit({ stores: [{ oid: 2n, baseTid: (await committers[1]!.load(2n)).tid, data: encode(-2), refs: [] }] });
  await server.kill('SIGKILL');
  await server.restart();
  reader = await open({ diskCachePath, diskCacheBytes: 1 << 20 });
  t.equal(reader.stats().cacheResets, 0, 'the restarted server could say what changed: the cache was kept');
  t.ok(reader.stats().cache.entries > 0);
  t.equal(decode((await reader.load(2n)).data), -2, 'the change the reader missed is seen, not its cached value');
});

class Note extends Persistent {
  static persistentName = 'test.Note';
  text = '';
}

t.test('OIDs taken before a SIGKILL or a SIGTERM of the server are never handed out after its restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'zeo-crash-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const server = await startServerProcess(t, { kind: 'file', path: join(dir, 'Data.fs') });
  const open = () => ClientStorage.open({ servers: [`127.0.0.1:${server.port}`], unavailableTimeoutMs: 15_000, log: () => undefined });
  const early = await open();
  t.teardown(() => early.close());
  // A DB connection that created one object keeps the rest of its OID batch for later.
  const earlyDb = await DB.open(early, { classes: [Note] });
  await earlyDb.transaction(async (tx) => (await tx.root()).set('early', Object.assign(new Note(), { text: 'early' })));
  const taken = await early.newOids(5);
  const highest = taken.reduce((a, b) => (a > b ? a : b));
  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    await server.kill(signal);
    await server.restart();
    const late = await open();
    const lateDb = await DB.open(late, { classes: [Note] });
    await lateDb.transaction(async (tx) => {
      const root = await tx.root();
      for (let i = 0; i < 10; i++) root.set(`${signal}-${i}`, Object.assign(new Note(), { text: signal }));
    });
    const after = await late.newOids(5);
    t.ok(after.every((oid) => oid > highest), `after ${signal}, OIDs go on above every one handed out before (${after[0]} > ${highest})`);
    await late.close();
  }
  await early.sync((await early.serverStats()).storages.main!.lastTid);
  await earlyDb.transaction(async (tx) => (await tx.root()).set('early-2', Object.assign(new Note(), { text: 'from the old batch' })), { attempts: 1 });
  const [earlyText, lateText] = await earlyDb.read(async (tx) => {
    const root = await tx.root();
    return [((await root.get('early-2')) as Note).text, ((await root.get('SIGKILL-5')) as Note).text];
  });
  t.same([earlyText, lateText], ['from the old batch', 'SIGKILL'], 'the old batch made a new object at the first attempt, and took nobody\'s OID');
});
