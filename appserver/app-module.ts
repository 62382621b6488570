// The contract between zeo-ts and a site's code: the app module. A site is an ES module whose
// default export is an AppModule — a fetch-style handler (a Hono app fits as it is), optional
// persistent classes and an optional setup hook. The app server (appserver/worker.ts) imports it
// in every worker thread, opens a DB over the worker's own storage, and runs each request in its
// own transaction, handing the handler an AppContext.
//
// The object-layer types a site meets (DB, Transaction, PersistentMap, PersistentClass) are
// re-exported here, so this file is the one place a site reads to learn the contract.

import type { DB } from '../storage/objects/db.js';
import type { PersistentClass } from '../storage/objects/persistent.js';
import type { PersistentMap } from '../storage/objects/persistent-map.js';
import type { Transaction } from '../storage/objects/transaction.js';

export type { DB, PersistentClass, PersistentMap, Transaction };

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
