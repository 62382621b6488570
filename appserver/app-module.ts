// The contract between zeo-ts and a site's code: the app module. A site is an ES module whose
// default export is an AppModule — a fetch-style handler (a Hono app fits as it is), optional
// persistent classes and an optional setup hook. The app server (appserver/worker.ts) imports it
// in every worker thread, opens a DB over the worker's own storage, and runs each request in its
// own transaction, handing the handler an AppContext.
//
// The object-layer types (DB, Transaction, PersistentMap, PersistentClass) are described here
// structurally, by the members the app server and a site rely on, so this file stays the one
// place a site reads to learn the contract; the object layer's classes satisfy them.

/** A persistent mapping (the root object is one): keys to values, loaded lazily. */
export interface PersistentMap<K, V> {
  get(key: K): Promise<V | undefined>;
  set(key: K, value: V): void;
  has(key: K): boolean | Promise<boolean>;
  delete(key: K): boolean | void;
}

/** A class of persistent objects, registered with the DB so records decode to it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type PersistentClass = abstract new (...args: any[]) => object;

/** The request's transaction (object layer): reads see one snapshot; writes commit together. */
export interface Transaction {
  root(): Promise<PersistentMap<string, unknown>>;
  /** Loads the state of a persistent object reached by reference. */
  load<T extends object>(object: T): Promise<T>;
}

/** The object database over one storage (object layer). */
export interface DB {
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: { attempts?: number }): Promise<T>;
}

/** What a handler gets with each request. */
export interface AppContext {
  /** The transaction's root object. */
  root(): Promise<PersistentMap<string, unknown>>;
  /** The request's transaction (tx.load(obj), ...). The app server commits or aborts it. */
  tx: Transaction;
  /** This request must not commit, even if it changed objects (a GET that touched state). */
  readOnly(): void;
  /** Which worker runs the request (1, 2, ...), for logs and tests. */
  workerId: number;
}

/** The default export of a site's app module. */
export interface AppModule {
  /**
   * Answers one request. A response below 500 commits the transaction if something changed
   * (and readOnly() was not called); 500 and above, or a thrown error, aborts it. A
   * ConflictError (thrown here or at commit) runs the request again, up to
   * config.workers.conflictRetries times, then answers 503.
   */
  fetch(request: Request, ctx: AppContext): Response | Promise<Response>;
  /** Persistent classes the site stores, registered with the DB. */
  classes?: PersistentClass[];
  /** Once per worker after the DB opens; must be idempotent (creates initial data if missing). */
  setup?(db: DB): Promise<void>;
}
