// The demo shop's app module run directly over a real DB on MemoryStorage, one transaction per
// request committed or aborted the way the app server does (status < 500, not read-only).
import t from 'tap';
import demo from '../../appserver/demo/app.js';
import { Product, Shop as ShopObject } from '../../appserver/demo/models.js';
import { createShop, DEMO_PRODUCT_COUNT, PRODUCTS_PER_PAGE, seedProduct } from '../../appserver/demo/shop.js';
import type { DB as ContractDB } from '../../appserver/app-module.js';
import { openDatabase } from '../../appserver/db-transactions.js';
import { RequestRunner } from '../../appserver/request-runner.js';
import { loadConfig } from '../../config/load.js';
import { MemoryStorage } from '../../storage/memory/storage.js';
import { DB } from '../../storage/objects/db.js';

interface Shop {
  db: DB;
  runner: (workerId: number) => RequestRunner;
}

/** The demo over a real DB on MemoryStorage, through the app server's own request runner. */
async function openShop(t: Tap): Promise<Shop> {
  const config = loadConfig({ file: null, env: {} });
  const { db, transactions } = await openDatabase(new MemoryStorage(), demo, config);
  t.teardown(() => db.close());
  const runners = new Map<number, RequestRunner>();
  const runner = (workerId: number) => {
    let found = runners.get(workerId);
    if (!found) {
      const log = (level: string, message: string, fields?: Record<string, unknown>) => {
        if (level === 'error') t.fail(`the runner logged an error: ${message} ${JSON.stringify(fields)}`);
      };
      found = new RequestRunner({ app: demo, transactions, storage: null, workerId, conflictRetries: 20, syncTimeoutMs: 5_000, log });
      runners.set(workerId, found);
    }
    return found;
  };
  return { db, runner };
}
type Tap = Pick<typeof t, 'teardown' | 'fail'>;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
  /** The runner committed the request's transaction (the answer carries its TID). */
  isCommitted: boolean;
}

async function request(shop: Shop, method: string, path: string, body?: unknown, type = 'application/json', workerId = 1): Promise<Answer> {
  const text = body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body);
  const response = await shop.runner(workerId).run({
    method,
    url: 'http://shop.test' + path,
    headers: [['content-type', type]],
    body: text === null ? null : (new TextEncoder().encode(text).buffer as ArrayBuffer),
  });
  const answer = await response.text();
  let json: unknown = null;
  try {
    json = JSON.parse(answer);
  } catch {}
  return { status: response.status, headers: response.headers, text: answer, json, isCommitted: response.headers.has('x-zeo-tid') };
}

t.test('setup creates the catalogue once, however often it runs', async (t) => {
  const shop = await openShop(t);
  t.equal(await createShop(shop.db as unknown as ContractDB), false, 'a second setup finds the shop and adds nothing');
  const products = await request(shop, 'GET', '/api/products?limit=200');
  t.equal(products.json.total, DEMO_PRODUCT_COUNT);
  t.equal(products.json.products.length, DEMO_PRODUCT_COUNT);
  t.same(products.json.products[9], { ...seedProduct(10), sold: 0 });
  // Setups racing in many workers at once: exactly one creates the shop.
  const racing = await DB.open(new MemoryStorage(), { classes: demo.classes as never });
  t.teardown(() => racing.close());
  const created = await Promise.all([1, 2, 3].map(() => createShop(racing as unknown as ContractDB, 20)));
  t.equal(created.filter(Boolean).length, 1, 'one creator, the others retried and found it');
  const raced = await racing.read(async (tx) => (await tx.root()).get('shop'));
  t.ok(raced instanceof ShopObject);
  t.equal((raced as ShopObject).productCount, 20);
});

