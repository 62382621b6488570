// The front router: an HTTP/1.1 server that reads each request (bounded by bodyLimitBytes), picks
// a backend for it (proxy/balancer.ts, per request), sends it there and writes the answer back.
//  - An idempotent request (GET HEAD OPTIONS PUT DELETE) whose backend fails (died, hung,
//    refused) is sent to another, up to router.retries times. A POST or PATCH is sent again only
//    when it provably never reached the first backend (BackendFailedError.mayHaveRun false).
//  - Bodies go to a worker as transferred ArrayBuffers; an attempt that may be retried gets a
//    copy, so the bytes are still here for the next one.
//  - The router answers itself, with a short text body: 413 (body too large), 502 (the app
//    server failed), 503 (no app server available), 504 (no answer within requestTimeoutMs).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from '../appserver/http-body.js';
import type { ZeoConfig } from '../config/schema.js';
import { BackendFailedError } from '../errors.js';
import type { Backend, ProxyRequest, ProxyResponse } from './backend.js';
import { forwardedRequestHeaders, stripHopByHop } from './forwarding.js';
import type { Logger } from '../log.js';
import type { RouterMetrics } from './metrics.js';
import type { Pool } from './pool.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** How long a request waits for some backend to become available (a worker being replaced). */
const WAIT_FOR_BACKEND_MS = 2_000;

export interface RouterOptions {
  config: ZeoConfig;
  pool: Pool;
  log: Logger;
  metrics: RouterMetrics | null;
}

class RouterAnswer {
  constructor(
    readonly status: number,
    readonly text: string,
  ) {}
}

export class Router {
  readonly server: Server;
  private readonly options: RouterOptions;
  private inFlight = 0;
  private isClosing = false;

  constructor(options: RouterOptions) {
    this.options = options;
    this.server = createServer({ keepAliveTimeout: 5_000 }, (request, response) => void this.handle(request, response));
  }

