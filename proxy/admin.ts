// The admin server (loopback unless config.admin says otherwise): what an operator and the `zeo`
// CLI talk to.
//   GET  /_zeo/status              JSON: every worker and remote with state, health, counts
//   GET  /_zeo/metrics             Prometheus text (proxy/metrics.ts)
//   POST /_zeo/scale?workers=N     grow or shrink the pool; answers when done
//   POST /_zeo/reload              replace every worker, one by one; answers when done

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ListenAddress } from '../config/schema.js';
import type { WorkerHealth } from '../appserver/worker-protocol.js';
import type { Logger } from '../log.js';
import type { RouterMetrics } from './metrics.js';
import type { Pool } from './pool.js';

/** The largest pool the admin endpoint accepts; more threads than this is a typo, not a plan. */
const MAX_WORKERS = 256;

export function poolStatus(pool: Pool): Record<string, unknown> {
  return {
    targetWorkers: pool.targetCount,
    workers: pool.workers.map((worker) => {
      const snapshot = worker.snapshot();
      const health = snapshot.health as WorkerHealth | null;
      return {
        ...snapshot,
        workerId: worker.workerId,
        cacheHitRates: health?.cacheHitRates ?? {},
        storageLagMs: health?.storageLagMs ?? null,
        heapUsedBytes: health?.heapUsedBytes ?? null,
      };
    }),
    remotes: pool.remotes.map((remote) => remote.snapshot()),
  };
}

export class AdminServer {
  readonly server: Server;
  private readonly pool: Pool;
  private readonly metrics: RouterMetrics;
  private readonly log: Logger;

  constructor(pool: Pool, metrics: RouterMetrics, log: Logger) {
    this.pool = pool;
    this.metrics = metrics;
    this.log = log;
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        this.log.error('admin request failed', { url: request.url, error: String(error) });
        send(response, 500, { error: error instanceof Error ? error.message : String(error) });
      });
    });
  }

  async listen(address: ListenAddress): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(address.port, address.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const bound = this.server.address() as AddressInfo;
    return `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://admin');
    const route = `${request.method} ${url.pathname}`;
    switch (route) {
      case 'GET /_zeo/status':
        return send(response, 200, poolStatus(this.pool));
      case 'GET /_zeo/metrics': {
        const text = await this.metrics.registry.metrics();
        response.writeHead(200, { 'content-type': this.metrics.registry.contentType });
        response.end(text);
        return;
      }
      case 'POST /_zeo/scale': {
        const text = url.searchParams.get('workers') ?? '';
        const count = Number(text);
        if (!/^\d+$/.test(text) || count < 1 || count > MAX_WORKERS) {
          return send(response, 400, { error: `workers must be a whole number from 1 to ${MAX_WORKERS}, got ${JSON.stringify(text)}` });
        }
        this.log.info('scaling', { from: this.pool.workers.length, to: count });
        await this.pool.scale(count);
        return send(response, 200, poolStatus(this.pool));
      }
      case 'POST /_zeo/reload':
        this.log.info('rolling reload', { workers: this.pool.workers.length });
        await this.pool.reload();
        return send(response, 200, poolStatus(this.pool));
      default:
        return send(response, 404, { error: `no admin endpoint ${route}; try GET /_zeo/status, GET /_zeo/metrics, POST /_zeo/scale?workers=N, POST /_zeo/reload` });
    }
  }
}

function send(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent) return;
  const text = JSON.stringify(body, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2) + '\n';
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
