// The public API of zeo-ts. Layers export from here; nothing else is public.

export * from './errors.js';
export * from './storage/contract.js';
export { nextTid, tidToDate, tidFromDate, toHex, fromHex } from './storage/tid.js';
export { MemoryStorage, type MemoryStorageOptions } from './storage/memory-storage.js';
export { InvalidationQueue, type InvalidationQueueOptions } from './storage/invalidation-queue.js';
export {
  ClientCache,
  ENTRY_OVERHEAD_BYTES,
  type ClientCacheOptions,
  type RevisionCache,
  type RevisionCacheStats,
} from './storage/client-cache.js';
export { DEFAULTS, type ZeoConfig, type ListenAddress } from './config/schema.js';
export {
  loadConfig,
  loadConfigWithSource,
  resolveWorkerCount,
  type LoadConfigOptions,
  type ZeoConfigInput,
} from './config/load.js';
