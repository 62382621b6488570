// The object layer over ClientStorage: two DBs, each on its own ClientStorage to one server, move
// money between Persistent accounts concurrently (conflicts retried by db.transaction); every
// read transaction, in either DB, sees the same total. The DB cannot tell it is on a network.
import t from 'tap';
import { DB, Persistent, PersistentMap } from '../../../index.js';
import { MemoryStorage } from '../../../storage/memory/storage.js';
import { startStorageServer } from '../../../storage/server/storage-server.js';
import { ClientStorage } from '../../../storage/client/storage.js';

class Account extends Persistent {
  balance = 0;
}

const ACCOUNTS = 6;

t.test('two DBs over two ClientStorages: concurrent transfers keep every snapshot consistent', async (t) => {
  const server = await startStorageServer({ storages: { main: new MemoryStorage() }, log: () => undefined });
  t.teardown(() => server.close());
  const servers = [`127.0.0.1:${server.address.port}`];
  const storages = await Promise.all([0, 1].map(() => ClientStorage.open({ servers, log: () => undefined })));
  t.teardown(() => Promise.all(storages.map((s) => s.close())));
  const dbs = await Promise.all(storages.map((s) => DB.open(s, { classes: [Account] })));

  await dbs[0]!.transaction(async (tx) => {
    const root = await tx.root();
    const accounts = new PersistentMap<number, Account>();
    for (let i = 0; i < ACCOUNTS; i++) accounts.set(i, Object.assign(new Account(), { balance: 100 }));
    root.set('accounts', accounts);
  });
  await storages[1]!.sync(await storages[0]!.lastTransaction());

  const badTotals: number[] = [];
  let transfers = 0;
  const work = dbs.map(async (db) => {
    for (let i = 0; i < 40; i++) {
      const from = Math.floor(Math.random() * ACCOUNTS);
      const to = (from + 1 + Math.floor(Math.random() * (ACCOUNTS - 1))) % ACCOUNTS;
      await db.transaction(async (tx) => {
        const accounts = (await (await tx.root()).get('accounts')) as PersistentMap<number, Account>;
        const [a, b] = [(await accounts.get(from))!, (await accounts.get(to))!];
        a.balance -= 3;
        b.balance += 3;
      }, { attempts: 50 });
      transfers++;
      const total = await db.read(async (tx) => {
        const accounts = (await (await tx.root()).get('accounts')) as PersistentMap<number, Account>;
        let sum = 0;
        for (let k = 0; k < ACCOUNTS; k++) sum += (await accounts.get(k))!.balance;
        return sum;
      });
      if (total !== ACCOUNTS * 100) badTotals.push(total);
    }
  });
  await Promise.all(work);
  t.equal(transfers, 80);
  t.same(badTotals, [], 'every read transaction saw the same total');
});
