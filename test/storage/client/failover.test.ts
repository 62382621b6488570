// Connection management of ClientStorage against real servers: a list of servers with failover,
// the read-only fallback and the way back, UnavailableError naming what was tried, reconnecting
// after a server restart, and Redis mode falling back to polling while its Redis is down.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { MemoryStorage } from '../../../storage/memory/storage.js';
import { startStorageServer, type StorageServer } from '../../../storage/server/storage-server.js';
import { ClientStorage } from '../../../storage/client/storage.js';
import type { Invalidation } from '../../../storage/contract.js';
import { freePort, sleep, startRedisProcess } from '../fixtures/server-processes.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const quiet = () => undefined;

async function eventually(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

t.test('the first server that answers is used; a dead one in front is skipped', async (t) => {
  const dead = await freePort();
  const server = await startStorageServer({ storages: { main: new MemoryStorage() }, log: quiet });
  t.teardown(() => server.close());
  const client = await ClientStorage.open({ servers: [`127.0.0.1:${dead}`, `127.0.0.1:${server.address.port}`], log: quiet });
  t.teardown(() => client.close());
  t.equal(client.stats().server, `127.0.0.1:${server.address.port}`);
  const [oid] = await client.newOids();
  await client.commit({ stores: [{ oid: oid!, baseTid: 0n, data: bytes('x'), refs: [] }] });
});

t.test('no server: UnavailableError after unavailableTimeoutMs naming every address tried', async (t) => {
  const [a, b] = [await freePort(), await freePort()];
  const started = Date.now();
  await t.rejects(
    ClientStorage.open({ servers: [`127.0.0.1:${a}`, `127.0.0.1:${b}`], unavailableTimeoutMs: 400, log: quiet }),
    { code: 'ZEO_UNAVAILABLE', message: new RegExp(`storage server unavailable: tried 127\\.0\\.0\\.1:${a} \\(.*\\), 127\\.0\\.0\\.1:${b}`) },
  );
  t.ok(Date.now() - started < 3000, 'it gave up in time');
});

t.test('calls wait for a restarted server, then go on; the cache is verified on reconnect', async (t) => {
  const storage = new MemoryStorage();
  let server: StorageServer = await startStorageServer({ storages: { main: storage }, log: quiet });
  const port = server.address.port;
  t.teardown(() => server.close());
  const client = await ClientStorage.open({ servers: [`127.0.0.1:${port}`], unavailableTimeoutMs: 10_000, log: quiet });
  t.teardown(() => client.close());
  const [oid] = await client.newOids();
  const first = await client.commit({ stores: [{ oid: oid!, baseTid: 0n, data: bytes('one'), refs: [] }] });
  t.equal(new TextDecoder().decode((await client.load(oid!)).data), 'one', 'cached');
  await server.close();
  // While no server listens, the data changes behind the client's back (same storage).
  const second = await storage.commit({ stores: [{ oid: oid!, baseTid: first.tid, data: bytes('two'), refs: [] }] });
  const pending = client.history(oid!);
  await sleep(300);
  // queuePrefillMs 0: the new server remembers nothing, so the client cannot verify its cache.
  server = await startStorageServer({ storages: { main: storage }, listen: { host: '127.0.0.1', port }, queuePrefillMs: 0, log: quiet });
  t.equal((await pending).length, 2, 'the waiting call was answered by the restarted server');
  await client.sync(second.tid);
  t.equal(new TextDecoder().decode((await client.load(oid!)).data), 'two', 'the cached revision was invalidated on reconnect');
  t.equal(client.stats().cacheResets, 1, 'a new server process has no queue reaching back: the cache was dropped');
});

t.test('read-only fallback while the read-write server is down, and back when it returns', async (t) => {
  const primaryStorage = new MemoryStorage();
  const primaryPort = await freePort();
  const fallback = await startStorageServer({ storages: { main: primaryStorage }, log: quiet });
  t.teardown(() => fallback.close());
  const logs: string[] = [];
  const client = await ClientStorage.open({
    servers: [`127.0.0.1:${primaryPort}`],
    readOnlyFallback: [`127.0.0.1:${fallback.address.port}`],
    log: (m) => logs.push(m),
  });
  t.teardown(() => client.close());
  t.equal(client.isReadOnly, true, 'on the fallback the storage is read-only');
  await t.rejects(client.commit({ stores: [{ oid: 1n, baseTid: 0n, data: bytes('x'), refs: [] }] }), { code: 'ZEO_READ_ONLY' });
  t.ok(logs.some((l) => /reading from fallback/.test(l)));
  const primary = await startStorageServer({ storages: { main: primaryStorage }, listen: { host: '127.0.0.1', port: primaryPort }, log: quiet });
  t.teardown(() => primary.close());
  await eventually('the switch back to the primary', () => !client.isReadOnly);
  t.equal(client.stats().server, `127.0.0.1:${primaryPort}`);
  await client.commit({ stores: [{ oid: 1n, baseTid: 0n, data: bytes('x'), refs: [] }] });
});

t.test('Redis mode: while Redis is down the client polls the server; after it returns, Redis again', async (t) => {
  const redisProcess = await startRedisProcess(t);
  const redis = { url: redisProcess.url, prefix: `zeo-test-${randomBytes(6).toString('hex')}:` };
  const server = await startStorageServer({ storages: { main: new MemoryStorage() }, redis, log: quiet });
  t.teardown(() => server.close());
  const servers = [`127.0.0.1:${server.address.port}`];
  const writer = await ClientStorage.open({ servers, log: quiet });
  const listener = await ClientStorage.open({ servers, redis, redisPollIntervalMs: 300, log: quiet });
  t.teardown(() => Promise.all([writer.close(), listener.close()]));
  const seen: Invalidation[] = [];
  listener.onInvalidation((i) => seen.push(i));
  const [oid] = await writer.newOids();
  let base = 0n;
  const commit = async (text: string) => {
    const { tid } = await writer.commit({ stores: [{ oid: oid!, baseTid: base, data: bytes(text), refs: [] }] });
    base = tid;
    return tid;
  };
  // Give the subscriber time to subscribe, then check Redis delivers.
  await sleep(300);
  let tid = await commit('via redis');
  await eventually('delivery through redis', () => seen.some((i) => i.tid === tid), 5000);

  await redisProcess.kill();
  tid = await commit('while redis is down');
  const started = Date.now();
  await eventually('delivery by polling', () => seen.some((i) => i.tid === tid), 5000);
  t.ok(Date.now() - started < 3000, `polling delivered it in ${Date.now() - started} ms`);

  await redisProcess.restart();
  await sleep(1500);
  tid = await commit('redis is back');
  await eventually('delivery after redis returned', () => seen.some((i) => i.tid === tid), 5000);
  t.same(seen.map((i) => i.tid), [...seen.map((i) => i.tid)].sort((a, b) => (a < b ? -1 : 1)), 'in TID order');
  t.equal(seen.length, 3, 'each commit applied exactly once');
});
