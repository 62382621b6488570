// The demo shop's persistent classes. Everything hangs off one Shop object at root['shop']:
//   products  BTree<number, Product>   by product id (1..n)
//   orders    BTree<string, Order>     by order id, which sorts by time (newest = largest key)
//   orderCount, unitsSold, revenueCents: Counters, so concurrent orders merge their totals
//            instead of conflicting on one number.
// Placing an order changes the product (its stock: two orders of one product do conflict, and
// the app server runs the loser again, which is what keeps stock from going negative), one
// orders bucket (merged with other orders by the bucket's conflict resolution) and the counters.

import { BTree } from '../../storage/objects/btree.js';
import { Counter } from '../../storage/objects/counter.js';
import { Persistent } from '../../storage/objects/persistent.js';

export class Product extends Persistent {
  static persistentName = 'demo.Product';
  id = 0;
  name = '';
  description = '';
  priceCents = 0;
  stock = 0;
  /** Units sold so far. */
  sold = 0;

  constructor(fields?: Pick<Product, 'id' | 'name' | 'description' | 'priceCents' | 'stock'>) {
    super();
    if (fields) Object.assign(this, fields);
  }

  toJSON(): ProductView {
    const { id, name, description, priceCents, stock, sold } = this;
    return { id, name, description, priceCents, stock, sold };
  }
}

export interface ProductView {
  id: number;
  name: string;
  description: string;
  priceCents: number;
  stock: number;
  sold: number;
}

export class Order extends Persistent {
  static persistentName = 'demo.Order';
  id = '';
  productId = 0;
  productName = '';
  quantity = 0;
  totalCents = 0;
  /** ISO date. */
  createdAt = '';
  /** The worker that took the order (shows the requests spreading over workers). */
  workerId = 0;

  constructor(fields?: OrderView) {
    super();
    if (fields) Object.assign(this, fields);
  }

  toJSON(): OrderView {
    const { id, productId, productName, quantity, totalCents, createdAt, workerId } = this;
    return { id, productId, productName, quantity, totalCents, createdAt, workerId };
  }
}

export interface OrderView {
  id: string;
  productId: number;
  productName: string;
  quantity: number;
  totalCents: number;
  createdAt: string;
  workerId: number;
}

export class Shop extends Persistent {
  static persistentName = 'demo.Shop';
  products = new BTree<number, Product>();
  orders = new BTree<string, Order>();
  orderCount = new Counter();
  unitsSold = new Counter();
  revenueCents = new Counter();
  productCount = 0;
  createdAt = new Date().toISOString();
}

export const DEMO_CLASSES = [Product, Order, Shop];
