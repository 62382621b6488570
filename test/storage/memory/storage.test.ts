import t from 'tap';
import { ZERO_TID } from '../../../storage/contract.js';
import { MemoryStorage } from '../../../storage/memory/storage.js';
import { storageConformance } from '../conformance.js';

storageConformance(t, 'MemoryStorage', async () => ({ storage: new MemoryStorage() }), {
  readOnlyFactory: async () => ({ storage: new MemoryStorage({ isReadOnly: true }) }),
});

t.test('MemoryStorage.open is the constructor, with a name for logs', async (t) => {
  const storage = await MemoryStorage.open({ name: 'scratch' });
  t.teardown(() => storage.close());
  t.equal(storage.name, 'scratch');
  t.equal(new MemoryStorage().name, 'memory', 'a default name');
  t.equal(await storage.lastTransaction(), ZERO_TID);
});

t.test('close waits for a voted transaction to finish', async (t) => {
  const storage = new MemoryStorage();
  const [oid] = await storage.newOids(1);
  const txn = await storage.tpcBegin();
  txn.store(oid!, ZERO_TID, new Uint8Array([1]), []);
  await txn.vote();
  let isClosed = false;
  const closing = storage.close().then(() => (isClosed = true));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(isClosed, false, 'close holds back while the commit lock is held');
  const { tid } = await txn.finish();
  await closing;
  t.ok(tid > ZERO_TID, 'the voted transaction committed');
  await t.rejects(storage.load(oid!), { code: 'ZEO_CLOSED' });
});
