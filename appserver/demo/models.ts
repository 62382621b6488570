// The demo shop's persistent classes. Everything hangs off one Shop object at root['shop']:
//   products  BTree<number, Product>   by product id (1..n)
//   orders    BTree<string, Order>     by order id, which sorts by time (newest = largest key)
//   orderCount, unitsSold, revenueCents: Counters, so concurrent orders merge their totals
//            instead of conflicting on one number.
// Placing an order changes the product (its stock), one orders bucket and the counters. All
// three merge concurrent changes (Product.resolveConflict, the bucket's and the Counter's), so
// orders placed at once by different workers commit without running again; only an order that
// would take the stock below zero is refused the merge, runs again and sees what is left.

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

  /**
   * Two orders of one product, committed at once, merge instead of conflicting: each side's
   * stock change applies to the committed stock, as long as that leaves it at 0 or more. Any
   * other change on both sides (a new price) refuses the merge, and the order runs again.
   */
  static resolveConflict(oldState: unknown, committedState: unknown, newState: unknown): ProductView {
    const [old, committed, mine] = [oldState, committedState, newState].map(asProductState) as [ProductView, ProductView, ProductView];
    for (const key of ['id', 'name', 'description', 'priceCents'] as const) {
      if (committed[key] !== old[key] || mine[key] !== old[key]) throw new Error(`product ${key} changed meanwhile`);
    }
    const stock = committed.stock + (mine.stock - old.stock);
    if (stock < 0) throw new Error('not enough stock left for both orders');
    return { ...committed, stock, sold: committed.sold + (mine.sold - old.sold) };
  }
}

function asProductState(state: unknown): ProductView {
  const product = state as Partial<ProductView> | null;
  if (!product || typeof product.stock !== 'number' || typeof product.sold !== 'number') throw new TypeError('not a Product state');
  return product as ProductView;
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
