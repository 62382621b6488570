// The demo shop's app module run directly over a real DB on MemoryStorage, one transaction per
// request committed or aborted the way the app server does (status < 500, not read-only).
import t from 'tap';
import demo from '../../appserver/demo/app.js';
import { Product, Shop } from '../../appserver/demo/models.js';
import { createShop, DEMO_PRODUCT_COUNT, PRODUCTS_PER_PAGE, seedProduct } from '../../appserver/demo/shop.js';
import type { AppContext, DB as ContractDB } from '../../appserver/app-module.js';
import { MemoryStorage } from '../../storage/memory-storage.js';
import { DB } from '../../storage/objects/db.js';

async function openShop(): Promise<DB> {
  const db = await DB.open(new MemoryStorage(), { classes: demo.classes as never });
  await demo.setup!(db as unknown as ContractDB);
  return db;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
  isCommitted: boolean;
}

/** One request, one transaction, retried on conflict as the app server does. */
async function request(db: DB, method: string, path: string, body?: unknown, type = 'application/json', workerId = 1): Promise<Answer> {
  for (let attempt = 1; ; attempt++) {
    const tx = await db.begin();
    let isReadOnly = false;
    const ctx: AppContext = {
      root: () => tx.root(),
      tx: tx as unknown as AppContext['tx'],
      readOnly: () => void (isReadOnly = true),
      workerId,
    };
    const init: RequestInit = { method, headers: { 'content-type': type } };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    try {
      const response = await demo.fetch(new Request('http://shop.test' + path, init), ctx);
      const text = await response.text();
      const shouldCommit = response.status < 500 && !isReadOnly && tx.hasChanges();
      if (shouldCommit) await tx.commit();
      else await tx.abort();
      let json: unknown = null;
      try {
        json = JSON.parse(text);
      } catch {}
      return { status: response.status, headers: response.headers, text, json, isCommitted: shouldCommit };
    } catch (error) {
      await tx.abort();
      if ((error as { code?: string }).code === 'ZEO_CONFLICT' && attempt < 10) continue;
      throw error;
    }
  }
}

t.test('setup creates the catalogue once, however often it runs', async (t) => {
  const db = await openShop();
  t.teardown(() => db.close());
  t.equal(await createShop(db as unknown as ContractDB), false, 'a second setup finds the shop and adds nothing');
  const products = await request(db, 'GET', '/api/products?limit=200');
  t.equal(products.json.total, DEMO_PRODUCT_COUNT);
  t.equal(products.json.products.length, DEMO_PRODUCT_COUNT);
  t.same(products.json.products[9], { ...seedProduct(10), sold: 0 });
  // Setups racing in many workers at once: exactly one creates the shop.
  const racing = await DB.open(new MemoryStorage(), { classes: demo.classes as never });
  t.teardown(() => racing.close());
  const created = await Promise.all([1, 2, 3].map(() => createShop(racing as unknown as ContractDB, 20)));
  t.equal(created.filter(Boolean).length, 1, 'one creator, the others retried and found it');
  const shop = await racing.read(async (tx) => (await tx.root()).get('shop'));
  t.ok(shop instanceof Shop);
});

t.test('an order decrements stock, records the order and the totals, in one commit', async (t) => {
  const db = await openShop();
  t.teardown(() => db.close());
  const before = (await request(db, 'GET', '/api/products/7')).json;
  const placed = await request(db, 'POST', '/api/orders', { productId: 7, quantity: 3 }, 'application/json', 2);
  t.equal(placed.status, 201);
  t.ok(placed.isCommitted);
  t.equal(placed.json.stock, before.stock - 3);
  t.equal(placed.json.order.totalCents, before.priceCents * 3);
  t.equal(placed.json.order.workerId, 2);
  const after = (await request(db, 'GET', '/api/products/7')).json;
  t.equal(after.stock, before.stock - 3, 'the new stock is committed');
  t.equal(after.sold, 3);
  const orders = (await request(db, 'GET', '/api/orders')).json.orders;
  t.equal(orders.length, 1);
  t.equal(orders[0].id, placed.json.orderId);
  const stats = (await request(db, 'GET', '/api/stats')).json;
  t.match(stats, { products: DEMO_PRODUCT_COUNT, orders: 1, unitsSold: 3, revenueCents: before.priceCents * 3, workerId: 1 });
});

t.test('an order beyond the stock is refused with 409 and changes nothing', async (t) => {
  const db = await openShop();
  t.teardown(() => db.close());
  const scarce = (await request(db, 'GET', '/api/products/10')).json;
  t.equal(scarce.stock, 3, 'every tenth product is scarce');
  t.equal((await request(db, 'POST', '/api/orders', { productId: 10, quantity: 2 })).status, 201);
  const refused = await request(db, 'POST', '/api/orders', { productId: 10, quantity: 2 });
  t.equal(refused.status, 409);
  t.same(refused.json, { error: 'out of stock', stock: 1 });
  t.notOk(refused.isCommitted);
  t.equal((await request(db, 'POST', '/api/orders', { productId: 10, quantity: 1 })).json.stock, 0);
  t.equal((await request(db, 'POST', '/api/orders', { productId: 10, quantity: 1 })).status, 409, 'sold out');
  t.equal((await request(db, 'GET', '/api/stats')).json.orders, 2);
  const page = await request(db, 'GET', '/products/10');
  t.match(page.text, /Sold out\./);
  t.notMatch(page.text, /<form/, 'no order form for a sold-out product');
});

