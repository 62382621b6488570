// A remote app server (zeo appserver on another machine, or anything speaking HTTP with the
// same health endpoint), reached with an undici Pool. Its health comes from
// GET /_zeo/health every pingIntervalMs: an answer other than 200, or none within
// pingTimeoutMs, takes it out; rise good checks bring it back.

import { Pool as UndiciPool } from 'undici';
import type { ZeoConfig } from '../config/schema.js';
import { BackendFailedError } from '../errors.js';
import type { HeaderPairs } from '../appserver/worker-protocol.js';
import type { Backend, BackendSnapshot, BackendState, ProxyRequest, ProxyResponse } from './backend.js';
import { HealthState } from './health.js';
import type { Logger } from '../log.js';

/** Errors that prove the request never left: nothing was connected, so nothing ran. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH']);

export class RemoteBackend implements Backend {
  readonly id: string;
  state: BackendState = 'ready';
  served = 0;
  errors = 0;
  inFlight = 0;
  lastHealth: unknown = null;
  private readonly origin: string;
  private readonly pool: UndiciPool;
  private readonly healthState: HealthState;
  private readonly config: ZeoConfig;
  private readonly log: Logger;
  private isChecking = false;

  constructor(origin: string, config: ZeoConfig, log: Logger) {
    this.origin = new URL(origin).origin;
    this.id = `remote-${this.origin}`;
    this.config = config;
    this.log = log;
    this.pool = new UndiciPool(this.origin, { connections: 64, keepAliveTimeout: 10_000 });
    // Unknown until the first health check says otherwise: a dead remote must not get traffic.
    this.healthState = new HealthState(config.router.health, false);
  }

  isAvailable(): boolean {
    return this.state === 'ready' && this.healthState.isHealthy;
  }

  async dispatch(request: ProxyRequest, _canRetry: boolean): Promise<ProxyResponse> {
    const url = new URL(request.url);
    this.inFlight++;
    try {
      const answer = await this.pool.request({
        path: url.pathname + url.search,
        method: request.method as 'GET',
        headers: request.headers.flat(),
        body: request.body ? Buffer.from(request.body) : null,
        headersTimeout: this.config.router.requestTimeoutMs,
        bodyTimeout: this.config.router.requestTimeoutMs,
      });
      const body = await answer.body.arrayBuffer();
      const headers: HeaderPairs = [];
      for (const [name, value] of Object.entries(answer.headers)) {
        if (value === undefined) continue;
        for (const one of Array.isArray(value) ? value : [value]) headers.push([name, one]);
      }
      this.served++;
      if (answer.statusCode >= 500) this.errors++;
      return { status: answer.statusCode, headers, body: body.byteLength > 0 ? body : null };
    } catch (error) {
      this.errors++;
      const code = (error as { code?: string }).code ?? '';
      const mayHaveRun = !NOT_SENT_CODES.has(code);
      if (this.healthState.fail(`request failed: ${code || String(error)}`)) {
        this.log.warn('remote app server taken out', { remote: this.origin, error: String(error) });
      }
      throw new BackendFailedError(this.id, code || String(error), mayHaveRun, { cause: error });
    } finally {
      this.inFlight--;
    }
  }

  tick(): void {
    if (this.isChecking) return;
    this.isChecking = true;
    void this.check().finally(() => {
      this.isChecking = false;
    });
  }

  private async check(): Promise<void> {
    const { pingTimeoutMs } = this.config.router.health;
    let isGood = false;
    let reason = '';
    try {
      const answer = await this.pool.request({
        path: '/_zeo/health',
        method: 'GET',
        headersTimeout: pingTimeoutMs,
        bodyTimeout: pingTimeoutMs,
      });
      const text = await answer.body.text();
      isGood = answer.statusCode === 200;
      reason = `health endpoint answered ${answer.statusCode}`;
      try {
        this.lastHealth = JSON.parse(text);
      } catch {
        this.lastHealth = text.slice(0, 200);
      }
    } catch (error) {
      reason = `health check failed: ${(error as { code?: string }).code ?? String(error)}`;
    }
    const changed = this.healthState.record({ isGood, isHard: true, reason: isGood ? null : reason });
    if (changed) {
      const isHealthy = this.healthState.isHealthy;
      this.log[isHealthy ? 'info' : 'warn'](isHealthy ? 'remote app server in' : 'remote app server out', {
        remote: this.origin,
        reason,
      });
    }
  }

  snapshot(): BackendSnapshot {
    return {
      id: this.id,
      kind: 'remote',
      state: this.state,
      isHealthy: this.healthState.isHealthy,
      reason: this.healthState.reason,
      inFlight: this.inFlight,
      served: this.served,
      errors: this.errors,
      restarts: 0,
      health: this.lastHealth,
    };
  }

  async close(): Promise<void> {
    this.state = 'stopped';
    await this.pool.close();
  }
}
