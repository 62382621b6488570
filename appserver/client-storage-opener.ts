// Opens the ClientStorage one app server uses, from the site config: the storage server list
// (or the local storage server), key, caches (memory and an on-disk file per worker), Redis.

import type { ZeoConfig } from '../config/schema.js';
import type { Storage } from '../storage/contract.js';

export async function openClientStorage(config: ZeoConfig, workerId: number): Promise<Storage> {
  void config;
  void workerId;
  throw new Error('ClientStorage (storage/client) is not available yet');
}