t.test('concurrent orders of one product never oversell', async (t) => {
  const db = await openShop();
  t.teardown(() => db.close());
  // Product 20 has 3 in stock; 8 buyers race for one unit each.
  const answers = await Promise.all(
    Array.from({ length: 8 }, (_, i) => request(db, 'POST', '/api/orders', { productId: 20, quantity: 1 }, 'application/json', i + 1)),
  );
  t.equal(answers.filter((a) => a.status === 201).length, 3, 'exactly the stock is sold');
  t.equal(answers.filter((a) => a.status === 409).length, 5);
  t.equal((await request(db, 'GET', '/api/products/20')).json.stock, 0);
  t.equal((await request(db, 'GET', '/api/stats')).json.unitsSold, 3, 'the counters merged every sale');
  t.equal((await request(db, 'GET', '/api/orders?limit=100')).json.orders.length, 3);
});

t.test('bad orders are 400 or 404, and nothing is written', async (t) => {
  const db = await openShop();
  t.teardown(() => db.close());
  for (const body of ['not json', { productId: 1 }, { productId: 1, quantity: 0 }, { productId: 1, quantity: 101 }, { productId: -3, quantity: 1 }]) {
    const answer = await request(db, 'POST', '/api/orders', body);
    t.equal(answer.status, 400, JSON.stringify(body));
    t.notOk(answer.isCommitted);
  }
  const missing = await request(db, 'POST', '/api/orders', { productId: 99_999, quantity: 1 });
  t.equal(missing.status, 404);
  t.equal((await request(db, 'GET', '/api/products/99999')).status, 404);
  t.equal((await request(db, 'DELETE', '/api/orders')).status, 405);
  t.equal((await request(db, 'GET', '/api/nothing')).status, 404);
});

t.test('HTML pages render: home, catalogue page, product page with its form, orders', async (t) => {
  const db = await openShop();
  t.teardown(() => db.close());
  const home = await request(db, 'GET', '/');
  t.equal(home.status, 200);
  t.match(home.headers.get('content-type'), /text\/html/);
  t.match(home.text, /<h1>Demo shop<\/h1>/);
  t.match(home.text, new RegExp(`${DEMO_PRODUCT_COUNT} products · 0 orders`));

  const page2 = await request(db, 'GET', '/catalogue?page=2');
  t.equal(page2.status, 200);
  t.equal(page2.text.match(/<a href="\/products\/\d+">/g)?.length, PRODUCTS_PER_PAGE, 'a page lists 50 products');
  t.match(page2.text, /href="\/products\/51"/);
  t.match(page2.text, /Page 2 of 4/);
  t.equal((await request(db, 'GET', '/catalogue?page=5')).status, 404);
  t.equal((await request(db, 'GET', '/catalogue?page=abc')).status, 404);

  const product = await request(db, 'GET', '/products/5');
  t.match(product.text, /<form method="post" action="\/orders">/);
  t.match(product.text, /name="productId" value="5"/);

  const posted = await request(db, 'POST', '/orders', 'productId=5&quantity=2', 'application/x-www-form-urlencoded');
  t.equal(posted.status, 303, 'the form redirects after a placed order');
  const location = posted.headers.get('location')!;
  t.match(location, /^\/products\/5\?ordered=/);
  const thanked = await request(db, 'GET', location);
  t.match(thanked.text, /Thank you: order .* is placed/);
  t.match(thanked.text, /Sold: 2/);
  const orders = await request(db, 'GET', '/orders');
  t.match(orders.text, /<td class="num">2<\/td>/);
});

t.test('names from the data are escaped in HTML', async (t) => {
  const db = await openShop();
  t.teardown(() => db.close());
  await db.transaction(async (tx) => {
    const shop = (await (await tx.root()).get('shop')) as Shop;
    const product = (await shop.products.get(1)) as Product;
    product.name = '<script>alert(1)</script>';
  });
  const page = await request(db, 'GET', '/products/1');
  t.notMatch(page.text, /<script>alert/);
  t.match(page.text, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
});

t.test('GETs are read-only: they never commit', async (t) => {
  const db = await openShop();
  t.teardown(() => db.close());
  for (const path of ['/', '/catalogue', '/api/products', '/api/stats', '/orders']) {
    const answer = await request(db, 'GET', path);
    t.equal(answer.status, 200, path);
    t.notOk(answer.isCommitted, `${path} commits nothing`);
  }
});
