// The bench catalogue served three ways -- the zeo app module over a real DB (MemoryStorage), the
// plain-Node memory store, and the PostgreSQL store -- must give the same answers and bytes, so
// the baselines measure the same app. Requests run one transaction each, as the app server does.
import t from 'tap';
import type { AppContext, DB as ContractDB } from '../../appserver/app-module.js';
import app from '../../bench/apps/catalogue.js';
import { makeProduct, pageCount, renderCataloguePage } from '../../bench/apps/catalogue-data.js';
import type { CatalogueStore } from '../../bench/apps/catalogue-http.js';
import { MemoryCatalogueStore } from '../../bench/apps/memory-catalogue.js';
import {
  createCatalogueSchema, DEFAULT_POSTGRES_URL, dropCatalogueSchema, newSchemaName, PostgresCatalogueStore,
} from '../../bench/baselines/postgres-app.js';
import { MemoryStorage } from '../../storage/memory/storage.js';
import { DB } from '../../storage/objects/db.js';
import pg from 'pg';

/** For the plain stores (the zeo module creates its default 2000). */
const PRODUCTS = 120;

async function openCatalogue(): Promise<DB> {
  const db = await DB.open(new MemoryStorage(), { classes: app.classes as never });
  await app.setup!(db as unknown as ContractDB);
  return db;
}

async function request(db: DB, method: string, path: string, body?: unknown) {
  for (let attempt = 1; ; attempt++) {
    const tx = await db.begin();
    let isReadOnly = false;
    const ctx: AppContext = { root: () => tx.root(), tx: tx as unknown as AppContext['tx'], readOnly: () => void (isReadOnly = true), workerId: 1 };
    const init: RequestInit = { method, headers: { 'content-type': 'application/json' } };
    if (body !== undefined) init.body = JSON.stringify(body);
    try {
      const response = await app.fetch(new Request('http://bench.test' + path, init), ctx);
      const text = await response.text();
      if (response.status < 500 && !isReadOnly && tx.hasChanges()) await tx.commit();
      else await tx.abort();
      return { status: response.status, text, isReadOnly };
    } catch (error) {
      await tx.abort();
      if ((error as { code?: string }).code === 'ZEO_CONFLICT' && attempt < 10) continue;
      throw error;
    }
  }
}

t.test('the zeo app module serves the shared products, pages and orders', async (t) => {
  // ZEO_BENCH_PRODUCTS is not set here, so setup creates the default 2000 products.
  const db = await openCatalogue();
  t.teardown(() => db.close());
  const product = await request(db, 'GET', '/api/products/7');
  t.equal(product.status, 200);
  t.equal(product.text, JSON.stringify(makeProduct(7)), 'same bytes as every other store');
  t.ok(product.isReadOnly, 'reads declare themselves read-only');
  t.equal((await request(db, 'GET', '/api/products/999999')).status, 404);
  const page = await request(db, 'GET', '/catalogue?page=2');
  const expected = Array.from({ length: 50 }, (_, i) => makeProduct(51 + i));
  t.equal(page.text, renderCataloguePage(2, pageCount(2000), expected));
  const order = await request(db, 'POST', '/api/orders', { productId: 7, quantity: 3 });
  t.equal(order.status, 201);
  t.match(JSON.parse(order.text), { productId: 7, quantity: 3, stock: makeProduct(7).stock - 3 });
  t.equal(JSON.parse((await request(db, 'GET', '/api/products/7')).text).stock, makeProduct(7).stock - 3, 'the order committed');
  t.equal((await request(db, 'POST', '/api/orders', { productId: 7, quantity: 0 })).status, 400);
  t.equal((await request(db, 'POST', '/api/orders', { productId: 999999, quantity: 1 })).status, 404);
  t.equal((await request(db, 'POST', '/_bench/crash')).status, 404, 'fault routes are off without ZEO_BENCH_FAULTS=1');
});

t.test('concurrent orders for different products do not conflict; for one product they all count', async (t) => {
  const db = await openCatalogue();
  t.teardown(() => db.close());
  const distinct = await Promise.all(Array.from({ length: 16 }, (_, i) =>
    request(db, 'POST', '/api/orders', { productId: 10 + i, quantity: 1 })));
  t.ok(distinct.every((a) => a.status === 201));
  t.equal(db.stats().conflicts, 0, 'orders of different products touch different records');
  const same = await Promise.all(Array.from({ length: 8 }, () => request(db, 'POST', '/api/orders', { productId: 5, quantity: 1 })));
  t.ok(same.every((a) => a.status === 201), 'conflicting orders of one product succeed on retry');
  t.equal(JSON.parse((await request(db, 'GET', '/api/products/5')).text).stock, makeProduct(5).stock - 8, 'none is lost');
});

/** What a store answers to the same questions; every store must give the same facts. */
async function parityFacts(store: CatalogueStore) {
  const placed = await store.placeOrder({ productId: 3, quantity: 2 });
  return {
    product: await store.getProduct(3),
    missing: await store.getProduct(PRODUCTS + 1),
    some: await store.getProducts([1, 2, PRODUCTS + 5]),
    placed: typeof placed === 'string' ? placed : { productId: placed.productId, quantity: placed.quantity, stock: placed.stock },
    unknown: await store.placeOrder({ productId: PRODUCTS + 1, quantity: 1 }),
  };
}

const expectedFacts = {
  product: { ...makeProduct(3), stock: makeProduct(3).stock - 2 },
  missing: null,
  some: [makeProduct(1), makeProduct(2)],
  placed: { productId: 3, quantity: 2, stock: makeProduct(3).stock - 2 },
  unknown: 'not-found',
};

t.test('the memory store answers like the others', async (t) => {
  t.same(await parityFacts(new MemoryCatalogueStore(PRODUCTS)), expectedFacts);
});

t.test('the PostgreSQL store answers like the others, in its own schema, dropped after', async (t) => {
  const schema = newSchemaName();
  await createCatalogueSchema(DEFAULT_POSTGRES_URL, schema, PRODUCTS);
  const store = new PostgresCatalogueStore({ connectionString: DEFAULT_POSTGRES_URL, schema, productCount: PRODUCTS });
  try {
    t.same(await parityFacts(store), expectedFacts);
  } finally {
    await store.close();
    await dropCatalogueSchema(DEFAULT_POSTGRES_URL, schema);
  }
  const client = new pg.Client({ connectionString: DEFAULT_POSTGRES_URL });
  await client.connect();
  const left = await client.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [schema]);
  await client.end();
  t.equal(left.rowCount, 0, 'the schema is gone');
});
