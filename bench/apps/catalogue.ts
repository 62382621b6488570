// The bench catalogue as a zeo app module (config app.module = dist/bench/apps/catalogue.js):
// the demo shop's routes, over the same products the PostgreSQL and cluster baselines serve
// (bench/apps/catalogue-data.ts), plus the guarded fault routes of bench/apps/faults.ts. Each
// request runs in its own transaction (the app server's); reads declare themselves read-only.
// ZEO_BENCH_PRODUCTS sets how many products setup creates (default 2000).

import type { AppContext, AppModule } from '../../appserver/app-module.js';
import {
  DEFAULT_PRODUCT_COUNT,
  PRODUCTS_ENV,
  pageCount,
  pageFromQuery,
  pageProductIds,
  parseOrder,
  productIdFromPath,
  renderCataloguePage,
} from './catalogue-data.js';
import { CATALOGUE_CLASSES, catalogueOf, createCatalogue, placeOrder, productsByIds } from './catalogue-models.js';
import { areFaultsEnabled, crashSoon, faultFromRequest, hangFor } from './faults.js';

const json = (status: number, value: unknown) =>
  new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json' } });

const isFaultable = areFaultsEnabled();
const productCount = Number(process.env[PRODUCTS_ENV] ?? DEFAULT_PRODUCT_COUNT);

async function handle(request: Request, ctx: AppContext): Promise<Response> {
  const url = new URL(request.url);
  const method = request.method;
  if (isFaultable) {
    const fault = faultFromRequest(method, url.pathname, url.searchParams);
    if (fault?.kind === 'hang') {
      ctx.readOnly();
      hangFor(fault.ms);
      return json(200, { hungMs: fault.ms });
    }
    if (fault?.kind === 'crash') {
      ctx.readOnly();
      crashSoon();
      return json(202, { crashing: true });
    }
  }
  const productId = productIdFromPath(url.pathname);
  if (productId !== null && method === 'GET') {
    ctx.readOnly();
    const catalogue = await catalogueOf(await ctx.root());
    const product = await catalogue.products.get(productId);
    return product ? json(200, product.toJSON()) : json(404, { error: `no product ${productId}` });
  }
  if (url.pathname === '/catalogue' && method === 'GET') {
    ctx.readOnly();
    const catalogue = await catalogueOf(await ctx.root());
    const page = pageFromQuery(url.searchParams.get('page'));
    const ids = pageProductIds(page, catalogue.productCount);
    if (!ids) return json(404, { error: `no catalogue page ${url.searchParams.get('page')}` });
    const html = renderCataloguePage(page, pageCount(catalogue.productCount), await productsByIds(catalogue, ids));
    return new Response(html, { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' } });
  }
  if (url.pathname === '/api/orders' && method === 'POST') {
    let body: unknown;
    try {
      body = await request.json();
    } catch {
      return json(400, { error: 'body must be JSON {productId, quantity}' });
    }
    const order = parseOrder(body);
    if (typeof order === 'string') return json(400, { error: order });
    const outcome = await placeOrder(await catalogueOf(await ctx.root()), order);
    if (outcome === 'not-found') return json(404, { error: `no product ${order.productId}` });
    if (outcome === 'out-of-stock') return json(409, { error: 'out of stock' });
    return json(201, outcome);
  }
  ctx.readOnly();
  return json(404, { error: `no route ${method} ${url.pathname}` });
}

const app: AppModule = {
  fetch: handle,
  classes: CATALOGUE_CLASSES,
  setup: (db) => createCatalogue(db, productCount),
};

export default app;
