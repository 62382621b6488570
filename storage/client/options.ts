// The options of ClientStorage, checked once where they enter (ClientStorage.open) and turned
// into a fully-defaulted object the rest of storage/client/ trusts; and the choice of cache
// (memory, or the disk cache with its fallback policy).

import { InvalidArgumentError } from '../../errors.js';
import { toLogger, type LogTarget } from '../../log.js';
import { ClientCache, type RevisionCache } from './cache/memory-cache.js';
import { CacheStack } from './cache/stack.js';
import { DiskCache } from './cache/disk-cache.js';
import { parseServerAddress } from './connection.js';

export interface ClientStorageOptions {
  /** "host:port" of the storage servers, tried in order. */
  servers: string[];
  /** Name of the storage on the server. Default "main". */
  storage?: string;
  key?: string | null;
  isReadOnly?: boolean;
  /** Read-only servers to use when no server in `servers` answers. */
  readOnlyFallback?: string[];
  /** TLS to the server; `ca` = PEM text or path of a private CA. */
  tls?: { ca: string | null } | null;
  /** In-memory cache bound. Default 64 MiB. */
  cacheBytes?: number;
  /** A ready-made cache (tests, or a disk-backed stack); overrides cacheBytes and diskCachePath. */
  cache?: RevisionCache;
  /** Persistent cache file (one per process); survives restarts, verified on connect. */
  diskCachePath?: string | null;
  /** Bound of the disk cache file. Default 256 MiB. */
  diskCacheBytes?: number;
  /** Invalidations from Redis instead of the storage connection. */
  redis?: { url: string; prefix: string } | null;
  /** How long a call waits for a server before UnavailableError. Default 10 s. */
  unavailableTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** While the Redis link is down the server pushes; this poll of it is the backstop. Default 1 s. */
  redisPollIntervalMs?: number;
  /** Where the client and its disk cache log (default: the process logger, "storage-client"). */
  log?: LogTarget;
}

/** Fully-defaulted options, checked once at the edge. */
export function checkOptions(options: ClientStorageOptions) {
  if (!options || !Array.isArray(options.servers) || options.servers.length === 0) {
    throw new InvalidArgumentError('servers', 'list at least one "host:port"');
  }
  const positive = (name: string, value: number | undefined, fallback: number) => {
    const v = value ?? fallback;
    if (!Number.isFinite(v) || v < 0) throw new InvalidArgumentError(name, `expected a number >= 0, got ${String(v)}`);
    return v;
  };
  return {
    servers: options.servers.map(parseServerAddress),
    readOnlyFallback: (options.readOnlyFallback ?? []).map(parseServerAddress),
    storage: options.storage ?? 'main',
    key: options.key ?? null,
    isReadOnly: options.isReadOnly ?? false,
    tls: options.tls ?? null,
    cache: options.cache ?? null,
    cacheBytes: positive('cacheBytes', options.cacheBytes, 64 * 1024 * 1024),
    diskCachePath: options.diskCachePath ?? null,
    diskCacheBytes: positive('diskCacheBytes', options.diskCacheBytes, 256 * 1024 * 1024),
    redis: options.redis ?? null,
    unavailableTimeoutMs: positive('unavailableTimeoutMs', options.unavailableTimeoutMs, 10_000),
    connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs, 5_000),
    redisPollIntervalMs: positive('redisPollIntervalMs', options.redisPollIntervalMs, 1_000),
    log: toLogger(options.log, 'storage-client'),
  };
}

/**
 * The cache to read through: the one given, the disk cache when a path is set, else memory.
 * A disk cache that cannot be used (locked by another process, unwritable folder) is not fatal:
 * the client runs on the memory cache and says why. (A damaged file is discarded by DiskCache
 * itself, with a warning; whatever it keeps is verified against the server on connect.)
 */
export async function openCache(options: CheckedOptions): Promise<RevisionCache> {
  if (options.cache) return options.cache;
  const memory = new ClientCache({ maxBytes: options.cacheBytes });
  if (!options.diskCachePath) return memory;
  try {
    return new CacheStack(memory, await DiskCache.open(options.diskCachePath, { maxBytes: options.diskCacheBytes, log: options.log }));
  } catch (error) {
    options.log.warn(`disk cache ${options.diskCachePath} unusable (${(error as Error).message}); using memory only`, { file: options.diskCachePath });
    return memory;
  }
}


export type CheckedOptions = ReturnType<typeof checkOptions>;
