// The bridge from the object layer's DB to the request runner: opens a DB over the app server's
// storage with the site's classes, runs the site's setup once, and begins one transaction per
// request at the storage's current snapshot (db.begin reads storage.lastTransaction()).

import type { ZeoConfig } from '../config/schema.js';
import type { Storage } from '../storage/contract.js';
import { DB } from '../storage/objects/db.js';
import type { AppModule } from './app-module.js';
import type { RequestTransaction, TransactionSource } from './request-runner.js';

export interface OpenedDatabase {
  db: DB;
  transactions: TransactionSource;
}

/** What a storage client may offer to catch up with its server (ClientStorage does). */
interface CatchingUp {
  sync?(tid: bigint, timeoutMs?: number): Promise<void>;
  serverStats?(): Promise<{ storages: Record<string, { lastTid: bigint } | undefined> }>;
}

export async function openDatabase(storage: Storage, app: AppModule, config: ZeoConfig): Promise<OpenedDatabase> {
  const db = await DB.open(storage, {
    classes: app.classes ?? [],
    cacheSize: config.workers.objectCacheSize,
    poolSize: config.workers.connectionPoolSize,
  });
  try {
    await catchUpWithServer(storage as Storage & CatchingUp, config);
    // Every worker runs setup; it must be idempotent, and its transactions retry on conflict.
    if (app.setup) await app.setup(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  const transactions: TransactionSource = {
    async begin(): Promise<RequestTransaction> {
      const tx = await db.begin();
      return {
        tx,
        root: () => tx.root(),
        hasChanges: () => tx.hasChanges(),
        // commit() returns null only when nothing changed, which the runner checks first.
        commit: async () => (await tx.commit()) ?? db.lastTid,
        abort: () => tx.abort(),
      };
    },
  };
  return { db, transactions };
}

/**
 * A client whose invalidations lag (Redis, a busy server) could start serving from a snapshot
 * older than what other workers already committed, even older than the root object another
 * worker just created: a new worker first catches up with the server's last TID.
 */
async function catchUpWithServer(storage: Storage & CatchingUp, config: ZeoConfig): Promise<void> {
  if (!storage.sync || !storage.serverStats) return;
  const serverTid = (await storage.serverStats()).storages[config.storage.name]?.lastTid;
  if (serverTid !== undefined && serverTid > (await storage.lastTransaction())) {
    await storage.sync(serverTid, config.workers.syncTimeoutMs);
  }
}
