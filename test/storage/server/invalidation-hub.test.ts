// The server's invalidation fan-out when only the server's own link to Redis fails (a relay
// between the server and Redis is cut): commits go on, the publishes are dropped, and when the
// link returns the last invalidation is published again so that subscribers, whose own Redis
// link never failed (so they were not polling), notice the gap and fill it from the server.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { MemoryStorage } from '../../../storage/memory/storage.js';
import { startStorageServer } from '../../../storage/server/storage-server.js';
import { ClientStorage } from '../../../storage/client/storage.js';
import { Connection } from '../../../storage/client/connection.js';
import type { Invalidation } from '../../../storage/contract.js';
import { freePort, sleep, startRedisProcess } from '../fixtures/server-processes.js';

/** A TCP relay to `targetPort` on `port` that can be cut (closed, every socket dropped) and restored. */
function relay(port: number, targetPort: number) {
  let server: Server | null = null;
  const sockets = new Set<Socket>();
  const open = () =>
    new Promise<void>((resolve) => {
      server = createServer((inbound) => {
        const outbound = connect(targetPort, '127.0.0.1');
        for (const s of [inbound, outbound]) {
          sockets.add(s);
          s.on('error', () => undefined);
          s.on('close', () => sockets.delete(s));
        }
        inbound.pipe(outbound);
        outbound.pipe(inbound);
        inbound.on('close', () => outbound.destroy());
        outbound.on('close', () => inbound.destroy());
      });
      server.listen(port, '127.0.0.1', () => resolve());
    });
  const cut = () =>
    new Promise<void>((resolve) => {
      if (!server) return resolve();
      server.close(() => resolve());
      server = null;
      for (const s of sockets) s.destroy();
    });
  return { open, cut };
}

t.test("the server's Redis link fails alone: subscribers still catch up when it returns", async (t) => {
  const redisProcess = await startRedisProcess(t);
  const redisPort = Number(new URL(redisProcess.url).port);
  const relayPort = await freePort();
  const link = relay(relayPort, redisPort);
  await link.open();
  t.teardown(() => link.cut());
  const prefix = `zeo-test-${randomBytes(6).toString('hex')}:`;
  const logs: string[] = [];
  const server = await startStorageServer({
    storages: { main: new MemoryStorage() },
    redis: { url: `redis://127.0.0.1:${relayPort}`, prefix },
    log: (m) => logs.push(m),
  });
  t.teardown(() => server.close());
  const servers = [`127.0.0.1:${server.address.port}`];
  const writer = await ClientStorage.open({ servers, log: () => undefined });
  const subscriber = await ClientStorage.open({ servers, redis: { url: redisProcess.url, prefix }, log: () => undefined });
  t.teardown(() => Promise.all([writer.close(), subscriber.close()]));
  const seen: Invalidation[] = [];
  subscriber.onInvalidation((i) => seen.push(i));
  await sleep(300);
  const [oid] = await writer.newOids();
  const first = await writer.commit({ stores: [{ oid: oid!, baseTid: 0n, data: new Uint8Array([1]), refs: [] }] });
  for (let i = 0; i < 100 && !seen.some((s) => s.tid === first.tid); i++) await sleep(20);
  t.ok(seen.some((s) => s.tid === first.tid), 'delivered through Redis while the link is up');

  await link.cut();
  const second = await writer.commit({ stores: [{ oid: oid!, baseTid: first.tid, data: new Uint8Array([2]), refs: [] }] });
  t.ok(second.tid > first.tid, 'the server keeps committing without Redis');
  await sleep(500);
  t.notOk(seen.some((s) => s.tid === second.tid), 'the subscriber cannot know yet (its own Redis link is fine, so it does not poll)');
  t.ok(logs.some((l) => /redis down/.test(l)), 'the server logged the outage');

  await link.open();
  for (let i = 0; i < 250 && !seen.some((s) => s.tid === second.tid); i++) await sleep(20);
  t.ok(seen.some((s) => s.tid === second.tid), 'after the link returned, the subscriber caught up without another commit');
  t.equal((await subscriber.lastTransaction()), second.tid);
});

t.test('a new server refills its queue from the storage history of the last queuePrefillMs', async (t) => {
  const storage = new MemoryStorage();
  const tids: bigint[] = [];
  for (let i = 1n; i <= 4n; i++) {
    tids.push((await storage.commit({ stores: [{ oid: i, baseTid: 0n, data: new Uint8Array([1]), refs: [] }] })).tid);
  }
  const ask = async (queuePrefillMs: number, since: bigint) => {
    const server = await startStorageServer({ storages: { main: storage }, queuePrefillMs, log: () => undefined });
    try {
      const connection = await Connection.open({ host: '127.0.0.1', port: server.address.port }, {
        storage: 'main', key: null, isReadOnly: true, wantsPush: false, tls: null, connectTimeoutMs: 2000,
      });
      try {
        return await connection.request<Invalidation[] | null>('invalidationsSince', [since]);
      } finally {
        connection.close();
      }
    } finally {
      await server.close();
    }
  };
  t.same(await ask(60_000, tids[0]!), [
    { tid: tids[1], prevTid: tids[0], oids: [2n] },
    { tid: tids[2], prevTid: tids[1], oids: [3n] },
    { tid: tids[3], prevTid: tids[2], oids: [4n] },
  ], 'the commits after a TID, chained by prevTid');
  t.same(await ask(60_000, tids[3]!), [], 'nothing after the last TID');
  t.equal(await ask(0, tids[0]!), null, 'without prefill the new queue cannot answer for older TIDs');
  t.equal(await ask(60_000, 0n), null, 'nor, with it, for a TID before the oldest transaction read back');
});
