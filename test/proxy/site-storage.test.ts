// Workers sharing one database through real ClientStorages and an in-process storage server:
// read-your-writes across workers (the TID header and cookie), and a bank whose total never
// changes while transfers run from every worker at once through the router.
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Agent, request } from 'undici';
import type { WorkerHealth } from '../../appserver/worker-protocol.js';
import type { Logger } from '../../log.js';
import { startSite, type Site } from '../../proxy/site.js';
import { MemoryStorage } from '../../storage/memory/storage.js';
import { startStorageServer } from '../../storage/server/storage-server.js';
import { ACCOUNTS, INITIAL_BALANCE } from './fixtures/bank-app.js';
import { eventually } from './fixtures/load.js';
import { testConfig } from './fixtures/site-config.js';

const COUNTER_APP = fileURLToPath(new URL('../appserver/fixtures/counter-app.js', import.meta.url));
const LAGGING_STORAGE = fileURLToPath(new URL('./fixtures/lagging-client-storage.js', import.meta.url));
const BANK_APP = fileURLToPath(new URL('./fixtures/bank-app.js', import.meta.url));

/** Warnings and errors of the site, shown when a test fails. */
const logLines: string[] = [];
const recordingLogger: Logger = {
  info() {},
  warn: (message, fields) => logLines.push(`warn ${message} ${JSON.stringify(fields)}`),
  error: (message, fields) => logLines.push(`error ${message} ${JSON.stringify(fields)}`),
};
t.afterEach((t) => {
  if (!t.passing()) for (const line of logLines) t.comment(line);
  logLines.length = 0;
});

async function siteOverStorageServer(
  t: { teardown(fn: () => unknown): void },
  appModule: string,
  workers: number,
  storageFactory: string | null = null,
): Promise<Site> {
  const server = await startStorageServer({ storages: { main: new MemoryStorage() }, listen: { host: '127.0.0.1', port: 0 }, log: () => {} });
  t.teardown(() => server.close());
  const config = testConfig({
    app: { module: appModule },
    workers: { count: workers, syncTimeoutMs: 3_000 },
    // Generous health bounds: these tests are about data, and the machine may be busy.
    router: { balancing: 'round-robin', health: { pingTimeoutMs: 2_000, hangTimeoutMs: 10_000 } },
    client: { servers: [`127.0.0.1:${server.address.port}`] },
  });
  const site = await startSite(config, { log: recordingLogger, storageFactory });
  t.teardown(() => site.close(2_000));
  return site;
}

t.test('a write on one worker is seen by the next request on another (TID header and cookie)', async (t) => {
  // Invalidations reach the other workers LAG_MS late, so a worker that did not wait would
  // answer from the old snapshot: the reads without a TID show that it does.
  const site = await siteOverStorageServer(t, COUNTER_APP, 3, LAGGING_STORAGE);
  const agent = new Agent({ connections: 1 });
  t.teardown(() => agent.close());
  const rounds = 6;
  let staleWithoutTid = 0;
  let staleWithTid = 0;
  let wrongCounts = 0;
  let isSameWorker = false;
  let lastTid: string | null = null;
  for (let i = 1; i <= rounds; i++) {
    // Like a browser: the cookie from the previous answer goes with the next request.
    const wrote = await request(site.url + '/increment', {
      method: 'POST',
      headers: lastTid ? { cookie: `zeo_tid=${lastTid}` } : {},
      dispatcher: agent,
    });
    const written = (await wrote.body.json()) as { count: number; workerId: number };
    lastTid = wrote.headers['x-zeo-tid'] as string;
    const cookie = (wrote.headers['set-cookie'] as string).split(';')[0]!;
    t.equal(cookie, `zeo_tid=${lastTid}`, 'the cookie carries the same TID as the header');
    if (written.count !== i) wrongCounts++;
    // Round-robin over three workers: the two reads go to the two workers that did not write.
    const blind = await request(site.url + '/count', { dispatcher: agent });
    const blindSeen = (await blind.body.json()) as { count: number; workerId: number };
    const headers = i % 2 === 0 ? { 'x-zeo-tid': lastTid } : { cookie };
    const read = await request(site.url + '/count', { headers, dispatcher: agent });
    const seen = (await read.body.json()) as { count: number; workerId: number };
    if (seen.workerId === written.workerId || blindSeen.workerId === written.workerId) isSameWorker = true;
    if (blindSeen.count < i) staleWithoutTid++;
    if (seen.count < i) staleWithTid++;
  }
  t.notOk(isSameWorker, 'every read went to another worker than the write');
  t.equal(wrongCounts, 0, 'every increment (carrying the cookie) saw the one before it');
  t.ok(staleWithoutTid > 0, `reads without a TID can be stale (${staleWithoutTid} of ${rounds})`);
  t.equal(staleWithTid, 0, 'no read carrying the TID missed the write before it');
  const status = (await (await request(site.adminUrl + '/_zeo/status')).body.json()) as { workers: Array<{ health: WorkerHealth }> };
  const catchUps = status.workers.reduce((sum, worker) => sum + worker.health.catchUps, 0);
  t.ok(catchUps >= rounds, `requests waited to catch up (${catchUps})`);
  t.ok(status.workers.every((worker) => worker.health.isStorageConnected), 'every worker reports its storage connected');
  t.ok(status.workers.every((worker) => worker.health.lastTid !== null), 'and its lastTid');
});

