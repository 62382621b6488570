// The bridge from the object layer's DB to the request runner: opens a DB over the app server's
// storage with the site's classes, runs the site's setup once, and begins one transaction per
// request at the storage's current snapshot.

import type { ZeoConfig } from '../config/schema.js';
import type { Storage } from '../storage/contract.js';
import type { AppModule } from './app-module.js';
import type { TransactionSource } from './request-runner.js';

export interface OpenedDatabase {
  transactions: TransactionSource;
  close(): Promise<void>;
}

export async function openDatabase(storage: Storage, app: AppModule, config: ZeoConfig): Promise<OpenedDatabase> {
  void storage;
  void app;
  void config;
  throw new Error('the object layer (storage/objects) is not available yet');
}