t.test('an order decrements stock, records the order and the totals, in one commit', async (t) => {
  const shop = await openShop(t);
  const before = (await request(shop, 'GET', '/api/products/7')).json;
  const placed = await request(shop, 'POST', '/api/orders', { productId: 7, quantity: 3 }, 'application/json', 2);
  t.equal(placed.status, 201);
  t.ok(placed.isCommitted);
  t.equal(placed.json.stock, before.stock - 3);
  t.equal(placed.json.order.totalCents, before.priceCents * 3);
  t.equal(placed.json.order.workerId, 2);
  const after = (await request(shop, 'GET', '/api/products/7')).json;
  t.equal(after.stock, before.stock - 3, 'the new stock is committed');
  t.equal(after.sold, 3);
  const orders = (await request(shop, 'GET', '/api/orders')).json.orders;
  t.equal(orders.length, 1);
  t.equal(orders[0].id, placed.json.orderId);
  const stats = (await request(shop, 'GET', '/api/stats')).json;
  t.match(stats, { products: DEMO_PRODUCT_COUNT, orders: 1, unitsSold: 3, revenueCents: before.priceCents * 3, workerId: 1 });
});

t.test('an order beyond the stock is refused with 409 and changes nothing', async (t) => {
  const shop = await openShop(t);
  const scarce = (await request(shop, 'GET', '/api/products/10')).json;
  t.equal(scarce.stock, 3, 'every tenth product is scarce');
  t.equal((await request(shop, 'POST', '/api/orders', { productId: 10, quantity: 2 })).status, 201);
  const refused = await request(shop, 'POST', '/api/orders', { productId: 10, quantity: 2 });
  t.equal(refused.status, 409);
  t.same(refused.json, { error: 'out of stock', stock: 1 });
  t.notOk(refused.isCommitted);
  t.equal((await request(shop, 'POST', '/api/orders', { productId: 10, quantity: 1 })).json.stock, 0);
  t.equal((await request(shop, 'POST', '/api/orders', { productId: 10, quantity: 1 })).status, 409, 'sold out');
  t.equal((await request(shop, 'GET', '/api/stats')).json.orders, 2);
  const page = await request(shop, 'GET', '/products/10');
  t.match(page.text, /Sold out\./);
  t.notMatch(page.text, /<form/, 'no order form for a sold-out product');
});

t.test('concurrent orders of one product never oversell', async (t) => {
  const shop = await openShop(t);
  // Product 20 has 3 in stock; 8 buyers race for one unit each.
  const answers = await Promise.all(
    Array.from({ length: 8 }, (_, i) => request(shop, 'POST', '/api/orders', { productId: 20, quantity: 1 }, 'application/json', i + 1)),
  );
  t.equal(answers.filter((a) => a.status === 201).length, 3, 'exactly the stock is sold');
  t.equal(answers.filter((a) => a.status === 409).length, 5);
  t.equal((await request(shop, 'GET', '/api/products/20')).json.stock, 0);
  t.equal((await request(shop, 'GET', '/api/stats')).json.unitsSold, 3, 'the counters merged every sale');
  t.equal((await request(shop, 'GET', '/api/orders?limit=100')).json.orders.length, 3);
  const conflicts = [1, 2, 3, 4, 5, 6, 7, 8].reduce((sum, id) => sum + shop.runner(id).stats.conflicts, 0);
  t.ok(conflicts > 0, `the buyers really collided (${conflicts} requests ran again after a conflict)`);
});

t.test('concurrent orders of a plentiful product merge at commit instead of running again', async (t) => {
  const shop = await openShop(t);
  const before = (await request(shop, 'GET', '/api/products/21')).json;
  const answers = await Promise.all(
    Array.from({ length: 8 }, (_, i) => request(shop, 'POST', '/api/orders', { productId: 21, quantity: 2 }, 'application/json', i + 1)),
  );
  t.same(answers.map((a) => a.status), Array(8).fill(201));
  const seenStocks = new Set(answers.map((a) => a.json.stock));
  t.ok(seenStocks.size < 8, `orders ran on the same snapshot (they saw ${[...seenStocks].join(', ')} left), so commits met`);
  const after = (await request(shop, 'GET', '/api/products/21')).json;
  t.equal(after.stock, before.stock - 16, 'every decrement is kept');
  t.equal(after.sold, 16);
  t.equal((await request(shop, 'GET', '/api/stats')).json.orders, 8);
  const conflicts = [1, 2, 3, 4, 5, 6, 7, 8].reduce((sum, id) => sum + shop.runner(id).stats.conflicts, 0);
  t.equal(conflicts, 0, 'product, orders bucket and counters all merged: no request ran again');
});

