// The catalogue held in a plain Map inside one process: no database at all. It is the harness's
// own sanity target (tests drive it through the cluster baseline) and an upper bound for what
// any stored version can reach; with several processes each has its own copy, so writes are not
// shared, which is why it is never reported as a real baseline.

import type { OrderRequest, Product } from './catalogue-data.js';
import { DEFAULT_PRODUCT_COUNT, makeProduct } from './catalogue-data.js';
import type { CatalogueStore, OrderOutcome } from './catalogue-http.js';

export class MemoryCatalogueStore implements CatalogueStore {
  readonly productCount: number;
  private readonly products = new Map<number, Product>();
  private nextOrderId = 1;

  constructor(productCount = DEFAULT_PRODUCT_COUNT) {
    this.productCount = productCount;
    for (let id = 1; id <= productCount; id++) this.products.set(id, makeProduct(id));
  }

  async getProduct(id: number): Promise<Product | null> {
    return this.products.get(id) ?? null;
  }

  async getProducts(ids: readonly number[]): Promise<Product[]> {
    return ids.flatMap((id) => this.products.get(id) ?? []);
  }

  async placeOrder(order: OrderRequest): Promise<OrderOutcome> {
    const product = this.products.get(order.productId);
    if (!product) return 'not-found';
    if (product.stock < order.quantity) return 'out-of-stock';
    product.stock -= order.quantity;
    return { orderId: String(this.nextOrderId++), productId: product.id, quantity: order.quantity, stock: product.stock };
  }

  async close(): Promise<void> {}
}
