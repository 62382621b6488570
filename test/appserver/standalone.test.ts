// The stand-alone app server (zeo appserver): the same request runner behind its own HTTP
// server, a health endpoint that says 503 when the storage connection is down, and a clean
// SIGTERM/SIGINT stop as a real child process.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { request } from 'undici';
import { startAppServer } from '../../appserver/standalone.js';
import { MemoryStorage } from '../../storage/memory/storage.js';
import { startStorageServer } from '../../storage/server/storage-server.js';
import { isGone, startChild } from '../proxy/fixtures/child.js';
import { eventually } from '../proxy/fixtures/load.js';
import { testConfig } from '../proxy/fixtures/site-config.js';

const COUNTER_APP = fileURLToPath(new URL('./fixtures/counter-app.js', import.meta.url));
const MEMORY_STORAGE = fileURLToPath(new URL('./fixtures/memory-storage.js', import.meta.url));
const APPSERVER_MAIN = fileURLToPath(new URL('./fixtures/appserver-main.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'zeo-appserver-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

const config = (patch: Parameters<typeof testConfig>[0] = {}) => testConfig({ app: { module: COUNTER_APP }, ...patch });

async function get(url: string, init: Parameters<typeof request>[1] = {}) {
  const answer = await request(url, init);
  return { status: answer.statusCode, headers: answer.headers, text: await answer.body.text() };
}

t.test('serves the app with one transaction per request, and reports health', async (t) => {
  const server = await startAppServer(config({ router: { bodyLimitBytes: 100 } }), {
    storageFactory: MEMORY_STORAGE,
    workerId: 42,
    log: () => {},
  });
  t.teardown(() => server.close());
  const health = await get(server.url + '/_zeo/health');
  t.equal(health.status, 200);
  const report = JSON.parse(health.text) as { status: string; workerId: number; isStorageConnected: boolean };
  t.equal(report.status, 'ok');
  t.equal(report.workerId, 42);
  const wrote = await get(server.url + '/increment', { method: 'POST' });
  t.equal(wrote.status, 200);
  t.same(JSON.parse(wrote.text), { count: 1, workerId: 42 });
  t.match(wrote.headers['x-zeo-tid'], /^[0-9a-f]{16}$/);
  t.same(JSON.parse((await get(server.url + '/count')).text).count, 1);
  t.equal((await get(server.url + '/increment', { method: 'POST', body: Buffer.alloc(101) })).status, 413);
  t.equal((await get(server.url + '/increment-then-throw', { method: 'POST' })).status, 500);
  t.same(JSON.parse((await get(server.url + '/count')).text).count, 1, 'the failed request changed nothing');
});

t.test('health turns 503 while the storage server is down, and 200 when it is back', async (t) => {
  const storage = new MemoryStorage();
  let storageServer = await startStorageServer({ storages: { main: storage }, listen: { host: '127.0.0.1', port: 0 }, log: () => {} });
  const port = storageServer.address.port;
  t.teardown(() => storageServer.close());
  const server = await startAppServer(config({ client: { servers: [`127.0.0.1:${port}`], unavailableTimeoutMs: 1_000 } }), { log: () => {} });
  t.teardown(() => server.close(1_000));
  t.equal((await get(server.url + '/_zeo/health')).status, 200);
  await storageServer.close();
  t.ok(await eventually(async () => (await get(server.url + '/_zeo/health')).status === 503, 10_000, 50), '503 once the server is gone');
  const down = JSON.parse((await get(server.url + '/_zeo/health')).text) as { isStorageConnected: boolean };
  t.equal(down.isStorageConnected, false);
  storageServer = await startStorageServer({ storages: { main: storage }, listen: { host: '127.0.0.1', port }, log: () => {} });
  t.ok(await eventually(async () => (await get(server.url + '/_zeo/health')).status === 200, 15_000, 100), '200 again after reconnecting');
  t.equal((await get(server.url + '/increment', { method: 'POST' })).status, 200, 'and it serves writes');
});

t.test('as a child process: SIGTERM stops it with exit code 0', async (t) => {
  const configFile = join(scratch, 'appserver.json');
  writeFileSync(configFile, JSON.stringify(testConfig()));
  const child = startChild(APPSERVER_MAIN, [configFile]);
  t.teardown(() => child.killIfRunning());
  const [, url] = await child.waitFor(/app server on (\S+) /);
  t.equal((await get(url + '/_zeo/health')).status, 200);
  t.equal((await get(url + '/whoami')).status, 200);
  child.process.kill('SIGTERM');
  t.same(await child.exited, { code: 0, signal: null });
  t.ok(isGone(child.process.pid!));
});
