import t from 'tap';
import { MemoryStorage } from '../../../storage/memory-storage.js';
import { startStorageServer } from '../../../storage/server/storage-server.js';
import { ClientStorage } from '../../../storage/client/client-storage.js';
import type { Invalidation } from '../../../storage/contract.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

t.test('a commit by one client is seen by another, pushed over the connection', async (t) => {
  const server = await startStorageServer({ storages: { main: new MemoryStorage() }, log: () => undefined });
  t.teardown(() => server.close());
  const address = `${server.address.host}:${server.address.port}`;
  const a = await ClientStorage.open({ servers: [address], log: () => undefined });
  const b = await ClientStorage.open({ servers: [address], log: () => undefined });
  t.teardown(() => Promise.all([a.close(), b.close()]));

  const seen: Invalidation[] = [];
  b.onInvalidation((i) => seen.push(i));
  const [oid] = await a.newOids();
  const first = await a.commit({ stores: [{ oid: oid!, baseTid: 0n, data: bytes('one'), refs: [] }] });
  t.equal(await a.lastTransaction(), first.tid, 'the committer is current at once');
  await b.sync(first.tid);
  t.equal(text((await b.load(oid!)).data), 'one');
  const second = await a.commit({ stores: [{ oid: oid!, baseTid: first.tid, data: bytes('two'), refs: [] }] });
  await b.sync(second.tid);
  t.equal(text((await b.load(oid!)).data), 'two', 'the cached revision was invalidated');
  const old = await b.loadBefore(oid!, second.tid);
  t.equal(text(old!.data), 'one');
  t.equal(old!.end, second.tid);
  t.same(seen.map((i) => i.tid), [first.tid, second.tid], 'listeners see every commit in order');
  const stats = await b.serverStats();
  t.equal(stats.storages.main!.commits, 2);
  t.equal(stats.connections, 2);
});
