// Opens the ClientStorage one app server uses, from the site config: the storage server list
// (or the local storage server when none is listed), key, TLS, caches (memory, plus an on-disk
// file per worker when diskCacheDir is set) and Redis for invalidations.

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ZeoConfig } from '../config/schema.js';
import type { LogTarget } from '../log.js';
import { ClientStorage } from '../storage/client/storage.js';

export async function openClientStorage(config: ZeoConfig, workerId: number, log: LogTarget): Promise<ClientStorage> {
  const { client, storageServer, storage, redis } = config;
  const servers = client.servers.length > 0 ? client.servers : [`${storageServer.listen.host}:${storageServer.listen.port}`];
  let diskCachePath: string | null = null;
  if (client.diskCacheDir) {
    const folder = resolve(client.diskCacheDir);
    mkdirSync(folder, { recursive: true });
    // One file per worker: a disk cache file is locked by the one client using it.
    diskCachePath = join(folder, `${storage.name}-worker-${workerId}.zcache`);
  }
  return ClientStorage.open({
    servers,
    storage: storage.name,
    key: client.key,
    isReadOnly: client.isReadOnly,
    readOnlyFallback: client.readOnlyFallback,
    tls: client.tls,
    cacheBytes: client.cacheBytes,
    diskCachePath,
    diskCacheBytes: client.diskCacheBytes,
    redis: redis.url ? { url: redis.url, prefix: redis.prefix } : null,
    unavailableTimeoutMs: client.unavailableTimeoutMs,
    log,
  });
}
