// Everything one app server holds: the site's app module, its own storage (a ClientStorage to
// the storage server, or what a storage factory gives, for tests and embedded use), a DB over
// it, the request runner and a health probe. Both the worker thread (appserver/worker.ts) and
// the stand-alone HTTP app server (appserver/standalone.ts) start one of these.

import { resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ZeoConfig } from '../config/schema.js';
import type { Storage } from '../storage/contract.js';
import type { DB } from '../storage/objects/db.js';
import type { AppModule } from './app-module.js';
import { openDatabase } from './db-transactions.js';
import { HealthSampler, type StorageProbe } from './health-sampler.js';
import { RequestRunner, type CatchUpStorage, type LogFunction, type TransactionSource } from './request-runner.js';
import type { WorkerHealth } from './worker-protocol.js';

export interface StorageFactoryContext {
  config: ZeoConfig;
  workerId: number;
}

/**
 * The default export of a storage-factory module: opens the storage one app server uses.
 * Null = no database at all (a site that keeps no state). Worker threads cannot receive
 * functions, so factories travel as module paths.
 */
export type StorageFactory = (context: StorageFactoryContext) => Promise<Storage | null>;

export interface SiteRuntimeOptions {
  config: ZeoConfig;
  workerId: number;
  /** Path or URL of the app module (default export: AppModule). */
  appModule: string;
  /** Path or URL of a storage-factory module; null = ClientStorage to config.client.servers. */
  storageFactory: string | null;
  log: LogFunction;
}

/** Members a storage client may offer beyond the Storage contract (ClientStorage does). */
interface ClientLike {
  sync?(tid: bigint, timeoutMs?: number): Promise<void>;
  stats?(): { lastTid?: bigint; isConnected?: boolean; cache?: unknown };
  serverStats?(): Promise<{ storages: Record<string, { lastTid: bigint }> }>;
}

/** How often the storage server's last TID is asked for (for the storage-lag figure). */
const SERVER_TID_REFRESH_MS = 1_000;

/** The bundled demo site (appserver/demo), served when config.app.module is null. */
const DEMO_APP = fileURLToPath(new URL('./demo/app.js', import.meta.url));

/** The site's app module from the config: a path (relative to the working folder) or a URL. */
export function appModulePath(config: ZeoConfig): string {
  const module = config.app.module;
  if (module === null) return DEMO_APP;
  return /^[a-z][a-z0-9+.-]+:/i.test(module) ? module : resolvePath(module);
}

/** A path, or a URL as is; dynamic import wants URLs. */
export function moduleUrl(pathOrUrl: string): string {
  return /^[a-z][a-z0-9+.-]+:/i.test(pathOrUrl) ? pathOrUrl : pathToFileURL(pathOrUrl).href;
}

export class SiteRuntime {
  readonly runner: RequestRunner;
  readonly storage: Storage | null;
  readonly db: DB | null;
  private readonly sampler: HealthSampler;
  private readonly probe: StorageProbe | null;
  private serverTimer: NodeJS.Timeout | null = null;
  private serverLastTid: bigint | null = null;

  private constructor(runner: RequestRunner, storage: Storage | null, db: DB | null, options: SiteRuntimeOptions) {
    this.runner = runner;
    this.storage = storage;
    this.db = db;
    this.sampler = new HealthSampler(options.workerId);
    this.probe = storage ? this.makeProbe(storage as Storage & ClientLike, db, options.config.storage.name) : null;
  }

  static async start(options: SiteRuntimeOptions): Promise<SiteRuntime> {
    const { config, workerId, log } = options;
    const app = await loadAppModule(options.appModule);
    const storage = await openStorage(options);
    let transactions: TransactionSource | null = null;
    let db: DB | null = null;
    try {
      if (storage) ({ db, transactions } = await openDatabase(storage, app, config));
    } catch (error) {
      await storage?.close().catch(() => {});
      throw error;
    }
    const runner = new RequestRunner({
      app,
      transactions,
      storage: storage as (Storage & CatchUpStorage) | null,
      workerId,
      conflictRetries: config.workers.conflictRetries,
      syncTimeoutMs: config.workers.syncTimeoutMs,
      log,
    });
    return new SiteRuntime(runner, storage, db, options);
  }

  health(): WorkerHealth {
    return this.sampler.sample(this.runner.stats, this.probe);
  }

  /** Waits for in-flight requests (bounded), then closes the DB and the storage. */
  async close(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.runner.stats.inFlight > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (this.serverTimer) clearInterval(this.serverTimer);
    this.sampler.close();
    await this.db?.close();
    await this.storage?.close();
  }

  private makeProbe(storage: Storage & ClientLike, db: DB | null, storageName: string): StorageProbe {
    if (storage.serverStats) {
      const refresh = () => {
        storage.serverStats!().then(
          (stats) => (this.serverLastTid = stats.storages[storageName]?.lastTid ?? null),
          () => {}, // down: isConnected says so
        );
      };
      refresh();
      this.serverTimer = setInterval(refresh, SERVER_TID_REFRESH_MS);
      this.serverTimer.unref();
    }
    return {
      lastTid: () => storage.stats?.().lastTid ?? db?.lastTid ?? null,
      serverLastTid: () => this.serverLastTid,
      isConnected: () => storage.stats?.().isConnected ?? true,
      cacheStats: () => ({ storage: storage.stats?.().cache, objects: db?.stats() }),
    };
  }
}

async function loadAppModule(pathOrUrl: string): Promise<AppModule> {
  const imported = (await import(moduleUrl(pathOrUrl))) as { default?: unknown };
  const app = imported.default as AppModule | undefined;
  if (!app || typeof app.fetch !== 'function') {
    throw new TypeError(
      `app module ${pathOrUrl} has no default export with a fetch(request, ctx) method; ` +
        'export default { fetch } (a Hono app works as it is)',
    );
  }
  return app;
}

async function openStorage(options: SiteRuntimeOptions): Promise<Storage | null> {
  const { config, workerId, storageFactory, log } = options;
  if (storageFactory) {
    const imported = (await import(moduleUrl(storageFactory))) as { default?: unknown };
    if (typeof imported.default !== 'function') {
      throw new TypeError(`storage factory ${storageFactory} has no default export function`);
    }
    return (imported.default as StorageFactory)({ config, workerId });
  }
  const { openClientStorage } = await import('./client-storage-opener.js');
  return openClientStorage(config, workerId, {
    info: (message, fields) => log('info', message, fields),
    warn: (message, fields) => log('warn', message, fields),
    error: (message, fields) => log('error', message, fields),
  });
}
