// A site spread over processes the way it spreads over machines: `zeo storage-server`, a
// stand-alone `zeo appserver`, and `zeo proxy` balancing its own worker and that remote app
// server, each started from the same config file, each stopped with SIGTERM and exiting 0.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { cleanEnv, findLog, freePort, waitFor } from './process-helpers.js';

const ZEO = fileURLToPath(new URL('../../bin/zeo.js', import.meta.url));

interface Part {
  process: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startPart(cwd: string, args: string[]): Part {
  const child = spawn(process.execPath, [ZEO, ...args], { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { process: child, output: () => output, exited };
}

/** Waits for the part to log an entry whose message matches `pattern`. */
async function waitForLine(part: Part, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  return waitFor(what, () => {
    if (part.process.exitCode !== null) throw new Error(`${what}: the process exited early:\n${part.output()}`);
    return findLog(part.output(), pattern)?.match;
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function getJson(url: string, init?: RequestInit): Promise<any> {
  return (await fetch(url, init)).json();
}

t.test('storage server, a remote app server and the router, each its own process', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'zeo-parts-'));
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  const [storagePort, appPort, routerPort, adminPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  writeFileSync(
    join(cwd, 'site.json'),
    JSON.stringify({
      storage: { kind: 'memory' },
      storageServer: { listen: { host: '127.0.0.1', port: storagePort } },
      client: { servers: [`127.0.0.1:${storagePort}`], diskCacheDir: null },
      appserver: { listen: { host: '127.0.0.1', port: appPort } },
      router: { listen: { host: '127.0.0.1', port: routerPort }, remotes: [`http://127.0.0.1:${appPort}`], balancing: 'round-robin' },
      admin: { host: '127.0.0.1', port: adminPort },
      workers: { count: 1 },
    }),
  );
  const parts: Part[] = [];
  t.teardown(() => {
    for (const part of parts) if (part.process.exitCode === null) part.process.kill('SIGKILL');
  });

  const storage = startPart(cwd, ['storage-server', '-c', 'site.json']);
  parts.push(storage);
  await waitForLine(storage, /^serving "main" \(memory\)/, 'the storage server');

  const app = startPart(cwd, ['appserver', '-c', 'site.json']);
  parts.push(app);
  const [, appUrl] = await waitForLine(app, /^app server on (http:\/\/\S+)/, 'the app server');
  t.equal(appUrl, `http://127.0.0.1:${appPort}`);
  const order = await fetch(`${appUrl}/api/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ productId: 4, quantity: 5 }),
  });
  t.equal(order.status, 201, 'the stand-alone app server takes an order');
  const { stock } = (await order.json()) as { stock: number };
  const tid = order.headers.get('x-zeo-tid')!;

  const proxy = startPart(cwd, ['proxy', '-c', 'site.json']);
  parts.push(proxy);
  const [, routerUrl] = await waitForLine(proxy, /^router on (http:\/\/\S+?),/, 'the router');
  await waitFor('the remote app server to be taken in', async () => {
    const status = await getJson(`http://127.0.0.1:${adminPort}/_zeo/status`);
    return status.remotes[0]?.isHealthy === true;
  });
  for (let i = 0; i < 10; i++) {
    const product = await getJson(`${routerUrl}/api/products/4`, { headers: { 'x-zeo-tid': tid } });
    t.equal(product.stock, stock, 'the local worker and the remote app server see the same order');
  }
  const status = await getJson(`http://127.0.0.1:${adminPort}/_zeo/status`);
  t.ok(status.workers[0].served > 0, 'the local worker served requests');
  t.ok(status.remotes[0].served > 0, 'the remote app server served requests');

  for (const part of [proxy, app, storage]) {
    part.process.kill('SIGTERM');
    t.equal(await part.exited, 0, `exit 0 on SIGTERM\n${part.output()}`);
  }
});
