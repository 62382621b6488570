// The request mix each scenario sends, checked over many draws from a seeded RNG (no server).
import t from 'tap';
import { pageCount, parseOrder, productIdFromPath } from '../../bench/apps/catalogue-data.js';
import { autocannonRequests, createRequestMixer, createSweep, SCENARIOS, seededRandom, type BenchRequest } from '../../bench/scenarios.js';

const draw = (n: number, next: () => BenchRequest) => Array.from({ length: n }, next);

t.test('the seeded RNG repeats for a seed and differs between seeds', async (t) => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const c = seededRandom(43);
  const first = Array.from({ length: 5 }, a);
  t.same(Array.from({ length: 5 }, b), first);
  t.not(Array.from({ length: 5 }, c)[0], first[0]);
  t.ok(first.every((x) => x >= 0 && x < 1));
});

t.test('read-mostly sends about 5% orders and 95% product reads', async (t) => {
  const requests = draw(20_000, createRequestMixer(SCENARIOS['read-mostly'], { productCount: 2000, random: seededRandom(1) }));
  const writes = requests.filter((r) => r.method === 'POST');
  const share = writes.length / requests.length;
  t.ok(share > 0.04 && share < 0.06, `write share ${share}`);
  const badReads = requests.filter((r) => r.method === 'GET').filter((r) => {
    const id = productIdFromPath(r.path);
    return id === null || id < 1 || id > 2000;
  });
  t.same(badReads, [], 'every read is a product between 1 and 2000');
  const badWrites = writes.filter((w) => w.path !== '/api/orders' || w.headers['content-type'] !== 'application/json' ||
    typeof parseOrder(JSON.parse(w.body!)) === 'string');
  t.same(badWrites, [], 'every write is a valid JSON order');
});

t.test('write-heavy sends about half orders', async (t) => {
  const requests = draw(20_000, createRequestMixer(SCENARIOS['write-heavy'], { random: seededRandom(2) }));
  const share = requests.filter((r) => r.method === 'POST').length / requests.length;
  t.ok(share > 0.47 && share < 0.53, `write share ${share}`);
});

t.test('large-pages reads catalogue pages only, spread over every page', async (t) => {
  const requests = draw(5_000, createRequestMixer(SCENARIOS['large-pages'], { productCount: 2000, random: seededRandom(3) }));
  t.ok(requests.every((r) => r.method === 'GET' && r.path.startsWith('/catalogue?page=')));
  const pages = new Set(requests.map((r) => Number(r.path.split('=')[1])));
  t.equal(pages.size, pageCount(2000), 'all 40 pages are visited');
  t.equal(Math.min(...pages), 1);
  t.equal(Math.max(...pages), 40);
});

t.test("autocannon's setupRequest takes each request from the mixer", async (t) => {
  const [entry] = autocannonRequests(SCENARIOS['write-heavy'], { random: seededRandom(4) });
  const setup = entry!.setupRequest as (request: object, context: object) => { method: string; path: string; body: string };
  const built = Array.from({ length: 200 }, () => setup({ method: 'GET', path: '/' }, {}));
  t.ok(built.some((r) => r.method === 'POST' && r.body.includes('productId')));
  t.ok(built.some((r) => r.method === 'GET' && r.path.startsWith('/api/products/') && r.body === ''));
});

t.test('the warm-up sweep visits every product and then every page, in order, round and round', async (t) => {
  const paths = draw(2 * (120 + 3), createSweep(120)).map((r) => r.path);
  t.equal(paths[0], '/api/products/1');
  t.equal(paths[119], '/api/products/120');
  t.same(paths.slice(120, 123), ['/catalogue?page=1', '/catalogue?page=2', '/catalogue?page=3']);
  t.equal(paths[123], '/api/products/1', 'then again');
  t.equal(new Set(paths).size, 123);
});
