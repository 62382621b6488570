// ClientStorage against the shared Storage conformance suite, through a real storage server
// (in this process, for speed): once with invalidations pushed on the connection, once with
// invalidations through Redis (127.0.0.1:6379, a random channel prefix per run).
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { MemoryStorage } from '../../../storage/memory/storage.js';
import { startStorageServer } from '../../../storage/server/storage-server.js';
import { ClientStorage } from '../../../storage/client/storage.js';
import { storageConformance, type StorageUnderTest } from '../conformance.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

async function clientStorage(redis: { url: string; prefix: string } | null, isReadOnly = false): Promise<StorageUnderTest> {
  const backend = new MemoryStorage();
  if (isReadOnly) {
    await backend.commit({ stores: [{ oid: 0n, baseTid: 0n, data: new Uint8Array([1]), refs: [] }] });
  }
  const server = await startStorageServer({ storages: { main: backend }, redis, log: () => undefined });
  const storage = await ClientStorage.open({
    servers: [`127.0.0.1:${server.address.port}`],
    redis,
    isReadOnly,
    log: () => undefined,
  });
  return { storage, cleanup: () => server.close() };
}

storageConformance(t, 'ClientStorage (push)', () => clientStorage(null), {
  readOnlyFactory: () => clientStorage(null, true),
});

const redis = { url: REDIS_URL, prefix: `zeo-test-${randomBytes(6).toString('hex')}:` };
storageConformance(t, 'ClientStorage (redis)', () => clientStorage(redis), { committers: 4, commitsPerCommitter: 15 });
