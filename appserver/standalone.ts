// The app server on its own (`zeo appserver`): one SiteRuntime in this process behind an HTTP
// server on config.appserver.listen, for app servers on other machines and for any external load
// balancer (nginx, HAProxy, a cloud LB, the router's remotes). Same request runner as a worker
// thread. GET /_zeo/health answers 200 with the health JSON while this server should get
// traffic, 503 otherwise (storage connection down, or shutting down). SIGTERM/SIGINT: stop
// accepting, finish what is in flight, close the storage, resolve with exit code 0.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ZeoConfig } from '../config/schema.js';
import { processLogger } from '../log.js';
import { readBody } from './http-body.js';
import { describe, responseToData, type LogFunction, type RequestData } from './request-runner.js';
import { appModulePath, SiteRuntime } from './site-runtime.js';
import { waitForStopSignal } from './stop-signal.js';
import type { HeaderPairs } from './worker-protocol.js';

export const HEALTH_PATH = '/_zeo/health';

export interface AppServerOptions {
  /** Path or URL of a storage-factory module (site-runtime.ts); default: ClientStorage from config. */
  storageFactory?: string | null;
  log?: LogFunction;
  /** Worker id reported in ctx.workerId and health (default 1). */
  workerId?: number;
}

export interface AppServer {
  url: string;
  runtime: SiteRuntime;
  /** Stops accepting, finishes in-flight requests (bounded), closes the storage. */
  close(timeoutMs?: number): Promise<void>;
}

/** The process logger, as the runner's level-first function. */
function processLog(): LogFunction {
  const logger = processLogger('appserver');
  return (level, message, fields) => logger[level](message, fields);
}

export async function startAppServer(config: ZeoConfig, options: AppServerOptions = {}): Promise<AppServer> {
  const log = options.log ?? processLog();
  const runtime = await SiteRuntime.start({
    config,
    workerId: options.workerId ?? 1,
    appModule: appModulePath(config),
    storageFactory: options.storageFactory ?? null,
    log,
  });
  let isClosing = false;
  const server: Server = createServer({ keepAliveTimeout: 5_000 }, (request, response) => {
    handle(request, response).catch((error: unknown) => {
      log('error', 'app server failure', { url: request.url, error: describe(error) });
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      response.end('internal server error\n');
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (isClosing) response.setHeader('connection', 'close');
    if (request.method === 'GET' && request.url === HEALTH_PATH) {
      const health = runtime.health();
      const isHealthy = health.isStorageConnected && !isClosing;
      const text = JSON.stringify({ status: isHealthy ? 'ok' : 'unhealthy', ...health }) + '\n';
      response.writeHead(isHealthy ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(text);
      return;
    }
    const body = await readBody(request, config.router.bodyLimitBytes);
    if (body === 'too large') {
      response.writeHead(413, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      response.end(`request body too large: the limit is ${config.router.bodyLimitBytes} bytes\n`);
      return;
    }
    const data: RequestData = {
      method: request.method ?? 'GET',
      url: `http://${request.headers.host ?? 'localhost'}${request.url ?? '/'}`,
      headers: headerPairs(request),
      body,
    };
    const answer = await responseToData(await runtime.runner.run(data));
    const flat: string[] = [];
    for (const [name, value] of answer.headers) if (name !== 'content-length' && name !== 'transfer-encoding') flat.push(name, value);
    const bytes = answer.body ? Buffer.from(answer.body) : null;
    if (request.method !== 'HEAD') flat.push('content-length', String(bytes?.length ?? 0));
    response.writeHead(answer.status, flat);
    response.end(request.method === 'HEAD' ? undefined : (bytes ?? undefined));
  }

  const { host, port } = config.appserver.listen;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  let closing: Promise<void> | null = null;
  return {
    url,
    runtime,
    close(timeoutMs = 10_000) {
      closing ??= (async () => {
        isClosing = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const deadline = Date.now() + timeoutMs;
        while (runtime.runner.stats.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        server.closeAllConnections();
        await closed;
        await runtime.close(Math.max(0, deadline - Date.now()));
      })();
      return closing;
    },
  };
}

/** `zeo appserver`: runs until SIGTERM/SIGINT, then resolves with the exit code (0 after a clean stop). */
export async function runAppServerMain(config: ZeoConfig, options: AppServerOptions = {}): Promise<number> {
  const log = options.log ?? processLog();
  const server = await startAppServer(config, { ...options, log });
  log('info', `app server on ${server.url} (health: ${server.url}${HEALTH_PATH})`, { url: server.url });
  const signal = await waitForStopSignal();
  log('info', 'stopping', { signal });
  await server.close(Math.min(config.router.requestTimeoutMs, 30_000));
  return 0;
}

function headerPairs(request: IncomingMessage): HeaderPairs {
  const pairs: HeaderPairs = [];
  const raw = request.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
  return pairs;
}
