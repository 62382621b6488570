// The load scenarios and the request mix each one sends. A scenario is a ratio of writes to
// reads and the kind of read; a mixer turns it into a stream of concrete requests (random
// product, random page, random order) from a seeded RNG, so a run is repeatable and the mix is
// testable without any server. autocannon gets one request entry whose setupRequest asks the
// mixer for the next request each time.

import type { Request as AutocannonRequest } from 'autocannon';
import { DEFAULT_PRODUCT_COUNT, pageCount } from './apps/catalogue-data.js';

export type ScenarioName = 'read-mostly' | 'write-heavy' | 'large-pages';

export interface Scenario {
  name: ScenarioName;
  description: string;
  /** Share of requests that are writes (POST /api/orders), 0..1. */
  writeRatio: number;
  /** What a read fetches: one product (JSON) or a catalogue page (~50 products, HTML). */
  readKind: 'product' | 'page';
}

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  'read-mostly': {
    name: 'read-mostly',
    description: '95% product reads, 5% orders',
    writeRatio: 0.05,
    readKind: 'product',
  },
  'write-heavy': {
    name: 'write-heavy',
    description: '50% product reads, 50% orders',
    writeRatio: 0.5,
    readKind: 'product',
  },
  'large-pages': {
    name: 'large-pages',
    description: 'catalogue pages of 50 products each',
    writeRatio: 0,
    readKind: 'page',
  },
};

export const SCENARIO_NAMES = Object.keys(SCENARIOS) as ScenarioName[];

export function isScenarioName(name: string): name is ScenarioName {
  return Object.hasOwn(SCENARIOS, name);
}

export interface BenchRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** mulberry32: a tiny seeded PRNG, good enough to spread keys and repeatable across runs. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface MixerOptions {
  productCount?: number;
  random?: () => number;
}

/** Returns a function that yields the scenario's next request. */
export function createRequestMixer(scenario: Scenario, options: MixerOptions = {}): () => BenchRequest {
  const productCount = options.productCount ?? DEFAULT_PRODUCT_COUNT;
  const pages = pageCount(productCount);
  const random = options.random ?? Math.random;
  const pick = (n: number) => 1 + Math.floor(random() * n);
  return (): BenchRequest => {
    if (random() < scenario.writeRatio) {
      return {
        method: 'POST',
        path: '/api/orders',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ productId: pick(productCount), quantity: pick(3) }),
      };
    }
    return scenario.readKind === 'page'
      ? { method: 'GET', path: `/catalogue?page=${pick(pages)}`, headers: {} }
      : { method: 'GET', path: `/api/products/${pick(productCount)}`, headers: {} };
  };
}

/** Every product, then every catalogue page, in order, round and round: a cache warm-up. */
export function createSweep(productCount = DEFAULT_PRODUCT_COUNT): () => BenchRequest {
  const pages = pageCount(productCount);
  let index = 0;
  return (): BenchRequest => {
    const position = index++ % (productCount + pages);
    return position < productCount
      ? { method: 'GET', path: `/api/products/${position + 1}`, headers: {} }
      : { method: 'GET', path: `/catalogue?page=${position - productCount + 1}`, headers: {} };
  };
}

/** What a connection sent last; autocannon keeps one context per connection. */
interface ConnectionContext {
  lastMethod?: string;
}

export interface AutocannonHooks {
  /** Called for every response with status >= 500, with the method of the request it answers. */
  onServerError?: (method: string, status: number) => void;
}

/** The autocannon `requests` option for a scenario: one dynamic entry fed by the mixer. */
export function autocannonRequests(scenario: Scenario | 'sweep', options: MixerOptions & AutocannonHooks = {}): AutocannonRequest[] {
  const next = scenario === 'sweep' ? createSweep(options.productCount) : createRequestMixer(scenario, options);
  const { onServerError } = options;
  return [
    {
      setupRequest: (request: AutocannonRequest, context: object) => {
        const chosen = next();
        (context as ConnectionContext).lastMethod = chosen.method;
        return { ...request, method: chosen.method, path: chosen.path, headers: chosen.headers, body: chosen.body ?? '' };
      },
      // Without pipelining a connection has one request in flight, so the context names it.
      onResponse: onServerError
        ? (status: number, _body: string, context: object) => {
          if (status >= 500) onServerError((context as ConnectionContext).lastMethod ?? '?', status);
        }
        : undefined,
    },
  ];
}
