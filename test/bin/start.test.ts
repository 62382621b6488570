// `zeo start` as a user runs it: a real process tree (launcher + storage-server child + worker
// threads) on free ports, driven over HTTP, stopped with a real SIGTERM.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { cleanEnv, findLog, freePort, isAlive, parseLog, waitFor } from './process-helpers.js';

const ZEO = fileURLToPath(new URL('../../bin/zeo.js', import.meta.url));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function getJson(url: string, init?: RequestInit): Promise<any> {
  return (await fetch(url, init)).json();
}

/** A short `zeo` command (status, scale) run to completion. */
function zeoCommand(cwd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [ZEO, ...args], { cwd, env: cleanEnv(), timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

interface Started {
  process: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startZeo(cwd: string, args: string[], extraEnv: Record<string, string> = {}): Started {
  const env = cleanEnv(extraEnv);
  // Its own process group, as a shell gives a foreground job (a test can "press Ctrl-C").
  const child = spawn(process.execPath, [ZEO, 'start', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { process: child, output: () => output, exited };
}

t.test('zeo start serves the demo shop through the router and stops cleanly on SIGTERM', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'zeo-start-'));
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  const [routerPort, adminPort, storagePort] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(
    join(cwd, 'site.json'),
    JSON.stringify({
      storage: { path: 'data/Data.fs' },
      storageServer: { listen: { host: '127.0.0.1', port: storagePort } },
      client: { diskCacheDir: 'cache' },
      router: { listen: { host: '127.0.0.1', port: routerPort }, balancing: 'round-robin' },
      admin: { host: '127.0.0.1', port: adminPort },
      workers: { count: 2 },
    }),
  );
  const zeo = startZeo(cwd, ['--config', 'site.json']);
  t.teardown(() => {
    if (zeo.process.exitCode === null) zeo.process.kill('SIGKILL');
  });
  const url = await waitFor('the site to be ready', () => {
    if (zeo.process.exitCode !== null) throw new Error(`zeo start exited early:\n${zeo.output()}`);
    return findLog(zeo.output(), /^site ready at (http:\/\/\S+)/)?.match[1];
  });
  t.equal(url, `http://127.0.0.1:${routerPort}`);
  const storagePid = Number(findLog(zeo.output(), /^storage FileStorage/)?.entry.storagePid);
  t.ok(storagePid > 0 && isAlive(storagePid), 'the storage server runs as its own process');
  t.not(storagePid, zeo.process.pid);
  t.ok(findLog(zeo.output(), /^invalidations pushed over each storage connection/));
  t.ok(findLog(zeo.output(), new RegExp(`^storage FileStorage ${cwd}/data/Data\\.fs`)));

  const product = await getJson(`${url}/api/products/7`);
  t.equal(product.id, 7);
  const order = await fetch(`${url}/api/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ productId: 7, quantity: 2 }),
  });
  t.equal(order.status, 201);
  const placed = (await order.json()) as { stock: number };
  t.equal(placed.stock, product.stock - 2, 'the order took the stock');
  // Every later read, whichever worker answers it, sees the new stock (the TID travels along).
  const tid = order.headers.get('x-zeo-tid');
  t.ok(tid, 'a committing response carries its TID');
  const workers = new Set<number>();
  for (let i = 0; i < 4; i++) {
    const again = await getJson(`${url}/api/products/7`, { headers: { 'x-zeo-tid': tid! } });
    t.equal(again.stock, product.stock - 2);
  }
  for (let i = 0; i < 4; i++) {
    const stats = await getJson(`${url}/api/stats`, { headers: { 'x-zeo-tid': tid! } });
    t.equal(stats.orders, 1);
    workers.add(stats.workerId);
  }
  t.same([...workers].sort(), [1, 2], 'both workers answer');
  // Many buyers at once through both workers: a scarce product (3 in stock) never oversells,
  // and the totals add up to exactly what was sold.
  const buy = (productId: number) =>
    fetch(`${url}/api/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ productId, quantity: 1 }),
    }).then((response) => response.status);
  // Products 31..42 are bought once each: those orders share only the orders bucket and the
  // counters, whose conflicts merge, so every one of them goes through.
  const statuses = await Promise.all([...Array.from({ length: 12 }, () => buy(30)), ...Array.from({ length: 12 }, (_, i) => buy(31 + i))]);
  const scarce = statuses.slice(0, 12);
  t.equal(scarce.filter((s) => s === 201).length, 3, 'exactly the 3 scarce units are sold');
  t.equal(scarce.filter((s) => s === 409).length, 9, 'the other buyers hear "out of stock"');
  t.same(statuses.slice(12).filter((s) => s !== 201), [], 'every order of a plentiful product goes through');
  t.same(statuses.filter((s) => s !== 201 && s !== 409), [], 'no request gave up after conflicts');
  const totals = await waitFor('every worker to see every order', async () => {
    const seen = await getJson(`${url}/api/stats`);
    return seen.orders === 1 + 3 + 12 ? seen : undefined;
  }, 15_000);
  t.equal(totals.unitsSold, 2 + 3 + 12, 'the merged counters equal the units sold');
  const soldOut = await waitFor('every worker to see product 30 sold out', async () => {
    const seen = await getJson(`${url}/api/products/30`);
    return seen.sold === 3 ? seen : undefined;
  }, 15_000);
  t.equal(soldOut.stock, 0);

  const page = await fetch(`${url}/catalogue?page=2`);
  t.equal(page.status, 200);
  t.match(await page.text(), /Catalogue, page 2/);
  const status = await getJson(`http://127.0.0.1:${adminPort}/_zeo/status`);
  t.equal(status.workers.length, 2, 'the admin endpoint answers');

  // zeo status / scale talk to this site through the same config file.
  const shown = await zeoCommand(cwd, ['status', '--config', 'site.json']);
  t.equal(shown.code, 0, shown.stderr);
  t.match(shown.stdout, /^workers: 2 \(target 2\)\n\s+id\s+state\s+healthy/);
  const scaled = await zeoCommand(cwd, ['scale', '3', '--config', 'site.json', '--json']);
  t.equal(scaled.code, 0, scaled.stderr);
  t.equal(JSON.parse(scaled.stdout).workers.length, 3, 'zeo scale 3 grew the pool');
  const workerIds = new Set<number>();
  for (let i = 0; i < 6; i++) workerIds.add((await getJson(`${url}/api/stats`)).workerId);
  t.equal(workerIds.size, 3, 'the new worker takes traffic');
  const reloaded = await zeoCommand(cwd, ['reload', '--config', 'site.json', '--json']);
  t.equal(reloaded.code, 0, reloaded.stderr);
  const newIds: number[] = JSON.parse(reloaded.stdout).workers.map((worker: { workerId: number }) => worker.workerId);
  t.equal(newIds.length, 3);
  t.notOk(newIds.some((id) => workerIds.has(id)), 'zeo reload replaced every worker');

  // Edit the config file and send SIGHUP: the pool follows the file.
  const edited = JSON.parse(readFileSync(join(cwd, 'site.json'), 'utf8'));
  edited.workers.count = 1;
  writeFileSync(join(cwd, 'site.json'), JSON.stringify(edited));
  zeo.process.kill('SIGHUP');
  await waitFor('the pool to shrink to 1 after SIGHUP', async () => {
    const now = await getJson(`http://127.0.0.1:${adminPort}/_zeo/status`);
    return now.workers.length === 1 ? true : undefined;
  });
  t.equal((await fetch(`${url}/api/products/1`)).status, 200, 'the site still answers with one worker');

  zeo.process.kill('SIGTERM');
  const { code, signal } = await zeo.exited;
  t.equal(code, 0, `exit 0 after SIGTERM\n${zeo.output()}`);
  t.equal(signal, null);
  await waitFor('the storage server to be gone', () => !isAlive(storagePid), 15_000);
  t.notOk(isAlive(storagePid), 'no storage server left behind');
  await t.rejects(fetch(url), 'the router is closed');
  // Launcher, storage server child and workers: one log, every line a JSON entry.
  const { entries, otherLines } = parseLog(zeo.output());
  t.same(otherLines, [], 'no plain line among the JSON lines');
  t.ok(entries.every((e) => ['info', 'warn', 'error'].includes(e.level) && !Number.isNaN(Date.parse(e.time)) && e.pid > 0));
  t.ok(entries.some((e) => e.pid === storagePid && e.component === 'storage-server'), 'the storage server child logs as JSON too');
});

