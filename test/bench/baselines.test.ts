// The baselines as real process trees (small and short): a node:cluster of catalogue app
// servers (memory and PostgreSQL stores), a refork after a crash, nginx in front when it is
// installed, and one-second autocannon steps against them.
import t from 'tap';
import { makeProduct } from '../../bench/apps/catalogue-data.js';
import { nodeAppLauncher } from '../../bench/baselines/app-spec.js';
import { startClusterTarget } from '../../bench/baselines/cluster.js';
import { findNginx, nginxConfig, startNginxTarget } from '../../bench/baselines/nginx.js';
import {
  backendPids, createCatalogueSchema, DEFAULT_POSTGRES_URL, dropCatalogueSchema, newSchemaName,
} from '../../bench/baselines/postgres-app.js';
import { runLoad } from '../../bench/load.js';
import { SCENARIOS } from '../../bench/scenarios.js';

const PRODUCTS = 200;
const memoryApp = (env: Record<string, string> = {}) => nodeAppLauncher({ kind: 'memory', productCount: PRODUCTS }, env);

const isRefused = async (url: string) => {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return false;
  } catch {
    return true;
  }
};

t.test('a cluster of two app servers answers the catalogue and carries a short load', async (t) => {
  const target = await startClusterTarget(memoryApp(), 2);
  let isClosed = false;
  t.teardown(() => (isClosed ? undefined : target.close()));
  t.match(target.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const response = await fetch(`${target.url}/api/products/9`);
  t.same(await response.json(), makeProduct(9));
  const load = await runLoad({ url: target.url, scenario: SCENARIOS['read-mostly'], durationSeconds: 1, connections: 8, productCount: PRODUCTS });
  t.ok(load.completed > 50, `${load.completed} responses in one second`);
  t.equal(load.errors, 0);
  t.equal(load.non2xx, 0);
  t.ok((load.statusCounts['201'] ?? 0) > 0, 'the mix included orders');
  t.ok(load.latencyMs.p99 >= load.latencyMs.p50);
  await target.close();
  isClosed = true;
  t.ok(await isRefused(`${target.url}/api/products/1`), 'nothing listens after close');
});

t.test('the cluster primary forks a crashed worker again', async (t) => {
  const target = await startClusterTarget(memoryApp({ ZEO_BENCH_FAULTS: '1' }), 2);
  t.teardown(() => target.close());
  const crash = await fetch(`${target.url}/_bench/crash`, { method: 'POST' });
  t.equal(crash.status, 202);
  const deadline = Date.now() + 15_000;
  while (target.workerExits() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.equal(target.workerExits(), 1, 'one worker died');
  const after = await fetch(`${target.url}/api/products/1`);
  t.equal(after.status, 200, 'the cluster still serves');
});

t.test('the PostgreSQL baseline serves from its own schema', async (t) => {
  const schema = newSchemaName();
  await createCatalogueSchema(DEFAULT_POSTGRES_URL, schema, PRODUCTS);
  t.teardown(() => dropCatalogueSchema(DEFAULT_POSTGRES_URL, schema));
  const target = await startClusterTarget(nodeAppLauncher({ kind: 'postgres', productCount: PRODUCTS,
    connectionString: DEFAULT_POSTGRES_URL, schema, poolSize: 2 }), 2);
  t.teardown(() => target.close());
  const order = await fetch(`${target.url}/api/orders`, { method: 'POST', body: JSON.stringify({ productId: 4, quantity: 2 }) });
  t.equal(order.status, 201);
  t.same(await (await fetch(`${target.url}/api/products/4`)).json(), { ...makeProduct(4), stock: makeProduct(4).stock - 2 });
  const page = await (await fetch(`${target.url}/catalogue?page=4`)).text();
  t.equal((page.match(/<li>/g) ?? []).length, 50, 'a page lists 50 products');
  t.equal((await fetch(`${target.url}/catalogue?page=5`)).status, 404, 'past the last page');
  const pids = await backendPids(DEFAULT_POSTGRES_URL, schema);
  t.ok(pids.length >= 1 && pids.length <= 4, `${pids.length} PostgreSQL backends serve the two pools of 2`);
});

t.test('nginx config: every upstream, keep-alive, loopback only, files in the folder', async (t) => {
  const text = nginxConfig({ listenPort: 8123, upstreamPorts: [9001, 9002], folder: '/tmp/x', isRoot: false });
  t.match(text, /server 127\.0\.0\.1:9001 max_fails=0;\n\s+server 127\.0\.0\.1:9002 max_fails=0;/);
  t.match(text, /listen 127\.0\.0\.1:8123;/);
  t.match(text, /keepalive \d+;/);
  t.match(text, /proxy_set_header Connection "";/);
  t.match(text, /pid \/tmp\/x\/nginx\.pid;/);
  t.notMatch(text, /user root/);
  t.match(nginxConfig({ listenPort: 1, upstreamPorts: [2], folder: '/f', isRoot: true }), /^user root;$/m);
});

const nginxPath = findNginx();
t.test('nginx in front of two app servers', { skip: nginxPath ? false : 'nginx is not installed (the bench skips this baseline too)' }, async (t) => {
  const target = await startNginxTarget(nginxPath!, memoryApp(), 2);
  let isClosed = false;
  t.teardown(() => (isClosed ? undefined : target.close()));
  t.same(await (await fetch(`${target.url}/api/products/2`)).json(), makeProduct(2));
  const load = await runLoad({ url: target.url, scenario: SCENARIOS['large-pages'], durationSeconds: 1, connections: 8, productCount: PRODUCTS });
  t.ok(load.completed > 20);
  t.equal(load.errors + load.non2xx, 0);
  await target.close();
  isClosed = true;
  t.ok(await isRefused(target.url), 'nginx stopped');
});

t.test('load is refused for anything but loopback', async (t) => {
  await t.rejects(runLoad({ url: 'http://192.0.2.1:80', scenario: SCENARIOS['read-mostly'], durationSeconds: 1, connections: 1 }),
    /only targets 127\.0\.0\.1 or localhost/);
});
