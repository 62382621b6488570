// The shape of a zeo-ts site config and its defaults. A config file (JSON) holds any subset of
// this; config/load.ts merges it over DEFAULTS, applies ZEO_* / REDIS_URL environment overrides,
// validates everything once (ConfigError names the key) and hands out a fully-defaulted
// ZeoConfig that inner code trusts. config/schema.json is the same shape for editors.

export interface ListenAddress {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
}

export interface ZeoConfig {
  /** The database the storage server serves (zeo start / zeo storage-server). */
  storage: {
    /** Name clients ask for; also the Redis channel suffix. */
    name: string;
    kind: 'file' | 'memory' | 'postgres';
    /** FileStorage path (kind "file"). */
    path: string;
    /** Compress record data above this many bytes; 0 turns compression off. */
    compressAboveBytes: number;
    /** postgres://user@host:port/database (kind "postgres"); several storage servers may share it. */
    postgresUrl: string | null;
    /** PostgreSQL schema holding the tables (kind "postgres"); created if missing. */
    postgresSchema: string;
  };
  storageServer: {
    listen: ListenAddress;
    /** Shared secret proven by challenge-response; null = no key required. */
    key: string | null;
    /** CIDR allow list ("127.0.0.1/32", "10.0.0.0/8", "::1/128"); empty = any address. */
    allow: string[];
    /** Addresses (CIDR) that may only read. */
    readOnlyAllow: string[];
    /** Keys that grant read-only access (in addition to `key`, which grants read-write). */
    readOnlyKeys: string[];
    tls: { cert: string; key: string } | null;
    /** A client that voted and went quiet loses the commit lock after this long. */
    commitLockTimeoutMs: number;
    invalidationQueue: { maxCount: number; maxAgeMs: number };
    maxFrameBytes: number;
  };
  /** How app servers reach the storage server (ClientStorage). */
  client: {
    /** "host:port" list tried in order (failover); empty = the local storageServer.listen. */
    servers: string[];
    /** A read-only server to fall back to when no read-write server answers. */
    readOnlyFallback: string[];
    key: string | null;
    isReadOnly: boolean;
    tls: { ca: string | null } | null;
    /** In-memory cache bound per worker. */
    cacheBytes: number;
    /** On-disk cache folder (one file per worker); null = no disk cache. */
    diskCacheDir: string | null;
    diskCacheBytes: number;
    /** While disconnected, calls wait this long before failing with "storage server unavailable". */
    unavailableTimeoutMs: number;
  };
  redis: {
    /** redis://host:port; null = invalidations pushed over the storage connection. */
    url: string | null;
    /** Channel prefix: channel = prefix + "invalidations:" + storage name ("zeo:invalidations:main"). */
    prefix: string;
  };
  app: {
    /** Path of the site's app module; null = the bundled demo site. */
    module: string | null;
  };
  workers: {
    /** Number of app-server worker threads; "auto" = number of CPU cores. */
    count: number | 'auto';
    /** Heap limit per worker; a worker over it is recycled. */
    memoryLimitMb: number;
    /** A request that hits ConflictError is run again this many times before 503. */
    conflictRetries: number;
    /** How long a request with a newer TID waits for the worker to catch up. */
    syncTimeoutMs: number;
    /** Per-connection object cache size (objects). */
    objectCacheSize: number;
    /**
     * Idle DB connections a worker keeps, each with its warm object cache. Set it near the
     * concurrent requests a worker sees: a connection released while the pool is full is
     * dropped, and the next one starts with a cold cache.
     */
    connectionPoolSize: number;
  };
  router: {
    listen: ListenAddress;
    balancing: 'round-robin' | 'least-busy';
    /** Extra tries for an idempotent request whose worker failed. */
    retries: number;
    /** A request not answered in this long gets 504 (and the worker is suspected). */
    requestTimeoutMs: number;
    bodyLimitBytes: number;
    /** Remote app servers (http://host:port) balanced next to the local workers. */
    remotes: string[];
    health: {
      pingIntervalMs: number;
      /** A ping not answered in this long counts as a failure (a blocked event loop). */
      pingTimeoutMs: number;
      /** Consecutive good checks before a worker takes traffic again. */
      rise: number;
      /** Consecutive failed checks before a worker is skipped. */
      fall: number;
      /** Error ratio (0..1) over the recent window above which a worker is unhealthy. */
      maxErrorRate: number;
      /** A worker unresponsive this long is terminated and replaced. */
      hangTimeoutMs: number;
    };
  };
  /** Stand-alone app server (zeo appserver): its HTTP listener. */
  appserver: { listen: ListenAddress };
  admin: ListenAddress;
  /** What every part of the site logs, on stderr. */
  log: {
    /** "auto": pretty lines on a terminal, JSON lines otherwise. */
    format: 'auto' | 'json' | 'pretty';
    /** Entries below this level are dropped. */
    level: 'info' | 'warn' | 'error';
  };
}

export const DEFAULTS: ZeoConfig = {
  storage: { name: 'main', kind: 'file', path: 'var/Data.fs', compressAboveBytes: 0, postgresUrl: null, postgresSchema: 'zeo' },
  storageServer: {
    listen: { host: '127.0.0.1', port: 8100 },
    key: null,
    allow: [],
    readOnlyAllow: [],
    readOnlyKeys: [],
    tls: null,
    commitLockTimeoutMs: 30_000,
    invalidationQueue: { maxCount: 10_000, maxAgeMs: 3_600_000 },
    maxFrameBytes: 64 * 1024 * 1024,
  },
  client: {
    servers: [],
    readOnlyFallback: [],
    key: null,
    isReadOnly: false,
    tls: null,
    cacheBytes: 64 * 1024 * 1024,
    diskCacheDir: 'var/cache',
    diskCacheBytes: 256 * 1024 * 1024,
    unavailableTimeoutMs: 10_000,
  },
  redis: { url: null, prefix: 'zeo:' },
  app: { module: null },
  workers: {
    count: 'auto',
    memoryLimitMb: 512,
    conflictRetries: 3,
    syncTimeoutMs: 5_000,
    objectCacheSize: 10_000,
    connectionPoolSize: 32,
  },
  router: {
    listen: { host: '127.0.0.1', port: 8080 },
    balancing: 'least-busy',
    retries: 2,
    requestTimeoutMs: 30_000,
    bodyLimitBytes: 1024 * 1024,
    remotes: [],
    health: {
      pingIntervalMs: 250,
      pingTimeoutMs: 500,
      rise: 2,
      fall: 2,
      maxErrorRate: 0.5,
      hangTimeoutMs: 3_000,
    },
  },
  appserver: { listen: { host: '127.0.0.1', port: 8081 } },
  admin: { host: '127.0.0.1', port: 8090 },
  log: { format: 'auto', level: 'info' },
};
