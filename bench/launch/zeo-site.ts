// Starting zeo itself for a bench step, the way a user does: a config file written into a
// temporary folder (a fresh FileStorage, its own ports on 127.0.0.1, the bench catalogue as the
// app module), then the `zeo` command: `zeo start` for the site (storage server, router, worker
// threads), or `zeo storage-server` plus `zeo appserver` processes for the baselines that put
// the cluster module or nginx where the router would be. The folder is removed on close.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ZeoConfig } from '../../config/schema.js';
import { PRODUCTS_ENV } from '../apps/catalogue-data.js';
import { FAULTS_ENV } from '../apps/faults.js';
import { type AppLauncher, zeoAppServerLauncher } from '../baselines/app-spec.js';
import { childPids } from '../cpu-usage.js';
import type { RunningTarget } from '../targets.js';
import { type ChildHandle, freePort, spawnEntry, waitForTcp } from './processes.js';

const ZEO_BIN = new URL('../../bin/zeo.js', import.meta.url);
export const CATALOGUE_MODULE = fileURLToPath(new URL('../apps/catalogue.js', import.meta.url));

export interface ZeoLaunchOptions {
  /** The user's config (file, env and defaults merged); the bench overrides only what it must. */
  baseConfig: ZeoConfig;
  workers: number;
  productCount: number;
  isFaultable: boolean;
  isVerbose?: boolean;
  startTimeoutMs?: number;
  /** Every zeo process (and worker thread) writes a V8 CPU profile here when it exits. */
  cpuProfileDir?: string | null;
}

/**
 * The child environment: the bench's own minus ZEO_* config variables and REDIS_URL (already
 * merged into baseConfig; left in, they would override the written file), plus the bench's
 * catalogue settings.
 */
export function zeoChildEnv(options: Pick<ZeoLaunchOptions, 'productCount' | 'isFaultable'>,
  env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if ((name.startsWith('ZEO_') && !name.startsWith('ZEO_BENCH_')) || name === 'REDIS_URL') continue;
    clean[name] = value;
  }
  clean[PRODUCTS_ENV] = String(options.productCount);
  if (options.isFaultable) clean[FAULTS_ENV] = '1';
  else delete clean[FAULTS_ENV];
  return clean;
}

/** The bench's config for one step: the user's, on fresh storage and free loopback ports. */
export async function benchConfig(base: ZeoConfig, workers: number, folder: string): Promise<ZeoConfig> {
  const config = structuredClone(base);
  const storagePort = await freePort();
  config.storage = { ...config.storage, kind: 'file', path: join(folder, 'Data.fs') };
  config.storageServer.listen = { host: '127.0.0.1', port: storagePort };
  config.client.servers = [`127.0.0.1:${storagePort}`];
  config.client.readOnlyFallback = [];
  config.client.diskCacheDir = join(folder, 'cache');
  config.app.module = CATALOGUE_MODULE;
  config.workers.count = workers;
  config.router.listen = { host: '127.0.0.1', port: await freePort() };
  config.router.remotes = [];
  config.appserver.listen = { host: '127.0.0.1', port: await freePort() };
  config.admin = { host: '127.0.0.1', port: await freePort() };
  return config;
}

/** Node flags for zeo processes: V8 CPU profiling when asked (worker threads inherit them). */
export function zeoExecArgv(cpuProfileDir: string | null | undefined): string[] {
  return cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : [];
}

interface PreparedSite {
  folder: string;
  configFile: string;
  config: ZeoConfig;
  env: NodeJS.ProcessEnv;
  execArgv: string[];
  cleanUp(): Promise<void>;
}

async function prepare(options: ZeoLaunchOptions): Promise<PreparedSite> {
  const folder = await mkdtemp(join(tmpdir(), 'zeo-bench-'));
  const config = await benchConfig(options.baseConfig, options.workers, folder);
  const configFile = join(folder, 'zeo.config.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  return { folder, configFile, config, env: zeoChildEnv(options), execArgv: zeoExecArgv(options.cpuProfileDir),
    cleanUp: () => rm(folder, { recursive: true, force: true }) };
}

function zeo(name: string, args: string[], site: PreparedSite, isVerbose?: boolean): ChildHandle {
  return spawnEntry(name, ZEO_BIN, { args, baseEnv: site.env, execArgv: site.execArgv, isVerbose });
}

/** `zeo start`: the storage server, the router and its worker threads. */
export async function startSiteTarget(options: ZeoLaunchOptions): Promise<RunningTarget> {
  const site = await prepare(options);
  const child = zeo(`zeo start (${options.workers} workers)`, ['start', '--config', site.configFile], site, options.isVerbose);
  const { router, admin } = site.config;
  const url = `http://127.0.0.1:${router.listen.port}`;
  try {
    await child.waitUntilServing(`${url}/api/products/1`, options.startTimeoutMs ?? 90_000);
  } catch (error) {
    await child.stop(10_000);
    await site.cleanUp();
    throw error;
  }
  return {
    url,
    adminUrl: `http://127.0.0.1:${admin.port}`,
    workerExits: () => 0,
    // Router and worker threads are one process; its children are the storage server.
    cpuScope: () => ({ pids: [child.pid], routerPids: [child.pid], storagePids: childPids(child.pid) }),
    close: async () => {
      await child.stop(15_000);
      await site.cleanUp();
    },
  };
}

/**
 * `zeo storage-server` on the step's fresh storage, and a launcher for `zeo appserver`
 * processes that use it (for the cluster and nginx baselines). `wrap` starts the app tier.
 */
export async function startWithStorageServer(options: ZeoLaunchOptions,
  wrap: (launcher: AppLauncher) => Promise<RunningTarget>): Promise<RunningTarget> {
  const site = await prepare(options);
  const storage = zeo('zeo storage-server', ['storage-server', '--config', site.configFile], site, options.isVerbose);
  const stopAll = async () => {
    await storage.stop(10_000);
    await site.cleanUp();
  };
  let target: RunningTarget;
  try {
    const { host, port } = site.config.storageServer.listen;
    await storage.whileRunning(waitForTcp(host, port, options.startTimeoutMs ?? 30_000), `it listened on ${port}`);
    target = await wrap(zeoAppServerLauncher(site.configFile, site.env, site.execArgv));
  } catch (error) {
    await stopAll();
    throw error;
  }
  return {
    ...target,
    cpuScope: async () => ({ ...(await target.cpuScope?.()) ?? { pids: [] }, storagePids: [storage.pid] }),
    close: async () => {
      await target.close();
      await stopAll();
    },
  };
}
