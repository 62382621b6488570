// The catalogue as a plain node:http server over any CatalogueStore: how a user would write the
// app without zeo. The PostgreSQL baseline and the in-memory trivial app both serve through it,
// so their routes and bytes match the zeo app module (bench/apps/catalogue.ts) exactly.

import http from 'node:http';
import type { OrderRequest, OrderResult, Product } from './catalogue-data.js';
import {
  pageCount,
  pageFromQuery,
  pageProductIds,
  parseOrder,
  productIdFromPath,
  renderCataloguePage,
} from './catalogue-data.js';
import { areFaultsEnabled, crashSoon, faultFromRequest, hangFor } from './faults.js';

export type OrderOutcome = OrderResult | 'not-found' | 'out-of-stock';

export interface CatalogueStore {
  readonly productCount: number;
  getProduct(id: number): Promise<Product | null>;
  /** The products with these ids, in id order (missing ids are left out). */
  getProducts(ids: readonly number[]): Promise<Product[]>;
  placeOrder(order: OrderRequest): Promise<OrderOutcome>;
  close(): Promise<void>;
}

const BODY_LIMIT_BYTES = 64 * 1024;

function send(response: http.ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

const sendJson = (response: http.ServerResponse, status: number, value: unknown) =>
  send(response, status, 'application/json', JSON.stringify(value));

function readBody(request: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT_BYTES) {
        reject(new Error('request body too large'));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

async function route(store: CatalogueStore, request: http.IncomingMessage, response: http.ServerResponse,
  isFaultable: boolean): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const method = request.method ?? 'GET';
  if (url.pathname === '/_zeo/health') return sendJson(response, 200, { status: 'ok' });
  if (isFaultable) {
    const fault = faultFromRequest(method, url.pathname, url.searchParams);
    if (fault?.kind === 'hang') {
      hangFor(fault.ms);
      return sendJson(response, 200, { hungMs: fault.ms });
    }
    if (fault?.kind === 'crash') {
      sendJson(response, 202, { crashing: true });
      return crashSoon();
    }
  }
  const productId = productIdFromPath(url.pathname);
  if (productId !== null && method === 'GET') {
    const product = await store.getProduct(productId);
    return product
      ? sendJson(response, 200, product)
      : sendJson(response, 404, { error: `no product ${productId}` });
  }
  if (url.pathname === '/catalogue' && method === 'GET') {
    const page = pageFromQuery(url.searchParams.get('page'));
    const ids = pageProductIds(page, store.productCount);
    if (!ids) return sendJson(response, 404, { error: `no catalogue page ${url.searchParams.get('page')}` });
    const products = await store.getProducts(ids);
    return send(response, 200, 'text/html; charset=utf-8',
      renderCataloguePage(page, pageCount(store.productCount), products));
  }
  if (url.pathname === '/api/orders' && method === 'POST') {
    let body: unknown;
    try {
      body = JSON.parse(await readBody(request));
    } catch {
      return sendJson(response, 400, { error: 'body must be JSON {productId, quantity}' });
    }
    const order = parseOrder(body);
    if (typeof order === 'string') return sendJson(response, 400, { error: order });
    const outcome = await store.placeOrder(order);
    if (outcome === 'not-found') return sendJson(response, 404, { error: `no product ${order.productId}` });
    if (outcome === 'out-of-stock') return sendJson(response, 409, { error: 'out of stock' });
    return sendJson(response, 201, outcome);
  }
  sendJson(response, 404, { error: `no route ${method} ${url.pathname}` });
}

export function createCatalogueServer(store: CatalogueStore,
  options: { isFaultable?: boolean } = {}): http.Server {
  const isFaultable = options.isFaultable ?? areFaultsEnabled();
  const server = http.createServer((request, response) => {
    route(store, request, response, isFaultable).catch((error: unknown) => {
      if (!response.headersSent) {
        sendJson(response, 500, { error: error instanceof Error ? error.message : String(error) });
      } else {
        response.destroy();
      }
    });
  });
  server.keepAliveTimeout = 65_000;
  return server;
}