  async listen(): Promise<string> {
    const { host, port } = this.options.config.router.listen;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${shownHost}:${address.port}`;
  }

  /** Stops accepting, lets requests in flight finish (bounded), then closes every connection. */
  async close(timeoutMs: number): Promise<void> {
    this.isClosing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) await sleep(10);
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const method = (request.method ?? 'GET').toUpperCase();
    this.inFlight++;
    // Connections stay open between requests; while closing, tell the client to go.
    if (this.isClosing) response.setHeader('connection', 'close');
    let status = 500;
    try {
      const answer = await this.route(request, method);
      status = answer instanceof RouterAnswer ? this.writeText(response, answer) : this.writeProxied(response, method, answer);
    } catch (error) {
      this.options.log.error('router failure', { url: request.url, error: error instanceof Error ? error.stack : String(error) });
      status = this.writeText(response, new RouterAnswer(500, 'internal router error'));
    } finally {
      this.inFlight--;
      const metrics = this.options.metrics;
      if (metrics) {
        metrics.requests.inc({ method, status: String(status) });
        metrics.duration.observe({ method }, Number(process.hrtime.bigint() - started) / 1e9);
        if (status === 413 || status === 502 || status === 503 || status === 504) metrics.failures.inc({ reason: String(status) });
      }
    }
  }

  private async route(request: IncomingMessage, method: string): Promise<ProxyResponse | RouterAnswer> {
    const { config } = this.options;
    const { bodyLimitBytes, requestTimeoutMs } = config.router;
    const deadline = Date.now() + requestTimeoutMs;
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > bodyLimitBytes) return this.tooLarge(request);
    const body = await readBody(request, bodyLimitBytes);
    if (body === 'too large') return this.tooLarge(request);
    const proxied: ProxyRequest = {
      method,
      url: `http://${request.headers.host ?? 'localhost'}${request.url ?? '/'}`,
      headers: forwardedRequestHeaders(request, false),
      body: method === 'GET' || method === 'HEAD' ? null : body,
    };
    return this.dispatchWithRetries(proxied, IDEMPOTENT.has(method), deadline);
  }

  private tooLarge(request: IncomingMessage): RouterAnswer {
    request.resume();
    return new RouterAnswer(413, `request body too large: the limit is ${this.options.config.router.bodyLimitBytes} bytes`);
  }

  private async dispatchWithRetries(request: ProxyRequest, isIdempotent: boolean, deadline: number): Promise<ProxyResponse | RouterAnswer> {
    const { pool, config, metrics } = this.options;
    const { retries, requestTimeoutMs } = config.router;
    const tried = new Set<Backend>();
    let lastFailure: BackendFailedError | null = null;
    for (let attempt = 0; ; attempt++) {
      const backend = pool.pick(tried) ?? (await this.waitForBackend(tried, deadline));
      if (!backend) {
        return lastFailure
          ? new RouterAnswer(502, `bad gateway: ${lastFailure.message}; no other app server could take the request`)
          : new RouterAnswer(503, 'service unavailable: no app server is available right now; retry shortly');
      }
      const canRetry = isIdempotent && attempt < retries;
      const body = canRetry && request.body ? request.body.slice(0) : request.body;
      const outcome = await withDeadline(backend.dispatch({ ...request, body }, canRetry), deadline);
      if (outcome === 'timeout') {
        backend.abandon?.(`a request got no answer within ${requestTimeoutMs} ms`);
        return new RouterAnswer(504, `gateway timeout: the app server did not answer within ${requestTimeoutMs} ms`);
      }
      if (!(outcome instanceof Error)) return outcome;
      if (!(outcome instanceof BackendFailedError)) throw outcome;
      lastFailure = outcome;
      tried.add(backend);
      const maySendAgain = attempt < retries && (isIdempotent || !outcome.mayHaveRun) && bodyIsIntact(request, body);
      if (!maySendAgain) {
        return new RouterAnswer(
          502,
          `bad gateway: ${outcome.message}` + (isIdempotent ? '' : '; the request was not sent again because it is not idempotent'),
        );
      }
      metrics?.retries.inc();
    }
  }

  private async waitForBackend(tried: ReadonlySet<Backend>, deadline: number): Promise<Backend | null> {
    const until = Math.min(deadline, Date.now() + WAIT_FOR_BACKEND_MS);
    while (Date.now() < until) {
      await sleep(20);
      const backend = this.options.pool.pick(tried);
      if (backend) return backend;
    }
    return null;
  }

  private writeText(response: ServerResponse, answer: RouterAnswer): number {
    if (!response.headersSent && !response.destroyed) {
      const text = answer.text + '\n';
      response.writeHead(answer.status, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(text),
        ...(answer.status === 413 ? { connection: 'close' } : {}),
      });
      response.end(text);
    }
    return answer.status;
  }

  private writeProxied(response: ServerResponse, method: string, answer: ProxyResponse): number {
    if (response.destroyed) return answer.status;
    const isBodyless = method === 'HEAD' || answer.status === 204 || answer.status === 304;
    const headers = stripHopByHop(answer.headers).filter(([name]) => name !== 'content-length' || method === 'HEAD');
    const flat: string[] = [];
    for (const [name, value] of headers) flat.push(name, value);
    const body = answer.body && !isBodyless ? Buffer.from(answer.body) : null;
    if (!isBodyless) flat.push('content-length', String(body?.length ?? 0));
    response.writeHead(answer.status, flat);
    response.end(body ?? undefined);
    return answer.status;
  }
}

/** A transferred body is detached (byteLength 0): it cannot go anywhere else. */
function bodyIsIntact(request: ProxyRequest, sent: ArrayBuffer | null): boolean {
  return !request.body || sent !== request.body || request.body.byteLength > 0;
}

async function withDeadline<T>(promise: Promise<T>, deadline: number): Promise<T | Error | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([promise.catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
