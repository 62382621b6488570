// The config shape as data: one descriptor per key of ZeoConfig, with its type, its allowed range
// and a one-line description. validate.ts checks a config against it, env.ts parses ZEO_*
// variables by it, json-schema.ts turns it into config/schema.json for editors. The mapped
// `Fields<T>` type makes the compiler insist that every key of ZeoConfig has a descriptor and
// that no descriptor names a key ZeoConfig lacks.

import type { ListenAddress, ZeoConfig } from './schema.js';

export type Field =
  | { type: 'string'; doc: string; isNonEmpty?: boolean; format?: 'redisUrl' }
  | { type: 'integer'; doc: string; min: number; max?: number }
  | { type: 'number'; doc: string; min: number; max?: number }
  | { type: 'boolean'; doc: string }
  | { type: 'enum'; doc: string; values: readonly string[] }
  /** A positive integer or "auto". */
  | { type: 'workerCount'; doc: string }
  | { type: 'array'; doc: string; items: 'cidr' | 'hostPort' | 'httpUrl' | 'string' }
  | { type: 'nullable'; doc: string; of: Field }
  | ObjectField;

export interface ObjectField {
  type: 'object';
  doc: string;
  fields: Record<string, Field>;
}

type Fields<T> = { [K in keyof T]-?: Field };
const object = <T>(doc: string, fields: Fields<T>): ObjectField => ({ type: 'object', doc, fields });

const listen = (doc: string): ObjectField =>
  object<ListenAddress>(doc, {
    host: { type: 'string', isNonEmpty: true, doc: 'Address to listen on ("127.0.0.1", "0.0.0.0", "::").' },
    port: { type: 'integer', min: 0, max: 65535, doc: 'TCP port; 0 picks a free port.' },
  });

const ms = (doc: string, min = 1): Field => ({ type: 'integer', min, doc });
const bytes = (doc: string): Field => ({ type: 'integer', min: 0, doc });
const count = (doc: string, min = 0): Field => ({ type: 'integer', min, doc });