t.test('a bank keeps its total while transfers run from every worker through the router', async (t) => {
  const site = await siteOverStorageServer(t, BANK_APP, 3);
  const agent = new Agent({ connections: 8 });
  t.teardown(() => agent.close());
  const expected = ACCOUNTS * INITIAL_BALANCE;
  const statuses = new Map<number, number>();
  const totals: number[] = [];
  const workersUsed = new Set<number>();
  let isRunning = true;
  let seed = 11;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const transferer = async () => {
    while (isRunning) {
      const from = Math.floor(random() * ACCOUNTS);
      const to = (from + 1 + Math.floor(random() * (ACCOUNTS - 1))) % ACCOUNTS;
      const amount = 1 + Math.floor(random() * 50);
      const answer = await request(`${site.url}/transfer?from=${from}&to=${to}&amount=${amount}`, { method: 'POST', dispatcher: agent });
      const body = (await answer.body.text()) || '{}';
      statuses.set(answer.statusCode, (statuses.get(answer.statusCode) ?? 0) + 1);
      if (answer.statusCode === 200) workersUsed.add((JSON.parse(body) as { workerId: number }).workerId);
    }
  };
  const auditor = async () => {
    while (isRunning) {
      const answer = await request(site.url + '/total', { dispatcher: agent });
      totals.push(((await answer.body.json()) as { total: number }).total);
    }
  };
  const running = [...Array.from({ length: 6 }, transferer), auditor(), auditor()];
  // At least two seconds and 80 committed transfers, however busy the machine is (20 s at most).
  const started = Date.now();
  while ((Date.now() - started < 2_000 || (statuses.get(200) ?? 0) < 80) && Date.now() - started < 20_000) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  isRunning = false;
  await Promise.all(running);
  const final = (await (await request(site.url + '/total', { dispatcher: agent })).body.json()) as { total: number };
  t.comment(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}; audits: ${totals.length}`);
  t.ok((statuses.get(200) ?? 0) >= 80, `transfers committed (${statuses.get(200)})`);
  t.equal(workersUsed.size, 3, 'transfers committed on every worker');
  t.same([...statuses.keys()].filter((status) => ![200, 409, 503].includes(status)), [], 'no unexpected status (5xx other than conflict 503)');
  t.ok(totals.length > 10, `${totals.length} audits ran meanwhile`);
  t.same(totals.filter((total) => total !== expected), [], 'every audited snapshot had the full total');
  t.equal(final.total, expected, 'the total after the run');
});

t.test('workers whose storage connection is down are skipped: 503 at once, served again once it is back', async (t) => {
  const storage = new MemoryStorage();
  let server = await startStorageServer({ storages: { main: storage }, listen: { host: '127.0.0.1', port: 0 }, log: () => {} });
  const port = server.address.port;
  t.teardown(() => server.close());
  const config = testConfig({
    app: { module: COUNTER_APP },
    workers: { count: 2 },
    client: { servers: [`127.0.0.1:${port}`], unavailableTimeoutMs: 1_000 },
    router: { health: { pingTimeoutMs: 2_000, hangTimeoutMs: 10_000 } },
  });
  const site = await startSite(config, { log: recordingLogger });
  t.teardown(() => site.close(2_000));
  t.equal((await request(site.url + '/increment', { method: 'POST' })).statusCode, 200);
  await server.close();
  t.ok(await eventually(() => site.pool.workers.every((worker) => !worker.isAvailable()), 10_000), 'both workers out');
  t.match(site.pool.workers[0]!.snapshot().reason, /storage connection down/);
  const started = Date.now();
  const refused = await request(site.url + '/count');
  t.equal(refused.statusCode, 503);
  t.match(await refused.body.text(), /no app server is available/);
  t.ok(Date.now() - started < 5_000, 'answered without waiting for the storage timeout');
  server = await startStorageServer({ storages: { main: storage }, listen: { host: '127.0.0.1', port }, log: () => {} });
  t.ok(await eventually(() => site.pool.workers.every((worker) => worker.isAvailable()), 15_000), 'both back after reconnecting');
  const back = await request(site.url + '/count');
  t.equal(back.statusCode, 200);
  t.equal(((await back.body.json()) as { count: number }).count, 1, 'the data is all there');
});
