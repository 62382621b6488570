// The bundled demo site: a small shop that `zeo start` serves when config.app.module is null.
// It is an ordinary app module (appserver/app-module.ts), plain fetch-style code, the way a site
// would write one:
//   GET  /                      home: totals, featured products, latest orders (HTML)
//   GET  /catalogue?page=N      50 products a page (HTML; reads ~50 objects, the bench's page)
//   GET  /products/:id          one product with its order form (HTML)
//   POST /orders                the form's target: 303 to the product page, 409 when sold out
//   GET  /orders                recent orders (HTML)
//   GET  /api/products?page=N   products as JSON (page of `limit`, default 50, at most 200)
//   GET  /api/products/:id      one product as JSON
//   POST /api/orders            {productId, quantity} -> 201 order | 409 out of stock | 404 | 400
//   GET  /api/orders?limit=N    recent orders, newest first
//   GET  /api/stats             totals, and which worker answered
// Every request runs in its own transaction (the app server's job); GETs declare themselves
// read-only, and an order is one atomic change of stock, order list and totals.

import type { AppContext, AppModule, DB } from '../app-module.js';
import { DEMO_CLASSES } from './models.js';
import * as pages from './pages.js';
import {
  createShop,
  findProduct,
  parseOrderRequest,
  placeOrder,
  productPage,
  recentOrders,
  shopOf,
  shopStats,
  type OrderOutcome,
  type OrderRequest,
} from './shop.js';

const html = (status: number, body: string, headers: Record<string, string> = {}) =>
  new Response(body, { status, headers: { 'content-type': 'text/html; charset=utf-8', ...headers } });

const json = (status: number, value: unknown) =>
  new Response(JSON.stringify(value) + '\n', { status, headers: { 'content-type': 'application/json' } });

/** A whole number from a query value within [1, max]; `fallback` when absent, null when bad. */
function queryNumber(value: string | null, fallback: number, max: number): number | null {
  if (value === null || value === '') return fallback;
  if (!/^\d{1,6}$/.test(value)) return null;
  const n = Number(value);
  return n >= 1 && n <= max ? n : null;
}

async function readOrderBody(request: Request): Promise<unknown> {
  const type = request.headers.get('content-type') ?? '';
  const text = await request.text();
  if (type.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text));
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

async function handle(request: Request, ctx: AppContext): Promise<Response> {
  const url = new URL(request.url);
  const method = request.method === 'HEAD' ? 'GET' : request.method;
  const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
  if (method === 'GET') ctx.readOnly();
  const shop = await shopOf(await ctx.root());
  const productMatch = /^\/(api\/)?products\/(\d{1,9})$/.exec(path);

  if (productMatch && method === 'GET') {
    const isApi = productMatch[1] !== undefined;
    const product = await findProduct(shop, Number(productMatch[2]));
    if (!product) {
      const what = `no product ${productMatch[2]}`;
      return isApi ? json(404, { error: what }) : html(404, pages.messagePage('Not found', what, ctx.workerId));
    }
    if (isApi) return json(200, product.toJSON());
    const ordered = url.searchParams.get('ordered');
    const notice = ordered ? { text: `Thank you: order ${ordered} is placed.`, isError: false } : null;
    return html(200, pages.productPage(product.toJSON(), notice, ctx.workerId));
  }

  switch (`${method} ${path}`) {
    case 'GET /': {
      const [stats, featured, orders] = [await shopStats(shop), await productPage(shop, 1, 12), await recentOrders(shop, 10)];
      return html(200, pages.homePage(stats, featured?.products ?? [], orders, ctx.workerId));
    }
    case 'GET /catalogue': {
      const number = queryNumber(url.searchParams.get('page'), 1, 1_000_000);
      const page = number === null ? null : await productPage(shop, number);
      if (!page) return html(404, pages.messagePage('Not found', `no catalogue page ${url.searchParams.get('page')}`, ctx.workerId));
      return html(200, pages.cataloguePage(page, ctx.workerId));
    }
    case 'GET /orders':
      return html(200, pages.ordersPage(await recentOrders(shop, 50), ctx.workerId));
    case 'POST /orders':
      return orderFromForm(request, ctx);
    case 'GET /api/products': {
      const limit = queryNumber(url.searchParams.get('limit'), 50, 200);
      const number = queryNumber(url.searchParams.get('page'), 1, 1_000_000);
      if (limit === null || number === null) return json(400, { error: 'page must be >= 1 and limit from 1 to 200' });
      const page = await productPage(shop, number, limit);
      return page ? json(200, page) : json(404, { error: `no page ${number}` });
    }
    case 'POST /api/orders':
      return orderFromJson(request, ctx);
    case 'GET /api/orders': {
      const limit = queryNumber(url.searchParams.get('limit'), 20, 500);
      if (limit === null) return json(400, { error: 'limit must be from 1 to 500' });
      return json(200, { orders: await recentOrders(shop, limit) });
    }
    case 'GET /api/stats':
      return json(200, { ...(await shopStats(shop)), workerId: ctx.workerId });
  }
  const isKnownPath = ['/', '/catalogue', '/orders', '/api/products', '/api/orders', '/api/stats'].includes(path) || productMatch;
  if (isKnownPath) return json(405, { error: `${request.method} is not allowed on ${path}` });
  const what = `no page ${path}`;
  return path.startsWith('/api/') ? json(404, { error: what }) : html(404, pages.messagePage('Not found', what, ctx.workerId));
}

/** The order asked for and what became of it, or what is wrong with the request (a 400). */
async function takeOrder(request: Request, ctx: AppContext): Promise<{ asked: OrderRequest; outcome: OrderOutcome } | string> {
  const asked = parseOrderRequest(await readOrderBody(request));
  if (typeof asked === 'string') return asked;
  return { asked, outcome: await placeOrder(await shopOf(await ctx.root()), asked, ctx.workerId) };
}

async function orderFromJson(request: Request, ctx: AppContext): Promise<Response> {
  const taken = await takeOrder(request, ctx);
  if (typeof taken === 'string') return json(400, { error: taken });
  const { outcome } = taken;
  switch (outcome.kind) {
    case 'placed': {
      const { order, stock } = outcome;
      return json(201, { orderId: order.id, productId: order.productId, quantity: order.quantity, stock, order });
    }
    case 'not-found':
      return json(404, { error: 'no such product' });
    case 'out-of-stock':
      return json(409, { error: 'out of stock', stock: outcome.stock });
  }
}

async function orderFromForm(request: Request, ctx: AppContext): Promise<Response> {
  const taken = await takeOrder(request, ctx);
  if (typeof taken === 'string') return html(400, pages.messagePage('Bad order', taken, ctx.workerId));
  const { asked, outcome } = taken;
  if (outcome.kind === 'placed') {
    const location = `/products/${outcome.order.productId}?ordered=${encodeURIComponent(outcome.order.id)}`;
    return new Response(null, { status: 303, headers: { location } });
  }
  if (outcome.kind === 'not-found') return html(404, pages.messagePage('Not found', 'no such product', ctx.workerId));
  // Sold out meanwhile: show the product again, with the stock as it is now.
  const product = await findProduct(await shopOf(await ctx.root()), asked.productId);
  const text = `Only ${outcome.stock} left: the order was not placed.`;
  return product
    ? html(409, pages.productPage(product.toJSON(), { text, isError: true }, ctx.workerId))
    : html(409, pages.messagePage('Sold out', text, ctx.workerId));
}

const demo: AppModule = {
  fetch: handle,
  classes: DEMO_CLASSES,
  async setup(db: DB) {
    await createShop(db);
  },
};

export default demo;
