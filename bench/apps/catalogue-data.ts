// The bench catalogue's data and its HTTP shape, shared by every implementation of it (the zeo
// app module, the PostgreSQL baseline, the in-memory trivial app) so that each one serves the
// same routes, the same products and the same bytes:
//   GET  /api/products/:id        one product as JSON (404 if unknown)
//   POST /api/orders              {productId, quantity} -> 201 {orderId, productId, quantity, stock}
//   GET  /catalogue?page=N        an HTML page listing PRODUCTS_PER_PAGE products (~50 objects)
// Products are generated from their id, so every store is seeded identically without files.

export const PRODUCTS_PER_PAGE = 50;
/** Enough products for 40 catalogue pages; reads spread over them so no single key is hot. */
export const DEFAULT_PRODUCT_COUNT = 2000;
/** How many products a zeo catalogue app creates at setup (set by the bench for its children). */
export const PRODUCTS_ENV = 'ZEO_BENCH_PRODUCTS';
/** Stock large enough that a long write-heavy run never sells out (an out-of-stock 409 is noise). */
export const INITIAL_STOCK = 1_000_000_000;

export interface Product {
  id: number;
  name: string;
  description: string;
  priceCents: number;
  stock: number;
}

export interface OrderRequest {
  productId: number;
  quantity: number;
}

export interface OrderResult {
  orderId: string;
  productId: number;
  quantity: number;
  stock: number;
}

const adjectives = ['Sturdy', 'Light', 'Classic', 'Compact', 'Deluxe', 'Quiet', 'Bright', 'Smart'];
const nouns = ['Kettle', 'Lamp', 'Chair', 'Backpack', 'Notebook', 'Teapot', 'Bicycle', 'Clock'];

/** Product `id` (1-based), the same in every store. */
export function makeProduct(id: number): Product {
  const adjective = adjectives[id % adjectives.length]!;
  const noun = nouns[Math.floor(id / adjectives.length) % nouns.length]!;
  return {
    id,
    name: `${adjective} ${noun} #${id}`,
    // ~200 bytes: a realistic short description, so a page of 50 is ~15 KB of HTML.
    description:
      `The ${adjective.toLowerCase()} ${noun.toLowerCase()} number ${id}, made to last and easy ` +
      'to live with. Ships in two days, comes with a two-year warranty and free returns.',
    priceCents: 500 + ((id * 7919) % 20_000),
    stock: INITIAL_STOCK,
  };
}

/** The product ids shown on catalogue page `page` (1-based), or null past the last page. */
export function pageProductIds(page: number, productCount: number): number[] | null {
  if (!Number.isInteger(page) || page < 1) return null;
  const first = (page - 1) * PRODUCTS_PER_PAGE + 1;
  if (first > productCount) return null;
  const last = Math.min(productCount, first + PRODUCTS_PER_PAGE - 1);
  const ids: number[] = [];
  for (let id = first; id <= last; id++) ids.push(id);
  return ids;
}

export function pageCount(productCount: number): number {
  return Math.ceil(productCount / PRODUCTS_PER_PAGE);
}

/** Validates an order body; returns the order or a message for a 400. */
export function parseOrder(body: unknown): OrderRequest | string {
  if (typeof body !== 'object' || body === null) return 'body must be a JSON object';
  const { productId, quantity } = body as Record<string, unknown>;
  if (typeof productId !== 'number' || !Number.isInteger(productId) || productId < 1) {
    return 'productId must be a positive integer';
  }
  if (typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1 || quantity > 100) {
    return 'quantity must be an integer from 1 to 100';
  }
  return { productId, quantity };
}

/** Parses "/api/products/17" -> 17; null when the path is not a product path. */
export function productIdFromPath(pathname: string): number | null {
  const match = /^\/api\/products\/(\d{1,9})$/.exec(pathname);
  return match ? Number(match[1]) : null;
}

/** Parses the catalogue page number from a query string value; absent means page 1. */
export function pageFromQuery(value: string | null): number {
  if (value === null || value === '') return 1;
  return /^\d{1,6}$/.test(value) ? Number(value) : -1;
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The catalogue page's HTML; every implementation renders through this one function. */
export function renderCataloguePage(page: number, pages: number, products: readonly Product[]): string {
  const rows = products
    .map(
      (p) =>
        `<li><a href="/api/products/${p.id}">${escapeHtml(p.name)}</a> ` +
        `<span class="price">${(p.priceCents / 100).toFixed(2)}</span> ` +
        `<span class="stock">${p.stock}</span><p>${escapeHtml(p.description)}</p></li>`,
    )
    .join('\n');
  return (
    `<!doctype html><html><head><meta charset="utf-8"><title>Catalogue, page ${page}</title></head>` +
    `<body><h1>Catalogue</h1><p>Page ${page} of ${pages}</p><ul>\n${rows}\n</ul></body></html>\n`
  );
}