t.test('bad orders are 400 or 404, and nothing is written', async (t) => {
  const shop = await openShop(t);
  for (const body of ['not json', { productId: 1 }, { productId: 1, quantity: 0 }, { productId: 1, quantity: 101 }, { productId: -3, quantity: 1 }]) {
    const answer = await request(shop, 'POST', '/api/orders', body);
    t.equal(answer.status, 400, JSON.stringify(body));
    t.notOk(answer.isCommitted);
  }
  const missing = await request(shop, 'POST', '/api/orders', { productId: 99_999, quantity: 1 });
  t.equal(missing.status, 404);
  t.equal((await request(shop, 'GET', '/api/products/99999')).status, 404);
  t.equal((await request(shop, 'DELETE', '/api/orders')).status, 405);
  t.equal((await request(shop, 'GET', '/api/nothing')).status, 404);
});

t.test('HTML pages render: home, catalogue page, product page with its form, orders', async (t) => {
  const shop = await openShop(t);
  const home = await request(shop, 'GET', '/');
  t.equal(home.status, 200);
  t.match(home.headers.get('content-type'), /text\/html/);
  t.match(home.text, /<h1>Demo shop<\/h1>/);
  t.match(home.text, new RegExp(`${DEMO_PRODUCT_COUNT} products · 0 orders`));

  const page2 = await request(shop, 'GET', '/catalogue?page=2');
  t.equal(page2.status, 200);
  t.equal(page2.text.match(/<a href="\/products\/\d+">/g)?.length, PRODUCTS_PER_PAGE, 'a page lists 50 products');
  t.match(page2.text, /href="\/products\/51"/);
  t.match(page2.text, /Page 2 of 4/);
  t.equal((await request(shop, 'GET', '/catalogue?page=5')).status, 404);
  t.equal((await request(shop, 'GET', '/catalogue?page=abc')).status, 404);

  const product = await request(shop, 'GET', '/products/5');
  t.match(product.text, /<form method="post" action="\/orders">/);
  t.match(product.text, /name="productId" value="5"/);

  const posted = await request(shop, 'POST', '/orders', 'productId=5&quantity=2', 'application/x-www-form-urlencoded');
  t.equal(posted.status, 303, 'the form redirects after a placed order');
  const location = posted.headers.get('location')!;
  t.match(location, /^\/products\/5\?ordered=/);
  const thanked = await request(shop, 'GET', location);
  t.match(thanked.text, /Thank you: order .* is placed/);
  t.match(thanked.text, /Sold: 2/);
  const orders = await request(shop, 'GET', '/orders');
  t.match(orders.text, /<td class="num">2<\/td>/);
});

t.test('names from the data are escaped in HTML', async (t) => {
  const shop = await openShop(t);
  await shop.db.transaction(async (tx) => {
    const found = (await (await tx.root()).get('shop')) as ShopObject;
    const product = (await found.products.get(1)) as Product;
    product.name = '<script>alert(1)</script>';
  });
  const page = await request(shop, 'GET', '/products/1');
  t.notMatch(page.text, /<script>alert/);
  t.match(page.text, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
});

t.test('GETs are read-only: they never commit', async (t) => {
  const shop = await openShop(t);
  for (const path of ['/', '/catalogue', '/api/products', '/api/stats', '/orders']) {
    const answer = await request(shop, 'GET', path);
    t.equal(answer.status, 200, path);
    t.notOk(answer.isCommitted, `${path} commits nothing`);
  }
});
