// What the demo shop does, over one transaction's objects: create the catalogue once, read
// product pages, place orders, list recent orders, sum up. The HTTP side (app.ts) calls these
// and renders; it never touches the object layer itself. Nothing here commits: the app server
// commits the request's transaction when the handler answers below 500.

import { randomBytes } from 'node:crypto';
import { ensureLoaded } from '../../storage/objects/persistent.js';
import type { DB as ContractDB, PersistentMap } from '../app-module.js';
import { Order, Product, Shop, type OrderView, type ProductView } from './models.js';

export const DEMO_PRODUCT_COUNT = 200;
/** Products on one /catalogue page: a page reads about this many objects. */
export const PRODUCTS_PER_PAGE = 50;
export const MAX_ORDER_QUANTITY = 100;
const SHOP_KEY = 'shop';

const adjectives = ['Sturdy', 'Light', 'Classic', 'Compact', 'Deluxe', 'Quiet', 'Bright', 'Smart', 'Folding', 'Vintage'];
const nouns = ['Kettle', 'Lamp', 'Chair', 'Backpack', 'Notebook', 'Teapot', 'Bicycle', 'Clock', 'Umbrella', 'Desk'];

/** Product `id` of the seeded catalogue: derived from the id, so every run seeds the same shop. */
export function seedProduct(id: number): Pick<Product, 'id' | 'name' | 'description' | 'priceCents' | 'stock'> {
  const adjective = adjectives[id % adjectives.length]!;
  const noun = nouns[Math.floor(id / adjectives.length) % nouns.length]!;
  return {
    id,
    name: `${adjective} ${noun} #${id}`,
    description:
      `The ${adjective.toLowerCase()} ${noun.toLowerCase()} number ${id}, made to last and easy to live with. ` +
      'Ships in two days, with a two-year warranty and free returns.',
    priceCents: 500 + ((id * 7919) % 20_000),
    // Some products are scarce (a few units), most are plentiful: both paths of an order show.
    stock: id % 10 === 0 ? 3 : 100 + ((id * 31) % 900),
  };
}

/**
 * Creates the shop with `productCount` products unless it exists: safe to run in every worker
 * at once (two creators conflict on the root; the retry finds the shop and does nothing).
 * Resolves true if this call created it.
 */
export async function createShop(db: ContractDB, productCount = DEMO_PRODUCT_COUNT): Promise<boolean> {
  return db.transaction(async (tx) => {
    const root = await tx.root();
    if (await root.get(SHOP_KEY)) return false;
    const shop = new Shop();
    for (let id = 1; id <= productCount; id++) await shop.products.set(id, new Product(seedProduct(id)));
    shop.productCount = productCount;
    root.set(SHOP_KEY, shop);
    return true;
  });
}

export async function shopOf(root: PersistentMap<string, unknown>): Promise<Shop> {
  const shop = await root.get(SHOP_KEY);
  if (!(shop instanceof Shop)) {
    throw new Error('the demo shop is not set up: its setup(db) hook did not run on this database');
  }
  return shop;
}

export async function findProduct(shop: Shop, id: number): Promise<Product | undefined> {
  return shop.products.get(id);
}

export interface ProductPage {
  page: number;
  pages: number;
  total: number;
  products: ProductView[];
}

/** Page `page` (1-based) of the catalogue in id order, or null past the last page. */
export async function productPage(shop: Shop, page: number, perPage = PRODUCTS_PER_PAGE): Promise<ProductPage | null> {
  const total = shop.productCount;
  const pages = Math.max(1, Math.ceil(total / perPage));
  if (!Number.isInteger(page) || page < 1 || page > pages) return null;
  const from = (page - 1) * perPage + 1;
  const products: ProductView[] = [];
  for await (const product of shop.products.values({ from, to: from + perPage - 1 })) products.push(product.toJSON());
  return { page, pages, total, products };
}

export interface OrderRequest {
  productId: number;
  quantity: number;
}

export type OrderOutcome =
  /** `stock`: what is left as this order saw it (concurrent orders merged at commit may take more). */
  | { kind: 'placed'; order: OrderView; stock: number }
  | { kind: 'not-found' }
  | { kind: 'out-of-stock'; stock: number };

/** Validates an order from JSON or a form; returns the order or what is wrong with it (a 400). */
export function parseOrderRequest(body: unknown): OrderRequest | string {
  if (typeof body !== 'object' || body === null) return 'send a JSON object {"productId": 1, "quantity": 2}';
  const { productId, quantity } = body as Record<string, unknown>;
  const asNumber = (value: unknown) => (typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : value);
  const id = asNumber(productId);
  const count = asNumber(quantity);
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 1) return 'productId must be a positive integer';
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_ORDER_QUANTITY) {
    return `quantity must be an integer from 1 to ${MAX_ORDER_QUANTITY}`;
  }
  return { productId: id, quantity: count };
}

/** Order ids sort by time, so the orders tree iterated backwards gives the newest first. */
function newOrderId(now: Date): string {
  return now.getTime().toString(36).padStart(9, '0') + '-' + randomBytes(4).toString('hex');
}

/** Takes the stock and records the order, or says why not. The caller's transaction commits it. */
export async function placeOrder(shop: Shop, request: OrderRequest, workerId: number): Promise<OrderOutcome> {
  const product = await shop.products.get(request.productId);
  if (!product) return { kind: 'not-found' };
  if (product.stock < request.quantity) return { kind: 'out-of-stock', stock: product.stock };
  product.stock -= request.quantity;
  product.sold += request.quantity;
  const now = new Date();
  const order = new Order({
    id: newOrderId(now),
    productId: product.id,
    productName: product.name,
    quantity: request.quantity,
    totalCents: product.priceCents * request.quantity,
    createdAt: now.toISOString(),
    workerId,
  });
  await shop.orders.set(order.id, order);
  await loadCounters(shop);
  shop.orderCount.add(1);
  shop.unitsSold.add(request.quantity);
  shop.revenueCents.add(order.totalCents);
  return { kind: 'placed', order: order.toJSON(), stock: product.stock };
}

export async function recentOrders(shop: Shop, limit: number): Promise<OrderView[]> {
  const orders: OrderView[] = [];
  if (limit <= 0) return orders;
  for await (const order of shop.orders.values({ reverse: true })) {
    orders.push(order.toJSON());
    if (orders.length >= limit) break;
  }
  return orders;
}

export interface ShopStats {
  products: number;
  orders: number;
  unitsSold: number;
  revenueCents: number;
  createdAt: string;
}

export async function shopStats(shop: Shop): Promise<ShopStats> {
  await loadCounters(shop);
  return {
    products: shop.productCount,
    orders: shop.orderCount.value,
    unitsSold: shop.unitsSold.value,
    revenueCents: shop.revenueCents.value,
    createdAt: shop.createdAt,
  };
}

async function loadCounters(shop: Shop): Promise<void> {
  await Promise.all([ensureLoaded(shop.orderCount), ensureLoaded(shop.unitsSold), ensureLoaded(shop.revenueCents)]);
}
