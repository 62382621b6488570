// The `zeo storage-server` entry: opens the storage the config names (FileStorage, PostgreSQL or
// MemoryStorage, compressed when asked), serves it, logs one line with the address and the
// invalidation mode, and on SIGTERM/SIGINT lets the commit in progress finish, closes the
// storage and exits 0.

import type { ZeoConfig } from '../../config/schema.js';
import type { Storage } from '../contract.js';
import { CompressedStorage } from '../compressed/storage.js';
import { FileStorage } from '../file/storage.js';
import { MemoryStorage } from '../memory/storage.js';
import { openPostgresStorage } from '../postgres/storage.js';
import { redactRedisUrl } from '../redis/connection.js';
import { startStorageServer, type StorageServer } from './storage-server.js';

export interface StorageServerMainOptions {
  log?: (message: string) => void;
  /** Install SIGTERM/SIGINT handlers that close and exit (default true). */
  handleSignals?: boolean;
}

/** The storage of `config.storage`, wrapped in CompressedStorage when compressAboveBytes > 0. */
export async function openConfiguredStorage(config: ZeoConfig): Promise<Storage> {
  const { kind, path, name, compressAboveBytes } = config.storage;
  const storage: Storage =
    kind === 'memory'
      ? new MemoryStorage({ name })
      : kind === 'postgres'
        ? await openPostgresStorage(config.storage)
        : await FileStorage.open(path);
  return compressAboveBytes > 0 ? new CompressedStorage(storage, { compressAboveBytes }) : storage;
}

/** What the log line says is served: the file, "memory", or the PostgreSQL schema. */
function describeStorage(config: ZeoConfig): string {
  const { kind, path, postgresSchema } = config.storage;
  if (kind === 'file') return path;
  return kind === 'postgres' ? `postgresql schema ${postgresSchema}` : 'memory';
}

export async function runStorageServerMain(config: ZeoConfig, options: StorageServerMainOptions = {}): Promise<StorageServer> {
  const log = options.log ?? ((message: string) => console.error(message));
  const settings = config.storageServer;
  const storage = await openConfiguredStorage(config);
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
  log(
    `storage server: serving ${JSON.stringify(config.storage.name)} (${describeStorage(config)}) ` +
      `on ${settings.tls ? 'tls' : 'tcp'}://${shown}, invalidations ${server.invalidationMode === 'redis' ? `via redis ${redactRedisUrl(config.redis.url!)}` : 'pushed on client connections'}`,
  );
  if (options.handleSignals ?? true) {
    const stop = (signal: string) => {
      log(`storage server: ${signal}: finishing commits in progress and closing`);
      server.close().then(
        () => process.exit(0),
        (error) => {
          log(`storage server: error while closing: ${String(error)}`);
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  }
  return server;
}