t.test('with no config file, over Redis: ./var, a storage server that dies is restarted, Ctrl-C stops all', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'zeo-start-'));
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  const [routerPort, adminPort, storagePort] = [await freePort(), await freePort(), await freePort()];
  const prefix = `zeo-test-start-${process.pid}-${Date.now()}:`;
  const zeo = startZeo(cwd, ['--workers', '2'], {
    ZEO_ROUTER_LISTEN_PORT: String(routerPort),
    ZEO_ADMIN_PORT: String(adminPort),
    ZEO_STORAGE_SERVER_LISTEN_PORT: String(storagePort),
    REDIS_URL: 'redis://127.0.0.1:6379',
    ZEO_REDIS_PREFIX: prefix,
  });
  t.teardown(() => {
    if (zeo.process.exitCode === null) zeo.process.kill('SIGKILL');
  });
  const url = await waitFor('the site to be ready', () => {
    if (zeo.process.exitCode !== null) throw new Error(`zeo start exited early:\n${zeo.output()}`);
    return findLog(zeo.output(), /^site ready at (http:\/\/\S+)/)?.match[1];
  });
  t.ok(findLog(zeo.output(), /^config \(none: defaults and environment\)/));
  t.ok(findLog(zeo.output(), new RegExp(`^storage FileStorage ${cwd}/var/Data\\.fs`)), 'the default storage file is ./var/Data.fs');
  // The channel every log names is the one the server publishes on: prefix + "invalidations:" + storage.
  const channel = `${prefix}invalidations:main`;
  const site = findLog(zeo.output(), /^invalidations Redis pub\/sub at redis:\/\/127\.0\.0\.1:6379\/? \(channel (\S+)\)$/);
  t.equal(site?.match[1], channel);
  t.equal(site?.entry.channel, channel);
  const serving = findLog(zeo.output(), /^serving "main" /)!;
  t.equal(serving.entry.component, 'storage-server');
  t.equal(serving.entry.channel, channel, 'the storage server publishes on that channel');
  t.match(serving.entry.msg, `on channel ${channel}`);
  t.match(serving.entry.lastTid, /^0x[0-9a-f]{16}$/, 'TIDs are logged in hex');
  const firstPid = Number(findLog(zeo.output(), /^storage FileStorage/)?.entry.storagePid);

  process.kill(firstPid, 'SIGKILL');
  const secondPid = await waitFor('the storage server to be restarted', () => {
    const pids = parseLog(zeo.output()).entries.filter((e) => e.msg === 'storage server listening').map((e) => Number(e.storagePid));
    return pids.length >= 2 ? pids[pids.length - 1] : undefined;
  });
  t.not(secondPid, firstPid);
  t.ok(findLog(zeo.output(), /^storage server died$/));
  // The workers reconnect to the restarted server; an order goes through again.
  const status = await waitFor('an order to succeed after the restart', async () => {
    const response = await fetch(`${url}/api/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ productId: 3, quantity: 1 }),
    }).catch(() => null);
    return response?.status === 201 ? response.status : undefined;
  }, 60_000);
  t.equal(status, 201);

  // Ctrl-C in a terminal: SIGINT to the launcher's whole process group.
  process.kill(-zeo.process.pid!, 'SIGINT');
  t.equal((await zeo.exited).code, 0, 'SIGINT stops as cleanly as SIGTERM');
  const output = zeo.output();
  const messages = parseLog(output).entries.map((e) => e.msg);
  const stoppedAt = messages.indexOf('site stopped');
  t.ok(stoppedAt >= 0 && stoppedAt < messages.findIndex((m) => m.startsWith('SIGTERM: finishing commits')), 'the site stops before the storage server');
  await waitFor('the restarted storage server to be gone', () => !isAlive(secondPid), 15_000);
  t.notOk(isAlive(firstPid) || isAlive(secondPid), 'no storage server left behind');
});

t.test('a launcher killed with SIGKILL leaves no storage server behind', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'zeo-start-'));
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  const zeo = startZeo(cwd, ['--workers', '1', '--port', '0'], {
    ZEO_STORAGE_KIND: 'memory',
    ZEO_STORAGE_SERVER_LISTEN_PORT: '0',
    ZEO_ADMIN_PORT: '0',
  });
  t.teardown(() => {
    if (zeo.process.exitCode === null) zeo.process.kill('SIGKILL');
  });
  await waitFor('the site to be ready', () => {
    if (zeo.process.exitCode !== null) throw new Error(`zeo start exited early:\n${zeo.output()}`);
    return findLog(zeo.output(), /^site ready at/);
  });
  const storagePid = Number(findLog(zeo.output(), /^storage MemoryStorage/)?.entry.storagePid);
  t.ok(isAlive(storagePid));
  zeo.process.kill('SIGKILL');
  await zeo.exited;
  await waitFor('the orphaned storage server to stop itself', () => !isAlive(storagePid), 15_000);
  t.notOk(isAlive(storagePid), 'the storage server noticed its launcher was gone and stopped');
});

t.test('a config error names the key and exits 2 before anything starts', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'zeo-start-'));
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  writeFileSync(join(cwd, 'zeo.config.json'), JSON.stringify({ router: { balancing: 'random' } }));
  const zeo = startZeo(cwd, []);
  const { code } = await zeo.exited;
  t.equal(code, 2);
  t.equal(zeo.output(), 'zeo start: config router.balancing: "random" is not allowed; expected one of "round-robin", "least-busy"\n');
});
