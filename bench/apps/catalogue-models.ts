// The bench catalogue's persistent classes and what it does with them. One Catalogue object at
// root['benchCatalogue'] holds the products (a BTree by id); each product keeps its own orders
// (a PersistentList, created with the first order). An order changes its product (stock), that
// product's list and adds the order object: the same work as the PostgreSQL baseline's
// UPDATE + INSERT, and the same contention (two orders conflict only when they are for one
// product, as they would wait on one row lock in PostgreSQL). A single global orders tree would
// make every order write the same bucket and the tree's size counter, and under many
// concurrent writers the optimistic conflict resolution of those hot records runs out of rounds
// (measured: 16 concurrent orders -> ~2,100 storage conflicts per 320 orders) -- a design a
// ZODB user learns to avoid.

import { randomBytes } from 'node:crypto';
import type { DB, PersistentMap } from '../../appserver/app-module.js';
import { BTree } from '../../storage/objects/btree.js';
import { PersistentList } from '../../storage/objects/persistent-list.js';
import { ensureLoaded, Persistent } from '../../storage/objects/persistent.js';
import { makeProduct, type OrderRequest, type OrderResult, type Product } from './catalogue-data.js';
import type { OrderOutcome } from './catalogue-http.js';

export const CATALOGUE_KEY = 'benchCatalogue';

export class CatalogueProduct extends Persistent {
  static persistentName = 'bench.Product';
  id = 0;
  name = '';
  description = '';
  priceCents = 0;
  stock = 0;
  orders: PersistentList<CatalogueOrder> | null = null;

  constructor(fields?: Product) {
    super();
    if (fields) Object.assign(this, fields);
  }

  /** The same fields, in the same order, as every other catalogue store returns. */
  toJSON(): Product {
    const { id, name, description, priceCents, stock } = this;
    return { id, name, description, priceCents, stock };
  }
}

export class CatalogueOrder extends Persistent {
  static persistentName = 'bench.Order';
  id = '';
  productId = 0;
  quantity = 0;
  createdAt = '';

  constructor(fields?: { id: string; productId: number; quantity: number; createdAt: string }) {
    super();
    if (fields) Object.assign(this, fields);
  }
}

export class Catalogue extends Persistent {
  static persistentName = 'bench.Catalogue';
  products = new BTree<number, CatalogueProduct>();
  productCount = 0;
}

export const CATALOGUE_CLASSES = [CatalogueProduct, CatalogueOrder, Catalogue];

/** Creates the catalogue unless it exists; every worker runs this at start (idempotent). */
export async function createCatalogue(db: DB, productCount: number): Promise<void> {
  await db.transaction(async (tx) => {
    const root = await tx.root();
    if (await root.get(CATALOGUE_KEY)) return;
    const catalogue = new Catalogue();
    for (let id = 1; id <= productCount; id++) await catalogue.products.set(id, new CatalogueProduct(makeProduct(id)));
    catalogue.productCount = productCount;
    root.set(CATALOGUE_KEY, catalogue);
  });
}

export async function catalogueOf(root: PersistentMap<string, unknown>): Promise<Catalogue> {
  const catalogue = await root.get(CATALOGUE_KEY);
  if (!(catalogue instanceof Catalogue)) throw new Error('the bench catalogue is not set up: setup(db) did not run');
  return catalogue;
}

export async function productsByIds(catalogue: Catalogue, ids: readonly number[]): Promise<Product[]> {
  if (ids.length === 0) return [];
  const products: Product[] = [];
  for await (const product of catalogue.products.values({ from: ids[0]!, to: ids[ids.length - 1]! })) {
    products.push(product.toJSON());
  }
  return products;
}

function newOrderId(now: Date): string {
  return now.getTime().toString(36).padStart(9, '0') + '-' + randomBytes(4).toString('hex');
}

export async function placeOrder(catalogue: Catalogue, order: OrderRequest): Promise<OrderOutcome> {
  const product = await catalogue.products.get(order.productId);
  if (!product) return 'not-found';
  if (product.stock < order.quantity) return 'out-of-stock';
  product.stock -= order.quantity;
  const now = new Date();
  const placed = new CatalogueOrder({ id: newOrderId(now), productId: product.id, quantity: order.quantity,
    createdAt: now.toISOString() });
  if (product.orders === null) product.orders = new PersistentList<CatalogueOrder>();
  else await ensureLoaded(product.orders);
  product.orders.push(placed);
  const result: OrderResult = { orderId: placed.id, productId: product.id, quantity: order.quantity, stock: product.stock };
  return result;
}
