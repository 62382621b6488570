// The `zeo storage-server` entry: opens the storage the config names (FileStorage, PostgreSQL or
// MemoryStorage, compressed when asked), serves it, logs one line with the address and the
// invalidation mode, and on SIGTERM/SIGINT lets the commit in progress finish, closes the
// storage and exits 0.

import type { ZeoConfig } from '../../config/schema.js';
import { hex, processLogger, toLogger, type Logger, type LogTarget } from '../../log.js';
import type { Storage } from '../contract.js';
import { CompressedStorage } from '../compressed/storage.js';
import { FileStorage } from '../file/storage.js';
import { MemoryStorage } from '../memory/storage.js';
import { openPostgresStorage } from '../postgres/storage.js';
import { redactRedisUrl } from '../redis/connection.js';
import { invalidationChannel } from '../redis/messages.js';
import { startStorageServer, type StorageServer } from './storage-server.js';

export interface StorageServerMainOptions {
  /** Where the server and its storage log (default: the process logger). */
  log?: LogTarget;
  /** Install SIGTERM/SIGINT handlers that close and exit (default true). */
  handleSignals?: boolean;
}

/**
 * The storage of `config.storage`, wrapped in CompressedStorage when compressAboveBytes > 0. Its
 * warnings (a torn tail cut, a lost PostgreSQL connection) go to `log`.
 */
export async function openConfiguredStorage(config: ZeoConfig, log: Logger = processLogger('storage')): Promise<Storage> {
  const { kind, path, name, compressAboveBytes } = config.storage;
  const storage: Storage =
    kind === 'memory'
      ? new MemoryStorage({ name })
      : kind === 'postgres'
        ? await openPostgresStorage({ ...config.storage, log })
        : await FileStorage.open(path, { log });
  return compressAboveBytes > 0 ? new CompressedStorage(storage, { compressAboveBytes }) : storage;
}

/** What the log line says is served: the file, "memory", or the PostgreSQL schema. */
function describeStorage(config: ZeoConfig): string {
  const { kind, path, postgresSchema } = config.storage;
  if (kind === 'file') return path;
  return kind === 'postgres' ? `postgresql schema ${postgresSchema}` : 'memory';
}

export async function runStorageServerMain(config: ZeoConfig, options: StorageServerMainOptions = {}): Promise<StorageServer> {
  const log = toLogger(options.log, 'storage-server');
  const settings = config.storageServer;
  const storage = await openConfiguredStorage(config, options.log === undefined ? processLogger('storage') : log);
  let server: StorageServer;
  try {
    server = await startStorageServer({
      storages: { [config.storage.name]: storage },
      listen: settings.listen,
      key: settings.key,
      readOnlyKeys: settings.readOnlyKeys,
      allow: settings.allow,
      readOnlyAllow: settings.readOnlyAllow,
      tls: settings.tls,
      commitLockTimeoutMs: settings.commitLockTimeoutMs,
      invalidationQueue: settings.invalidationQueue,
      maxFrameBytes: settings.maxFrameBytes,
      redis: config.redis.url ? { url: config.redis.url, prefix: config.redis.prefix } : null,
      closeStorages: true,
      log,
    });
  } catch (error) {
    await storage.close();
    throw error;
  }
  const { host, port } = server.address;
  const shown = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const channel = config.redis.url ? invalidationChannel(config.redis.prefix, config.storage.name) : null;
  const lastTid = await storage.lastTransaction();
  log.info(
    `serving ${JSON.stringify(config.storage.name)} (${describeStorage(config)}) on ${settings.tls ? 'tls' : 'tcp'}://${shown}, ` +
      `last TID ${hex(lastTid)}, invalidations ${channel ? `via redis ${redactRedisUrl(config.redis.url!)} on channel ${channel}` : 'pushed on client connections'}`,
    { storage: config.storage.name, address: `${shown}`, lastTid, invalidations: channel ? 'redis' : 'push', ...(channel ? { channel } : {}) },
  );
  if (options.handleSignals ?? true) {
    const stop = (signal: string) => {
      log.info(`${signal}: finishing commits in progress and closing`, { signal });
      server.close().then(
        () => process.exit(0),
        (error) => {
          log.error(`error while closing: ${String(error)}`);
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  }
  return server;
}
