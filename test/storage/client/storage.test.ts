import t from 'tap';
import { MemoryStorage } from '../../../storage/memory/storage.js';
import { startStorageServer } from '../../../storage/server/storage-server.js';
import { ClientStorage } from '../../../storage/client/storage.js';
import type { Invalidation } from '../../../storage/contract.js';
import { freePort, startRedisProcess } from '../fixtures/server-processes.js';
import { eventually } from '../conformance/support.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

t.test('a commit by one client is seen by another, pushed over the connection', async (t) => {
  const server = await startStorageServer({ storages: { main: new MemoryStorage() }, log: () => undefined });
  t.teardown(() => server.close());
  const address = `${server.address.host}:${server.address.port}`;
  const a = await ClientStorage.open({ servers: [address], log: () => undefined });
  const b = await ClientStorage.open({ servers: [address], log: () => undefined });
  t.teardown(() => Promise.all([a.close(), b.close()]));

  const seen: Invalidation[] = [];
  b.onInvalidation((i) => seen.push(i));
  const [oid] = await a.newOids();
  const first = await a.commit({ stores: [{ oid: oid!, baseTid: 0n, data: bytes('one'), refs: [] }] });
  t.equal(await a.lastTransaction(), first.tid, 'the committer is current at once');
  await b.sync(first.tid);
  t.equal(text((await b.load(oid!)).data), 'one');
  const second = await a.commit({ stores: [{ oid: oid!, baseTid: first.tid, data: bytes('two'), refs: [] }] });
  await b.sync(second.tid);
  t.equal(text((await b.load(oid!)).data), 'two', 'the cached revision was invalidated');
  const old = await b.loadBefore(oid!, second.tid);
  t.equal(text(old!.data), 'one');
  t.equal(old!.end, second.tid);
  t.same(seen.map((i) => i.tid), [first.tid, second.tid], 'listeners see every commit in order');
  const stats = await b.serverStats();
  t.equal(stats.storages.main!.commits, 2);
  t.equal(stats.connections, 2);
});

t.test('disk cache policy: a damaged file is discarded with a warning, a locked one falls back to memory', async (t) => {
  const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'zeo-client-cache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const server = await startStorageServer({ storages: { main: new MemoryStorage() }, log: () => undefined });
  t.teardown(() => server.close());
  const servers = [`127.0.0.1:${server.address.port}`];
  const writer = await ClientStorage.open({ servers, log: () => undefined });
  t.teardown(() => writer.close());
  const [oid] = await writer.newOids();
  const { tid } = await writer.commit({ stores: [{ oid: oid!, baseTid: 0n, data: bytes('kept'), refs: [] }] });

  const path = join(dir, 'worker.cache');
  await writeFile(path, Buffer.alloc(4096, 0xab));
  const logs: string[] = [];
  const damaged = await ClientStorage.open({ servers, diskCachePath: path, diskCacheBytes: 1 << 20, log: (m) => logs.push(m) });
  t.teardown(() => damaged.close());
  t.ok(logs.some((l) => /discard|damaged|not a/i.test(l)), 'the damaged file was reported', { logs });
  t.equal(text((await damaged.load(oid!)).data), 'kept', 'and the client works from the server');
  t.equal(await damaged.lastTransaction(), tid);

  const lockedLogs: string[] = [];
  const second = await ClientStorage.open({ servers, diskCachePath: path, diskCacheBytes: 1 << 20, log: (m) => lockedLogs.push(m) });
  t.teardown(() => second.close());
  t.ok(lockedLogs.some((l) => /disk cache .* unusable .*; using memory only/.test(l)), 'a cache file in use elsewhere is not shared', { lockedLogs });
  t.equal(text((await second.load(oid!)).data), 'kept');
});

t.test('a load racing an invalidation never caches stale data as current', async (t) => {
  // The server reads the old revision, then its reply is held back until a commit by another
  // client has been pushed to (and applied by) the loading client.
  const inner = new MemoryStorage();
  let release: () => void = () => undefined;
  let isHolding = false;
  const slow = Object.create(inner) as MemoryStorage;
  slow.load = async (oid) => {
    const result = await inner.load(oid);
    if (isHolding) await new Promise<void>((resolve) => (release = resolve));
    return result;
  };
  slow.loadBefore = async (oid, beforeTid) => {
    const result = await inner.loadBefore(oid, beforeTid);
    if (isHolding) await new Promise<void>((resolve) => (release = resolve));
    return result;
  };
  const server = await startStorageServer({ storages: { main: slow }, log: () => undefined });
  t.teardown(() => server.close());
  const servers = [`127.0.0.1:${server.address.port}`];
  const loader = await ClientStorage.open({ servers, log: () => undefined });
  const writer = await ClientStorage.open({ servers, log: () => undefined });
  t.teardown(() => Promise.all([loader.close(), writer.close()]));
  for (const how of ['load', 'loadBefore'] as const) {
    // A fresh object each round, so the loader has nothing cached for it.
    const [oid] = await writer.newOids();
    const base = (await writer.commit({ stores: [{ oid: oid!, baseTid: 0n, data: bytes('old'), refs: [] }] })).tid;
    await loader.sync(base);
    isHolding = true;
    const racing = how === 'load' ? loader.load(oid!) : loader.loadBefore(oid!, (await loader.lastTransaction()) + 1n);
    await new Promise((r) => setTimeout(r, 50)); // the server has read the old revision by now
    isHolding = false;
    const newer = await writer.commit({ stores: [{ oid: oid!, baseTid: base, data: bytes(`new via ${how}`), refs: [] }] });
    await loader.sync(newer.tid);
    release();
    const raced = await racing;
    t.equal(text(raced!.data), 'old', `${how}: the racing call returned what the server read`);
    const after = await loader.load(oid!);
    t.equal(text(after.data), `new via ${how}`, `${how}: the next load sees the new revision, not the raced one`);
    t.equal(after.tid, newer.tid);
  }
});

