// Baseline (c), "what a user would pick instead": the same catalogue with its data in PostgreSQL,
// read and written on every request through a `pg` Pool, no cache in between. Each bench run
// creates its own schema (random suffix), seeds it with the same products as the zeo app, and
// drops it afterwards. An order is one atomic statement (stock update + order insert in a CTE),
// the way a careful user would write it.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { OrderRequest, Product } from '../apps/catalogue-data.js';
import { makeProduct } from '../apps/catalogue-data.js';
import type { CatalogueStore, OrderOutcome } from '../apps/catalogue-http.js';

export const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh schema name; only [a-z0-9_], so it can be quoted into SQL safely. */
export function newSchemaName(): string {
  return `zeo_bench_${randomBytes(5).toString('hex')}`;
}

function checkSchemaName(schema: string): string {
  if (!/^[a-z][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`bad schema name ${JSON.stringify(schema)}`);
  return `"${schema}"`;
}

/** Creates the schema and its tables and inserts `productCount` products (in batches). */
export async function createCatalogueSchema(connectionString: string, schema: string,
  productCount: number): Promise<void> {
  const s = checkSchemaName(schema);
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${s}`);
    await client.query(`CREATE TABLE ${s}.products (id integer PRIMARY KEY, name text NOT NULL,
      description text NOT NULL, price_cents integer NOT NULL, stock bigint NOT NULL)`);
    await client.query(`CREATE TABLE ${s}.orders (id bigserial PRIMARY KEY,
      product_id integer NOT NULL REFERENCES ${s}.products(id), quantity integer NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now())`);
    const batch = 500;
    for (let first = 1; first <= productCount; first += batch) {
      const products: Product[] = [];
      for (let id = first; id < first + batch && id <= productCount; id++) products.push(makeProduct(id));
      const values: unknown[] = [];
      const rows = products.map((p, i) => {
        values.push(p.id, p.name, p.description, p.priceCents, p.stock);
        const o = i * 5;
        return `($${o + 1}, $${o + 2}, $${o + 3}, $${o + 4}, $${o + 5})`;
      });
      await client.query(`INSERT INTO ${s}.products (id, name, description, price_cents, stock)
        VALUES ${rows.join(', ')}`, values);
    }
  } finally {
    await client.end();
  }
}

export async function dropCatalogueSchema(connectionString: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${checkSchemaName(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}

/** The PostgreSQL server processes serving the baseline's pools (to count their CPU). */
export async function backendPids(connectionString: string, schema: string): Promise<number[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    const result = await client.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1', [schema]);
    return result.rows.map((row) => row.pid);
  } finally {
    await client.end();
  }
}

interface ProductRow {
  id: number;
  name: string;
  description: string;
  price_cents: number;
  stock: string;
}

const toProduct = (row: ProductRow): Product => ({
  id: row.id,
  name: row.name,
  description: row.description,
  priceCents: row.price_cents,
  stock: Number(row.stock),
});

export interface PostgresCatalogueOptions {
  connectionString: string;
  schema: string;
  productCount: number;
  /** Connections per process; the cluster baseline multiplies this by its workers. */
  poolSize?: number;
}

export class PostgresCatalogueStore implements CatalogueStore {
  readonly productCount: number;
  private readonly pool: pg.Pool;
  private readonly sql: { product: string; products: string; order: string; exists: string };

  constructor(options: PostgresCatalogueOptions) {
    const s = checkSchemaName(options.schema);
    this.productCount = options.productCount;
    // The schema name doubles as application_name, so the bench can find these backends' pids.
    this.pool = new pg.Pool({ connectionString: options.connectionString, max: options.poolSize ?? 8,
      application_name: options.schema });
    this.pool.on('error', () => {
      // an idle client lost its connection; the pool replaces it on the next query
    });
    const columns = 'id, name, description, price_cents, stock';
    this.sql = {
      product: `SELECT ${columns} FROM ${s}.products WHERE id = $1`,
      products: `SELECT ${columns} FROM ${s}.products WHERE id = ANY($1::integer[]) ORDER BY id`,
      order: `WITH p AS (UPDATE ${s}.products SET stock = stock - $2 WHERE id = $1 AND stock >= $2
                RETURNING id, stock)
              INSERT INTO ${s}.orders (product_id, quantity) SELECT id, $2 FROM p
              RETURNING id, (SELECT stock FROM p) AS stock`,
      exists: `SELECT 1 FROM ${s}.products WHERE id = $1`,
    };
  }

  async getProduct(id: number): Promise<Product | null> {
    const result = await this.pool.query<ProductRow>({ name: 'product', text: this.sql.product, values: [id] });
    return result.rows[0] ? toProduct(result.rows[0]) : null;
  }

  async getProducts(ids: readonly number[]): Promise<Product[]> {
    const result = await this.pool.query<ProductRow>({ name: 'products', text: this.sql.products, values: [ids] });
    return result.rows.map(toProduct);
  }

  async placeOrder(order: OrderRequest): Promise<OrderOutcome> {
    const result = await this.pool.query<{ id: string; stock: string }>({
      name: 'order', text: this.sql.order, values: [order.productId, order.quantity],
    });
    const row = result.rows[0];
    if (row) return { orderId: row.id, productId: order.productId, quantity: order.quantity, stock: Number(row.stock) };
    const exists = await this.pool.query({ name: 'exists', text: this.sql.exists, values: [order.productId] });
    return exists.rowCount ? 'out-of-stock' : 'not-found';
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
