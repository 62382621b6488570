// `zeo proxy` (runProxyMain) as a real child process: SIGHUP re-reads the config and scales;
// SIGTERM lets an in-flight request finish, stops the workers, exits 0 and leaves nothing behind.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { request } from 'undici';
import { isGone, startChild } from './fixtures/child.js';
import { eventually, sleep } from './fixtures/load.js';
import { testConfig } from './fixtures/site-config.js';

const PROXY_MAIN = fileURLToPath(new URL('./fixtures/proxy-main.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'zeo-proxy-main-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

function refusesConnections(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

t.test('SIGHUP rescales from the config file; SIGTERM finishes in-flight work and exits 0', async (t) => {
  const configFile = join(scratch, 'zeo.json');
  writeFileSync(configFile, JSON.stringify(testConfig({ workers: { count: 2 } })));
  const child = startChild(PROXY_MAIN, [configFile]);
  t.teardown(() => child.killIfRunning());
  const [, url, adminUrl] = await child.waitFor(/router on (\S+), admin on (\S+),/);
  const status = async () =>
    ((await (await request(adminUrl + '/_zeo/status')).body.json()) as { workers: unknown[] }).workers.length;
  t.equal(await status(), 2);

  writeFileSync(configFile, JSON.stringify(testConfig({ workers: { count: 3 } })));
  child.process.kill('SIGHUP');
  t.ok(await eventually(async () => (await status()) === 3, 15_000, 100), 'three workers after SIGHUP');

  const slow = request(url + '/slow?ms=1000').then(async (answer) => ({ status: answer.statusCode, text: await answer.body.text() }));
  await sleep(300);
  child.process.kill('SIGTERM');
  const finished = await slow;
  t.equal(finished.status, 200, 'the request in flight at SIGTERM was answered');
  const exit = await child.exited;
  t.same(exit, { code: 0, signal: null }, 'exit code 0');
  t.ok(isGone(child.process.pid!), 'the process is gone');
  t.ok(await refusesConnections(url!), 'the router port is closed');
  t.ok(await refusesConnections(adminUrl!), 'the admin port is closed');
});

t.test('SIGINT stops an idle site at once, exit 0', async (t) => {
  const configFile = join(scratch, 'zeo-idle.json');
  writeFileSync(configFile, JSON.stringify(testConfig({ workers: { count: 1 } })));
  const child = startChild(PROXY_MAIN, [configFile]);
  t.teardown(() => child.killIfRunning());
  await child.waitFor(/router on/);
  const started = Date.now();
  child.process.kill('SIGINT');
  t.same(await child.exited, { code: 0, signal: null });
  t.ok(Date.now() - started < 5_000, `stopped in ${Date.now() - started} ms`);
});