t.test('sync waits a bounded time for a TID that never comes', async (t) => {
  const server = await startStorageServer({ storages: { main: new MemoryStorage() }, log: () => undefined });
  t.teardown(() => server.close());
  const client = await ClientStorage.open({ servers: [`127.0.0.1:${server.address.port}`], log: () => undefined });
  t.teardown(() => client.close());
  const started = Date.now();
  await t.rejects(client.sync((await client.lastTransaction()) + 1000n, 200), { code: 'ZEO_TIMEOUT' });
  t.ok(Date.now() - started < 2000);
});

t.test('a ConflictError brings the client current, so its retry succeeds even when no invalidation reaches it', async (t) => {
  const server = await startStorageServer({ storages: { main: new MemoryStorage() }, log: () => undefined });
  t.teardown(() => server.close());
  const servers = [`127.0.0.1:${server.address.port}`];
  const a = await ClientStorage.open({ servers, log: () => undefined });
  // b is fed by a Redis that is down (nothing listens there), and its poll is a minute away.
  const deadRedis = { url: `redis://127.0.0.1:${await freePort()}`, prefix: 'zeo-test-dead:' };
  const b = await ClientStorage.open({ servers, redis: deadRedis, redisPollIntervalMs: 60_000, log: () => undefined });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const [x, y] = await a.newOids(2);
  const { tid: first } = await a.commit({ stores: [x!, y!].map((oid) => ({ oid, baseTid: 0n, data: bytes('v1'), refs: [] })) });
  await b.sync(first);

  for (const [what, commitOnB] of [
    ['commit', (oid: bigint, baseTid: bigint) => b.commit({ stores: [{ oid, baseTid, data: bytes('by b'), refs: [] }] })],
    ['two-phase commit', async (oid: bigint, baseTid: bigint) => {
      const txn = await b.tpcBegin();
      txn.store(oid, baseTid, bytes('by b'), []);
      try {
        await txn.vote();
      } catch (error) {
        await txn.abort();
        throw error;
      }
      return txn.finish();
    }],
  ] as const) {
    const oid = what === 'commit' ? x! : y!;
    const stale = await b.load(oid);
    const won = await a.commit({ stores: [{ oid, baseTid: stale.tid, data: bytes(`by a before ${what}`), refs: [] }] });
    await t.rejects(commitOnB(oid, stale.tid), { code: 'ZEO_CONFLICT', currentTid: won.tid }, `${what}: b loses to a`);
    t.ok((await b.lastTransaction()) >= won.tid, `${what}: after the conflict b has applied a's commit`);
    const current = await b.load(oid);
    t.equal(text(current.data), `by a before ${what}`, `${what}: b reads a's revision, not its stale cache`);
    const retried = await commitOnB(oid, current.tid);
    t.ok(retried.tid > won.tid, `${what}: the retry on the fresh revision succeeds`);
  }
});

t.test('while Redis is down, invalidations come pushed on the storage connection, and keep coming once it is back', async (t) => {
  const redisServer = await startRedisProcess(t);
  const redis = { url: redisServer.url, prefix: `zeo-test-${process.pid}-${Date.now()}:` };
  const server = await startStorageServer({ storages: { main: new MemoryStorage() }, redis, log: () => undefined });
  t.teardown(() => server.close());
  // The poll that would otherwise bring a client current while Redis is down is a minute away.
  const open = () => ClientStorage.open({ servers: [`127.0.0.1:${server.address.port}`], redis, redisPollIntervalMs: 60_000, log: () => undefined });
  const a = await open();
  const b = await open();
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const [oid] = await a.newOids(1);
  let { tid } = await a.commit({ stores: [{ oid: oid!, baseTid: 0n, data: bytes('v0'), refs: [] }] });
  await b.sync(tid);
  await redisServer.kill();
  // Not b.sync(): that would ask the server itself. b must be told.
  const told = (tid: bigint, ms: number) => eventually(`b told of ${tid}`, () => b.stats().lastTid >= tid, ms);
  for (let i = 1; i <= 5; i++) {
    ({ tid } = await a.commit({ stores: [{ oid: oid!, baseTid: tid, data: bytes(`v${i}`), refs: [] }] }));
    await told(tid, 2000);
  }
  t.equal(text((await b.load(oid!)).data), 'v5', 'b followed every commit during the outage');
  await redisServer.restart();
  const heard: bigint[] = [];
  b.onInvalidation((invalidation) => heard.push(invalidation.tid));
  for (let i = 6; i <= 8; i++) {
    ({ tid } = await a.commit({ stores: [{ oid: oid!, baseTid: tid, data: bytes(`v${i}`), refs: [] }] }));
    await told(tid, 10_000);
  }
  t.equal(text((await b.load(oid!)).data), 'v8', 'and after it');
  t.equal(new Set(heard).size, heard.length, 'each invalidation applied once, whichever way it came');
});
