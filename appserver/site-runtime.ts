// Everything one app server holds: the site's app module, its own storage (a ClientStorage to
// the storage server, or what a storage factory gives, for tests and embedded use), a DB over
// it, and the request runner. Both the worker thread (appserver/worker.ts) and the stand-alone
// HTTP app server (appserver/standalone.ts) start one of these.

import { pathToFileURL } from 'node:url';
import type { ZeoConfig } from '../config/schema.js';
import type { Storage } from '../storage/contract.js';
import type { AppModule } from './app-module.js';
import { openDatabase } from './db-transactions.js';
import { HealthSampler, type ObservableStorage } from './health-sampler.js';
import { RequestRunner, type LogFunction, type TransactionSource } from './request-runner.js';
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

/** A path, or a URL as is: dynamic import needs URLs for absolute Windows paths and wants them everywhere. */
export function moduleUrl(pathOrUrl: string): string {
  return /^[a-z][a-z0-9+.-]*:/i.test(pathOrUrl) && !/^[a-z]:[\\/]/i.test(pathOrUrl)
    ? pathOrUrl
    : pathToFileURL(pathOrUrl).href;
}

export class SiteRuntime {
  readonly runner: RequestRunner;
  readonly storage: Storage | null;
  private readonly sampler: HealthSampler;

  private constructor(runner: RequestRunner, storage: Storage | null, workerId: number) {
    this.runner = runner;
    this.storage = storage;
    this.sampler = new HealthSampler(workerId);
  }

  static async start(options: SiteRuntimeOptions): Promise<SiteRuntime> {
    const { config, workerId, log } = options;
    const app = await loadAppModule(options.appModule);
    const storage = await openStorage(options);
    let transactions: TransactionSource | null = null;
    try {
      if (storage) {
        const database = await openDatabase(storage, app, config);
        transactions = database.transactions;
      }
    } catch (error) {
      await storage?.close().catch(() => {});
      throw error;
    }
    const runner = new RequestRunner({
      app,
      transactions,
      storage: storage as (Storage & { lastTid?: bigint; sync?(tid: bigint): Promise<unknown> }) | null,
      workerId,
      conflictRetries: config.workers.conflictRetries,
      syncTimeoutMs: config.workers.syncTimeoutMs,
      log,
    });
    return new SiteRuntime(runner, storage, workerId);
  }

  health(): WorkerHealth {
    return this.sampler.sample(this.runner.stats, this.storage as ObservableStorage | null);
  }

  /** Waits for in-flight requests (bounded), then closes the storage. */
  async close(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.runner.stats.inFlight > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    this.sampler.close();
    await this.storage?.close();
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
  const { config, workerId, storageFactory } = options;
  if (storageFactory) {
    const imported = (await import(moduleUrl(storageFactory))) as { default?: unknown };
    if (typeof imported.default !== 'function') {
      throw new TypeError(`storage factory ${storageFactory} has no default export function`);
    }
    return (imported.default as StorageFactory)({ config, workerId });
  }
  const { openClientStorage } = await import('./client-storage-opener.js');
  return openClientStorage(config, workerId);
}
