// The public API of zeo-ts. Layers export from here; nothing else is public.

export * from './errors.js';
export * from './storage/contract.js';
export { nextTid, tidToDate, tidFromDate, toHex, fromHex } from './storage/tid.js';
export { MemoryStorage, type MemoryStorageOptions } from './storage/memory/storage.js';
export {
  FileStorage,
  type FileStorageOptions,
  type FileStorageStats,
  type FileOpenInfo,
} from './storage/file/storage.js';
export { InvalidationQueue, type InvalidationQueueOptions } from './storage/server/invalidation-queue.js';
export {
  ClientCache,
  ENTRY_OVERHEAD_BYTES,
  type ClientCacheOptions,
  type RevisionCache,
  type RevisionCacheStats,
} from './storage/client/cache/memory-cache.js';
export { DiskCache, MIN_DISK_CACHE_BYTES, type DiskCacheOptions } from './storage/client/cache/disk-cache.js';
export { CacheStack } from './storage/client/cache/stack.js';
export { DEFAULTS, type ZeoConfig, type ListenAddress } from './config/schema.js';
export {
  loadConfig,
  loadConfigWithSource,
  resolveWorkerCount,
  type LoadConfigOptions,
  type ZeoConfigInput,
} from './config/load.js';
export { DB, type DBOptions, type DBStats, type TransactionOptions } from './storage/objects/db.js';
export { Transaction, type TransactionStatus } from './storage/objects/transaction.js';
export { Persistent, type PersistentClass } from './storage/objects/persistent.js';
export { PersistentMap } from './storage/objects/persistent-map.js';
export { PersistentList } from './storage/objects/persistent-list.js';
export { BTree, type BTreeOptions, type BTreeRange } from './storage/objects/btree.js';
export { Counter } from './storage/objects/counter.js';
export { Placeholder } from './storage/objects/placeholder.js';
export { ObjectRef } from './storage/objects/serializer.js';
export {
  StorageServer,
  startStorageServer,
  type StorageServerOptions,
} from './storage/server/storage-server.js';
export { runStorageServerMain, type StorageServerMainOptions } from './storage/server/main.js';
export type { ServerStats, StorageStats } from './storage/protocol/messages.js';
export {
  ClientStorage,
  type ClientStorageOptions,
  type ClientStorageStats,
  type CacheResetListener,
} from './storage/client/storage.js';
export { RedisInvalidationPublisher, type RedisInvalidationPublisherOptions } from './storage/redis/publisher.js';
export { RedisInvalidationSubscriber, type RedisInvalidationSubscriberOptions } from './storage/redis/subscriber.js';
export { invalidationChannel } from './storage/redis/messages.js';
export type { AppContext, AppModule } from './appserver/app-module.js';
export type { StorageFactory, StorageFactoryContext } from './appserver/site-runtime.js';
export { startAppServer, runAppServerMain, type AppServer, type AppServerOptions } from './appserver/standalone.js';
export {
  startSite,
  runProxyMain,
  type Site,
  type StartSiteOptions,
  type RunProxyOptions,
} from './proxy/site.js';
export {
  createLogger,
  configureProcessLog,
  hex,
  processLogger,
  silentLogger,
  type Logger,
  type LogFields,
  type LogSettings,
  type LogTarget,
} from './log.js';
export { CompressedStorage, type CompressedStorageOptions } from './storage/compressed/storage.js';
export { PostgresStorage, openPostgresStorage, type PostgresStorageOptions } from './storage/postgres/storage.js';
export { launchSite, runStartMain, type LaunchedSite, type LaunchOptions } from './proxy/launch.js';
export { configJsonSchema } from './config/json-schema.js';