export const CONFIG_FIELDS: ObjectField = object<ZeoConfig>('A zeo-ts site configuration.', {
  storage: object<ZeoConfig['storage']>('The database the storage server serves.', {
    name: { type: 'string', isNonEmpty: true, doc: 'Name clients ask for; also the Redis channel suffix.' },
    kind: { type: 'enum', values: ['file', 'memory', 'postgres'], doc: 'Storage engine.' },
    path: { type: 'string', isNonEmpty: true, doc: 'FileStorage path (kind "file"), relative to the working directory.' },
    compressAboveBytes: bytes('Compress record data above this many bytes; 0 turns compression off.'),
    postgresUrl: {
      type: 'nullable',
      of: { type: 'string', isNonEmpty: true, doc: '' },
      doc: 'postgres://user@host:port/database (kind "postgres"); several storage servers may share one database.',
    },
    postgresSchema: { type: 'string', isNonEmpty: true, doc: 'PostgreSQL schema holding the tables (kind "postgres"); created if missing.' },
  }),
  storageServer: object<ZeoConfig['storageServer']>('The storage server (zeo storage-server).', {
    listen: listen('Where the storage server listens.'),
    key: { type: 'nullable', of: { type: 'string', isNonEmpty: true, doc: '' }, doc: 'Shared secret proven by challenge-response; null = no key required.' },
    allow: { type: 'array', items: 'cidr', doc: 'CIDR allow list; empty = any address.' },
    readOnlyAllow: { type: 'array', items: 'cidr', doc: 'Addresses (CIDR) that may only read.' },
    readOnlyKeys: { type: 'array', items: 'string', doc: 'Keys that grant read-only access.' },
    tls: {
      type: 'nullable',
      doc: 'TLS certificate and key files (PEM); null = plain TCP.',
      of: object<{ cert: string; key: string }>('', {
        cert: { type: 'string', isNonEmpty: true, doc: 'Certificate file (PEM).' },
        key: { type: 'string', isNonEmpty: true, doc: 'Private key file (PEM).' },
      }),
    },
    commitLockTimeoutMs: ms('A client that voted and went quiet loses the commit lock after this long.'),
    invalidationQueue: object<ZeoConfig['storageServer']['invalidationQueue']>(
      'Recent invalidations kept for clients that missed some.',
      {
        maxCount: count('Invalidations kept at most.', 1),
        maxAgeMs: ms('Invalidations older than this are dropped.'),
      },
    ),
    maxFrameBytes: { type: 'integer', min: 1024, doc: 'Largest protocol frame accepted; a bigger one closes the connection.' },
  }),
  client: object<ZeoConfig['client']>('How app servers reach the storage server (ClientStorage).', {
    servers: { type: 'array', items: 'hostPort', doc: '"host:port" list tried in order; empty = the local storageServer.listen.' },
    readOnlyFallback: { type: 'array', items: 'hostPort', doc: 'Read-only servers to fall back to when no read-write server answers.' },
    key: { type: 'nullable', of: { type: 'string', isNonEmpty: true, doc: '' }, doc: 'Shared secret for the storage server; null = none.' },
    isReadOnly: { type: 'boolean', doc: 'Open the storage read-only.' },
    tls: {
      type: 'nullable',
      doc: 'Connect with TLS; null = plain TCP.',
      of: object<{ ca: string | null }>('', {
        ca: { type: 'nullable', of: { type: 'string', isNonEmpty: true, doc: '' }, doc: 'CA file (PEM) to trust; null = the system CAs.' },
      }),
    },
    cacheBytes: bytes('In-memory cache bound per worker.'),
    diskCacheDir: { type: 'nullable', of: { type: 'string', isNonEmpty: true, doc: '' }, doc: 'On-disk cache folder (one file per worker); null = no disk cache.' },
    diskCacheBytes: bytes('On-disk cache bound per worker.'),
    unavailableTimeoutMs: ms('While disconnected, calls wait this long before failing.'),
  }),
  redis: object<ZeoConfig['redis']>('Invalidation fan-out over Redis pub/sub.', {
    url: { type: 'nullable', of: { type: 'string', isNonEmpty: true, format: 'redisUrl', doc: '' }, doc: 'redis://host:port; null = invalidations pushed over the storage connection.' },
    prefix: { type: 'string', doc: 'Channel prefix: channel = prefix + "invalidations:" + storage name ("zeo:invalidations:main").' },
  }),
  app: object<ZeoConfig['app']>('The site application.', {
    module: { type: 'nullable', of: { type: 'string', isNonEmpty: true, doc: '' }, doc: "Path of the site's app module; null = the bundled demo site." },
  }),
  workers: object<ZeoConfig['workers']>('The app-server worker threads.', {
    count: { type: 'workerCount', doc: 'Number of worker threads; "auto" = number of CPU cores.' },
    memoryLimitMb: count('Heap limit per worker; a worker over it is recycled.', 16),
    conflictRetries: count('A request that hits ConflictError is run again this many times.'),
    syncTimeoutMs: ms('How long a request with a newer TID waits for the worker to catch up.'),
    objectCacheSize: count('Per-connection object cache size (objects).'),
    connectionPoolSize: count(
      'Idle DB connections a worker keeps, each with its warm object cache; set it near the concurrent requests a worker sees, or busy workers keep opening cold connections.',
      1,
    ),
  }),
  router: object<ZeoConfig['router']>('The front router (zeo start / zeo proxy).', {
    listen: listen('Where the router listens.'),
    balancing: { type: 'enum', values: ['round-robin', 'least-busy'], doc: 'How requests are spread over workers.' },
    retries: count('Extra tries for an idempotent request whose worker failed.'),
    requestTimeoutMs: ms('A request not answered in this long gets 504.'),
    bodyLimitBytes: bytes('Largest request body accepted.'),
    remotes: { type: 'array', items: 'httpUrl', doc: 'Remote app servers (http://host:port) balanced next to the local workers.' },
    health: object<ZeoConfig['router']['health']>('Worker health checks.', {
      pingIntervalMs: ms('How often each worker is pinged.'),
      pingTimeoutMs: ms('A ping not answered in this long counts as a failure.'),
      rise: count('Consecutive good checks before a worker takes traffic again.', 1),
      fall: count('Consecutive failed checks before a worker is skipped.', 1),
      maxErrorRate: { type: 'number', min: 0, max: 1, doc: 'Error ratio (0..1) above which a worker is unhealthy.' },
      hangTimeoutMs: ms('A worker unresponsive this long is terminated and replaced.'),
    }),
  }),
  appserver: object<ZeoConfig['appserver']>('Stand-alone app server (zeo appserver).', {
    listen: listen('Where the stand-alone app server listens.'),
  }),
  admin: listen('The admin endpoint (/_zeo: scale, reload, status). Keep it on loopback.'),
  log: object<ZeoConfig['log']>('What every part of the site logs, on stderr.', {
    format: { type: 'enum', values: ['auto', 'json', 'pretty'], doc: '"auto": pretty lines on a terminal, JSON lines otherwise.' },
    level: { type: 'enum', values: ['info', 'warn', 'error'], doc: 'Entries below this level are dropped.' },
  }),
});
