// A site's front half in one call: the worker pool, the router and the admin server.
// `startSite` is what `zeo start` (proxy/launch.ts) calls once the storage server runs;
// `runProxyMain` is `zeo proxy`: startSite plus signal handling — SIGHUP re-reads the config and
// scales, SIGTERM/SIGINT stop accepting, finish what is in flight (bounded), stop the workers and
// resolve with exit code 0.

import { appModulePath } from '../appserver/site-runtime.js';
import { waitForStopSignal } from '../appserver/stop-signal.js';
import { resolveWorkerCount } from '../config/load.js';
import type { ZeoConfig } from '../config/schema.js';
import { AdminServer } from './admin.js';
import { processLogger, type Logger } from '../log.js';
import { RouterMetrics } from './metrics.js';
import { Pool } from './pool.js';
import { Router } from './router.js';


export { waitForStopSignal };

/** Workers to run: config.workers.count, or the number of CPU cores for "auto". */
export const workerCount = resolveWorkerCount;

export interface StartSiteOptions {
  log?: Logger;
  /**
   * Path or URL of a storage-factory module (see appserver/site-runtime.ts StorageFactory) used
   * by every worker instead of a ClientStorage: tests, embedded sites, sites without a database.
   */
  storageFactory?: string | null;
  /** How long a new worker may take to start (default 30 s). */
  startTimeoutMs?: number;
}

export interface Site {
  /** The router's URL (http://host:port). */
  url: string;
  adminUrl: string;
  pool: Pool;
  /** Stops accepting, finishes in-flight requests (bounded by timeoutMs), stops the workers. */
  close(timeoutMs?: number): Promise<void>;
}

export async function startSite(config: ZeoConfig, options: StartSiteOptions = {}): Promise<Site> {
  const log = options.log ?? processLogger('router');
  const pool = new Pool({
    config,
    appModule: appModulePath(config),
    storageFactory: options.storageFactory ?? null,
    log,
    startTimeoutMs: options.startTimeoutMs,
  });
  await pool.start(workerCount(config));
  const metrics = new RouterMetrics(pool);
  const router = new Router({ config, pool, log, metrics });
  const admin = new AdminServer(pool, metrics, log);
  let url: string;
  let adminUrl: string;
  try {
    url = await router.listen();
    adminUrl = await admin.listen(config.admin);
  } catch (error) {
    await Promise.allSettled([router.close(0), admin.close(), pool.close()]);
    throw error;
  }
  log.info(`router on ${url}, admin on ${adminUrl}, ${pool.workers.length} workers` +
    (pool.remotes.length ? `, ${pool.remotes.length} remote app servers` : ''),
  { url, adminUrl, workers: pool.workers.length, remotes: pool.remotes.length });
  let closing: Promise<void> | null = null;
  const close = (timeoutMs = config.router.requestTimeoutMs): Promise<void> => {
    closing ??= (async () => {
      await router.close(timeoutMs);
      await admin.close();
      await pool.close();
      log.info('site stopped', { url });
    })();
    return closing;
  };
  return { url, adminUrl, pool, close };
}

export interface RunProxyOptions extends StartSiteOptions {
  /** Re-reads the config file (SIGHUP); the new worker count is applied at once. */
  reloadConfig?: () => ZeoConfig | Promise<ZeoConfig>;
  /** Bound on finishing in-flight requests at shutdown (default: requestTimeoutMs, at most 30 s). */
  shutdownTimeoutMs?: number;
}

/** `zeo proxy`: runs until SIGTERM/SIGINT, then resolves with the exit code (0 after a clean stop). */
export async function runProxyMain(config: ZeoConfig, options: RunProxyOptions = {}): Promise<number> {
  const log = options.log ?? processLogger('router');
  const site = await startSite(config, { ...options, log });
  const onHangup = () => {
    if (!options.reloadConfig) {
      log.warn('SIGHUP ignored: no config file to re-read');
      return;
    }
    Promise.resolve()
      .then(() => options.reloadConfig!())
      .then((fresh) => {
        log.info('SIGHUP: config re-read', { workers: workerCount(fresh) });
        return site.pool.applyConfig(fresh, workerCount(fresh));
      })
      .catch((error: unknown) => log.error('SIGHUP: config not applied', { error: error instanceof Error ? error.message : String(error) }));
  };
  process.on('SIGHUP', onHangup);
  const signal = await waitForStopSignal();
  process.off('SIGHUP', onHangup);
  log.info('stopping', { signal });
  await site.close(options.shutdownTimeoutMs ?? Math.min(config.router.requestTimeoutMs, 30_000));
  return 0;
}
