// `zeo bench --url` against a site it did not launch: the demo shop (the README's example) has
// 200 products and no fault routes. The bench finds the product count, so the load asks for
// products that exist, and reports the fault goal "not measured", never "met"; a site without
// the catalogue routes is refused with a clear error.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { DEMO_PRODUCT_COUNT } from '../../appserver/demo/shop.js';
import { startAppServer } from '../../appserver/standalone.js';
import { runSiteBench, type SiteBenchOptions } from '../../bench/site.js';
import { probeCatalogue } from '../../bench/site-probe.js';
import { testConfig } from '../proxy/fixtures/site-config.js';

const MEMORY_STORAGE = fileURLToPath(new URL('../appserver/fixtures/memory-storage.js', import.meta.url));

async function demoShop(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const server = await startAppServer(testConfig({ app: { module: null } }), { storageFactory: MEMORY_STORAGE, log: () => {} });
  t.teardown(() => server.close());
  return server.url;
}

function options(url: string, patch: Partial<SiteBenchOptions> = {}): SiteBenchOptions {
  return {
    url, adminUrl: null, baseConfig: testConfig(), workers: [1], durationSeconds: 1, warmupSeconds: 0, sweepSeconds: 0,
    connections: 4, repeat: 1, scenarios: ['read-mostly'], targets: ['site'], faultWorkers: 1, productCount: null,
    postgresUrl: 'postgres://unused', postgresPoolSize: 1, isVerbose: false, cpuProfileDir: null, command: 'zeo bench --url',
    log: () => {}, ...patch,
  };
}

t.test('the demo shop: its 200 products are found, no 404 is measured, the fault goal is not measured', async (t) => {
  const url = await demoShop(t);
  const results = await runSiteBench(options(url));
  t.equal(results.options.productCount, DEMO_PRODUCT_COUNT, 'the load asked for the products the site has');
  t.ok(results.notes.some((note) => note.startsWith(`the site has ${DEMO_PRODUCT_COUNT} products`)), 'and says so');
  const [step] = results.steps;
  t.ok(step?.load && step.load.completed > 0, 'the read-mostly step ran');
  t.equal(step!.load!.statusCounts['404'] ?? 0, 0, 'no request asked for a product that does not exist');
  const [fault] = results.faults;
  t.equal(fault?.hang.isInjected, false, 'the hang was refused (no fault routes)');
  t.equal(fault?.hang.answer, '404');
  t.ok(fault?.notes.some((note) => /POST \/_bench\/hang answered 404: the site has no fault routes/.test(note)));
  t.same(results.goals.map((goal) => goal.isMet), [null], 'the fault goal is not measured');
  t.match(results.goals[0]!.detail, /^not measured: the site refused the fault/);
  t.notOk(results.goals.some((goal) => goal.isMet === true), 'nothing is met that was not measured');
});

t.test('--products above what the site has is lowered to it; a site without the catalogue is refused', async (t) => {
  const url = await demoShop(t);
  const probe = await probeCatalogue(url, 2000);
  t.equal(probe.productCount, DEMO_PRODUCT_COUNT);
  t.match(probe.notes.join('\n'), /--products 2000 is more than the site has/);
  t.equal((await probeCatalogue(url, 50)).productCount, 50, 'fewer than the site has is kept');

  const other = createServer((_request, response) => response.writeHead(404).end('not here'));
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => other.close(() => resolve())));
  const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
  await t.rejects(runSiteBench(options(otherUrl)), {
    code: 'ZEO_INVALID_ARGUMENT',
    message: /does not serve the bench's catalogue \(GET \/api\/products\/1 answered 404\)/,
  });
});
