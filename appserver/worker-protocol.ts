// The messages between the router (proxy/) and an app-server worker thread (appserver/worker.ts),
// carried on the worker's MessagePort. One request is one `request` message and one `response`
// message with the same id; request and response bodies are ArrayBuffers moved with the
// transfer list, never copied. Control messages: `ping`/`pong` (health), `drain`/`stopped`
// (graceful stop), `ready`/`fatal` (start-up) and `log` (the worker's log lines, written by the
// main thread's logger).

/** A header list, not a map: repeated headers (set-cookie) stay separate. */
export type HeaderPairs = Array<[string, string]>;

export interface RequestMessage {
  type: 'request';
  id: number;
  method: string;
  /** Absolute URL as the client asked for it (scheme and host from the proxy's view). */
  url: string;
  headers: HeaderPairs;
  /** Null for an empty body. Transferred. */
  body: ArrayBuffer | null;
}

export interface ResponseMessage {
  type: 'response';
  id: number;
  status: number;
  headers: HeaderPairs;
  /** Null for an empty body. Transferred. */
  body: ArrayBuffer | null;
}

export interface PingMessage {
  type: 'ping';
  id: number;
}

/** What a worker says about itself in every pong (and the stand-alone health endpoint). */
export interface WorkerHealth {
  workerId: number;
  /** Event-loop delay since the previous report, in milliseconds. */
  eventLoopDelayMeanMs: number;
  eventLoopDelayMaxMs: number;
  heapUsedBytes: number;
  /** False when the worker's storage connection is down (a ClientStorage that lost its server). */
  isStorageConnected: boolean;
  inFlight: number;
  served: number;
  /** Requests answered with a status >= 500 or thrown, since start. */
  errors: number;
  /** Requests that hit ConflictError at least once / gave up after every retry. */
  conflicts: number;
  conflictsExhausted: number;
  /** Requests that waited to catch up with a TID their client had already seen. */
  catchUps: number;
  /** Hit rates in 0..1 of the storage client's caches, when it has any. */
  cacheHitRates: Record<string, number>;
  /** How far the client's lastTid is behind the server's last TID, in commit time; null if unknown. */
  storageLagMs: number | null;
  lastTid: string | null;
}

export interface PongMessage {
  type: 'pong';
  id: number;
  health: WorkerHealth;
}

/** Stop taking requests, finish the ones in flight, close the storage, then exit. */
export interface DrainMessage {
  type: 'drain';
}

export type RouterToWorker = RequestMessage | PingMessage | DrainMessage;

export interface ReadyMessage {
  type: 'ready';
  workerId: number;
}

export interface FatalMessage {
  type: 'fatal';
  message: string;
}

export interface LogMessage {
  type: 'log';
  level: 'info' | 'warn' | 'error';
  message: string;
  fields?: Record<string, unknown>;
}

export interface StoppedMessage {
  type: 'stopped';
}

export type WorkerToRouter = ResponseMessage | PongMessage | ReadyMessage | FatalMessage | LogMessage | StoppedMessage;

/** What the router hands a new worker thread as workerData. */
export interface WorkerStartData {
  workerId: number;
  /** The site config (plain JSON; a fully-defaulted ZeoConfig). */
  config: unknown;
  /** File path or URL of the site's app module. */
  appModule: string;
  /**
   * File path or URL of a module whose default export is a StorageFactory; null = a
   * ClientStorage to the configured storage server(s).
   */
  storageFactory: string | null;
}
