// The demo shop's HTML: small template functions over plain views (no object-layer types), every
// interpolated text escaped. One layout, four pages: home, catalogue page, product (with its
// order form), recent orders.

import type { OrderView, ProductView } from './models.js';
import type { ProductPage, ShopStats } from './shop.js';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const money = (cents: number) => `$${(cents / 100).toFixed(2)}`;
const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:1rem;color:#222}
nav a{margin-right:1rem}table{border-collapse:collapse;width:100%}td,th{padding:.3rem .5rem;border-bottom:1px solid #ddd;text-align:left}
.num{text-align:right}.out{color:#b00}.notice{padding:.5rem 1rem;background:#eef7ee;border:1px solid #9c9}
.error{background:#fbeaea;border-color:#d99}form{margin:1rem 0}input{width:5rem}`;

function layout(title: string, body: string, workerId: number): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · zeo demo shop</title>` +
    `<style>${STYLE}</style></head><body><nav><a href="/">Shop</a><a href="/catalogue">Catalogue</a>` +
    `<a href="/orders">Orders</a><a href="/api/stats">API</a></nav><h1>${escapeHtml(title)}</h1>\n${body}\n` +
    `<footer><small>served by worker ${workerId} · zeo-ts demo</small></footer></body></html>\n`
  );
}

function productRows(products: readonly ProductView[]): string {
  return products
    .map(
      (p) =>
        `<tr><td><a href="/products/${p.id}">${escapeHtml(p.name)}</a></td><td class="num">${money(p.priceCents)}</td>` +
        `<td class="num${p.stock === 0 ? ' out' : ''}">${p.stock === 0 ? 'sold out' : p.stock}</td></tr>`,
    )
    .join('\n');
}

const productTable = (products: readonly ProductView[]) =>
  `<table><thead><tr><th>Product</th><th class="num">Price</th><th class="num">In stock</th></tr></thead>` +
  `<tbody>\n${productRows(products)}\n</tbody></table>`;

function orderTable(orders: readonly OrderView[]): string {
  if (orders.length === 0) return '<p>No orders yet.</p>';
  const rows = orders
    .map(
      (o) =>
        `<tr><td>${escapeHtml(o.createdAt)}</td><td><a href="/products/${o.productId}">${escapeHtml(o.productName)}</a></td>` +
        `<td class="num">${o.quantity}</td><td class="num">${money(o.totalCents)}</td><td class="num">${o.workerId}</td></tr>`,
    )
    .join('\n');
  return (
    `<table><thead><tr><th>When</th><th>Product</th><th class="num">Qty</th><th class="num">Total</th>` +
    `<th class="num">Worker</th></tr></thead><tbody>\n${rows}\n</tbody></table>`
  );
}

export function homePage(stats: ShopStats, featured: readonly ProductView[], orders: readonly OrderView[], workerId: number): string {
  const body =
    `<p>${plural(stats.products, 'product')} · ${plural(stats.orders, 'order')} · ${plural(stats.unitsSold, 'unit')} sold · ` +
    `${money(stats.revenueCents)} revenue</p>\n<h2>Featured</h2>\n${productTable(featured)}\n` +
    `<p><a href="/catalogue">The whole catalogue →</a></p>\n<h2>Latest orders</h2>\n${orderTable(orders)}`;
  return layout('Demo shop', body, workerId);
}

export function cataloguePage(page: ProductPage, workerId: number): string {
  const link = (n: number, text: string) => `<a href="/catalogue?page=${n}">${text}</a>`;
  const pager =
    `<p>Page ${page.page} of ${page.pages} · ` +
    `${page.page > 1 ? link(page.page - 1, '← previous') : ''} ${page.page < page.pages ? link(page.page + 1, 'next →') : ''}</p>`;
  return layout(`Catalogue, page ${page.page}`, `${pager}\n${productTable(page.products)}\n${pager}`, workerId);
}

export interface Notice {
  text: string;
  isError: boolean;
}

export function productPage(product: ProductView, notice: Notice | null, workerId: number): string {
  const noticeHtml = notice ? `<p class="notice${notice.isError ? ' error' : ''}">${escapeHtml(notice.text)}</p>\n` : '';
  const form =
    product.stock > 0
      ? `<form method="post" action="/orders"><input type="hidden" name="productId" value="${product.id}">` +
        `<label>Quantity <input type="number" name="quantity" value="1" min="1" max="${Math.min(product.stock, 100)}"></label> ` +
        `<button type="submit">Order</button></form>`
      : `<p class="out">Sold out.</p>`;
  const body =
    `${noticeHtml}<p>${escapeHtml(product.description)}</p>\n` +
    `<p>Price: <strong>${money(product.priceCents)}</strong> · In stock: <strong>${product.stock}</strong> · ` +
    `Sold: ${product.sold}</p>\n${form}`;
  return layout(product.name, body, workerId);
}

export function ordersPage(orders: readonly OrderView[], workerId: number): string {
  return layout('Recent orders', orderTable(orders), workerId);
}

/** A short page for what went wrong ("Not found", "Bad order", "Sold out"). */
export function messagePage(title: string, text: string, workerId: number): string {
  return layout(title, `<p>${escapeHtml(text)}</p><p><a href="/">Back to the shop</a></p>`, workerId);
}
