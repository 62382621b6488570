// Before `zeo bench --url` drives a running site, it checks that the site serves the bench's
// catalogue routes and finds how many products it has, so the load asks for products that
// exist: the demo shop has 200 products, the bench catalogue 2,000, a user's site whatever it
// has. A site without the routes is refused with one clear sentence instead of being measured
// on its 404s.

import { InvalidArgumentError } from '../errors.js';

/** The highest product id probed for; a catalogue larger than this is driven over its first part. */
export const MAX_PROBED_PRODUCTS = 1_000_000;

export interface CatalogueProbe {
  /** Products 1..productCount answer GET /api/products/:id with 200. */
  productCount: number;
  /** Facts for the report's notes (what was discovered, what was adjusted). */
  notes: string[];
}

const ROUTES = 'GET /api/products/:id (JSON), GET /catalogue?page=N and POST /api/orders, as the demo shop and the bench catalogue serve them';

async function status(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: await response.text() };
}

async function hasProduct(origin: string, id: number): Promise<boolean> {
  const answer = await status(`${origin}/api/products/${id}`);
  if (answer.status === 404) return false;
  if (answer.status !== 200) throw new Error(`GET /api/products/${id} answered ${answer.status} while probing the catalogue`);
  return true;
}

/**
 * Checks that the site at `origin` serves the catalogue and finds its product count (an
 * exponential then a binary search over GET /api/products/:id, about 2 log2(N) requests).
 * `requested` is the --products the user gave, if any: more than the site has is lowered to
 * what it has, with a note.
 */
export async function probeCatalogue(origin: string, requested: number | null): Promise<CatalogueProbe> {
  const notCatalogue = (what: string) => new InvalidArgumentError('--url',
    `the site at ${origin} does not serve the bench's catalogue (${what}); zeo bench --url drives ${ROUTES}`);
  let first;
  try {
    first = await status(`${origin}/api/products/1`);
  } catch (error) {
    throw new InvalidArgumentError('--url', `no site answers at ${origin} (${(error as Error).message})`);
  }
  let product: unknown = null;
  try {
    product = JSON.parse(first.body);
  } catch {
    // not JSON: refused below
  }
  if (first.status !== 200 || (product as { id?: unknown } | null)?.id !== 1) {
    throw notCatalogue(`GET /api/products/1 answered ${first.status}${first.status === 200 ? ', not a product with id 1' : ''}`);
  }
  const page = await status(`${origin}/catalogue?page=1`);
  if (page.status !== 200) throw notCatalogue(`GET /catalogue?page=1 answered ${page.status}`);

  let found = 1;
  let missing: number | null = null;
  for (let id = 2; id <= MAX_PROBED_PRODUCTS; id *= 2) {
    if (!(await hasProduct(origin, id))) {
      missing = id;
      break;
    }
    found = id;
  }
  if (missing === null) missing = (await hasProduct(origin, MAX_PROBED_PRODUCTS)) ? MAX_PROBED_PRODUCTS + 1 : MAX_PROBED_PRODUCTS;
  while (missing - found > 1) {
    const middle = Math.floor((found + missing) / 2);
    if (await hasProduct(origin, middle)) found = middle;
    else missing = middle;
  }
  const notes = [`the site has ${found.toLocaleString('en-US')} products (GET /api/products/${found + 1} is 404)`];
  if (requested !== null && requested > found) {
    notes.push(`--products ${requested} is more than the site has: the load asks for products 1 to ${found}`);
  }
  return { productCount: requested !== null && requested <= found ? requested : found, notes };
}
