// `zeo start`: the whole site on one machine from one config.
//   1. the storage server, as a child process (proxy/storage-child.ts), restarted if it dies;
//   2. once it listens: the app-server worker pool, the router and the admin endpoint
//      (startSite, proxy/site.ts), every worker a ClientStorage of that storage server;
//   3. a few log lines: where the data lives, how invalidations travel, the URL to open.
// SIGHUP re-reads the config and resizes the pool. SIGTERM/SIGINT stop the router and the pool
// first (in-flight requests finish, bounded), then the storage server (SIGTERM, then SIGKILL
// after a bound), and resolve with exit code 0: nothing is left running.
// With no config at all this serves the bundled demo shop from ./var/Data.fs.

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ListenAddress, ZeoConfig } from '../config/schema.js';
import { processLogger, type LogFields, type Logger } from '../log.js';
import { redactRedisUrl } from '../storage/redis/connection.js';
import { invalidationChannel } from '../storage/redis/messages.js';
import { resolveWorkerCount } from '../config/load.js';
import { startSite, waitForStopSignal, type Site } from './site.js';
import { StorageServerChild } from './storage-child.js';

export interface LaunchOptions {
  log?: Logger;
  /** The config file the site came from, for the log (null: defaults and environment only). */
  configFile?: string | null;
  /** Re-reads the config (SIGHUP); the new worker count is applied at once. */
  reloadConfig?: () => ZeoConfig | Promise<ZeoConfig>;
  /** Bound on finishing in-flight requests at shutdown (default: requestTimeoutMs, at most 30 s). */
  shutdownTimeoutMs?: number;
}

export interface LaunchedSite {
  site: Site;
  storageServer: StorageServerChild;
  /** Resolves with a reason if the site cannot go on (its MemoryStorage server died). */
  lost: Promise<string>;
  /** Stops router and pool, then the storage server. Safe to call twice. */
  close(timeoutMs?: number): Promise<void>;
}

/** host:port as a client dials it: a wildcard listen address is reached over loopback. */
function dialable({ host, port }: ListenAddress): string {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return reachable.includes(':') ? `[${reachable}]:${port}` : `${reachable}:${port}`;
}

/** Folders the storage file and the workers' disk caches go in, made before anything opens them. */
function makeDataFolders(config: ZeoConfig): void {
  if (config.storage.kind === 'file') mkdirSync(dirname(resolve(config.storage.path)), { recursive: true });
  if (config.client.diskCacheDir !== null) mkdirSync(resolve(config.client.diskCacheDir), { recursive: true });
}

/** Workers dial the storage server that actually listens (its port may have been 0 in the config). */
export function withStorageAddress(config: ZeoConfig, address: ListenAddress): ZeoConfig {
  return config.client.servers.length > 0 ? config : { ...config, client: { ...config.client, servers: [dialable(address)] } };
}

/** Starts storage server, pool, router and admin; resolves once the site answers. */
export async function launchSite(config: ZeoConfig, options: LaunchOptions = {}): Promise<LaunchedSite> {
  const log = options.log ?? processLogger('site');
  makeDataFolders(config);
  let onLost: (reason: string) => void = () => {};
  const lost = new Promise<string>((resolve) => (onLost = resolve));
  const storageServer = new StorageServerChild({ config, log, onLost: (reason) => onLost(reason) });
  const address = await storageServer.start();
  let site: Site;
  try {
    site = await startSite(withStorageAddress(config, address), { log });
  } catch (error) {
    await storageServer.stop();
    throw error;
  }
  let closing: Promise<void> | null = null;
  const close = (timeoutMs?: number) => {
    closing ??= (async () => {
      try {
        await site.close(timeoutMs);
      } finally {
        await storageServer.stop();
      }
    })();
    return closing;
  };
  return { site, storageServer, lost, close };
}

/** What the site is made of, one log entry each: config, storage, invalidations, workers, URLs. */
function describeSite(config: ZeoConfig, launched: LaunchedSite, configFile: string | null | undefined): Array<[string, LogFields]> {
  const storage = config.storage.kind === 'file'
    ? `FileStorage ${resolve(config.storage.path)}`
    : config.storage.kind === 'postgres' ? `PostgreSQL schema ${config.storage.postgresSchema}` : 'MemoryStorage (nothing is kept on disk)';
  const channel = config.redis.url ? invalidationChannel(config.redis.prefix, config.storage.name) : null;
  const invalidations = config.redis.url
    ? `Redis pub/sub at ${redactRedisUrl(config.redis.url)} (channel ${channel})`
    : 'pushed over each storage connection (no Redis configured)';
  const app = config.app.module ?? 'the bundled demo shop';
  const { url, adminUrl } = launched.site;
  return [
    [`config ${configFile ?? '(none: defaults and environment)'}`, { configFile: configFile ?? null }],
    [`storage ${storage}, served on ${dialable(launched.storageServer.address!)} (pid ${launched.storageServer.pid})`,
      { storagePid: launched.storageServer.pid }],
    [`invalidations ${invalidations}`, channel ? { invalidations: 'redis', channel } : { invalidations: 'push' }],
    [`${launched.site.pool.workers.length} workers running ${app}, balancing ${config.router.balancing}`,
      { workers: launched.site.pool.workers.length, app }],
    [`site ready at ${url} (admin on ${adminUrl})`, { url, adminUrl }],
  ];
}

/** `zeo start`: runs until SIGTERM/SIGINT, then resolves with the exit code (0 after a clean stop). */
export async function runStartMain(config: ZeoConfig, options: LaunchOptions = {}): Promise<number> {
  const log = options.log ?? processLogger('site');
  // Listen for a stop from the very beginning: a SIGTERM during startup must still stop cleanly.
  const stopSignal = waitForStopSignal();
  let signalled: NodeJS.Signals | null = null;
  void stopSignal.then((signal) => (signalled = signal));
  let launched: LaunchedSite | null = null;
  // SIGHUP re-reads the config and resizes the pool (installed early: its default is to exit).
  const onHangup = () => {
    const running = launched;
    if (!running) return log.warn('SIGHUP ignored: the site is still starting');
    if (!options.reloadConfig) return log.warn('SIGHUP ignored: no config to re-read');
    Promise.resolve()
      .then(() => options.reloadConfig!())
      .then((fresh) => {
        log.info('SIGHUP: config re-read', { workers: resolveWorkerCount(fresh) });
        const applied = withStorageAddress(fresh, running.storageServer.address!);
        return running.site.pool.applyConfig(applied, resolveWorkerCount(applied));
      })
      .catch((error: unknown) => log.error('SIGHUP: config not applied', { error: error instanceof Error ? error.message : String(error) }));
  };
  process.on('SIGHUP', onHangup);
  try {
    launched = await launchSite(config, { ...options, log });
  } catch (error) {
    process.off('SIGHUP', onHangup);
    throw error;
  }
  for (const [message, fields] of describeSite(config, launched, options.configFile)) log.info(message, fields);

  const reason = signalled ?? (await Promise.race([stopSignal, launched.lost.then((lost) => ({ lost }))]));
  process.off('SIGHUP', onHangup);
  const isLost = typeof reason === 'object';
  if (isLost) log.error('stopping: the site cannot go on', { reason: reason.lost });
  else log.info('stopping', { signal: reason });
  await launched.close(options.shutdownTimeoutMs ?? Math.min(config.router.requestTimeoutMs, 30_000));
  log.info('stopped');
  if (isLost) log.error(`${reason.lost}; use storage.kind "file" for data that outlives a crash`);
  return isLost ? 1 : 0;
}
