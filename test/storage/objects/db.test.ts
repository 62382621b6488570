import { testOnEachStorage } from './storages.js';
import {
  BTree,
  ConflictError,
  DB,
  NotLoadedError,
  Persistent,
  PersistentList,
  PersistentMap,
  ReadOnlyError,
} from '../../../index.js';

class Account extends Persistent {
  owner = '';
  balance = 0;
  tags: string[] = [];
}

class Owner extends Persistent {
  name = '';
  account: Account | undefined = undefined;
}

testOnEachStorage('the README example: a BTree of accounts written, then summed in a read', async (t, newStorage) => {
  const storage = await newStorage();
  const db = await DB.open(storage, { classes: [Account] });
  const result = await db.transaction(async (tx) => {
    const root = await tx.root();
    const accounts = new BTree<string, Account>();
    root.set('accounts', accounts);
    accounts.set('alice', Object.assign(new Account(), { owner: 'alice', balance: 100 }));
    accounts.set('bob', Object.assign(new Account(), { owner: 'bob', balance: 50 }));
    return 'done';
  });
  t.equal(result, 'done', 'transaction returns the value of fn');
  const db2 = await DB.open(storage, { classes: [Account] });
  const total = await db2.read(async (tx) => {
    const accounts = (await (await tx.root()).get('accounts')) as BTree<string, Account>;
    let sum = 0;
    for await (const [, a] of accounts.entries()) sum += a.balance;
    return sum;
  });
  t.equal(total, 150, 'a new DB over the same storage sees the committed accounts');
  await db.close();
  await db2.close();
});

testOnEachStorage('snapshot isolation: a reader begun before a commit keeps seeing the old state', async (t, newStorage) => {
  const db = await DB.open(await newStorage(), { classes: [Account] });
  await db.transaction(async (tx) => {
    (await tx.root()).set('a', Object.assign(new Account(), { balance: 1 }));
  });
  const reader = await db.begin({ isReadOnly: true });
  const before = (await (await reader.root()).get('a')) as Account;
  t.equal(before.balance, 1);
  await db.transaction(async (tx) => {
    const a = (await (await tx.root()).get('a')) as Account;
    a.balance = 2;
    (await tx.root()).set('b', new Account());
  });
  t.equal(before.balance, 1, 'the object already loaded keeps its snapshot state');
  const root = await reader.root();
  t.equal(root.has('b'), false, 'the root in the old snapshot has no b');
  t.equal(((await root.get('a')) as Account).balance, 1);
  await reader.abort();
  const after = await db.read(async (tx) => ((await (await tx.root()).get('a')) as Account).balance);
  t.equal(after, 2, 'a new transaction sees the commit');
  await db.close();
});

testOnEachStorage('snapshot isolation for objects not loaded before the commit', async (t, newStorage) => {
  const db = await DB.open(await newStorage(), { classes: [Account] });
  await db.transaction(async (tx) => {
    (await tx.root()).set('a', Object.assign(new Account(), { balance: 1 }));
  });
  // A second DB has an empty cache: `a` is loaded from the storage after the commit.
  const readerDb = await DB.open(db.storage, { classes: [Account] });
  const reader = await readerDb.begin();
  const root = await reader.root();
  await db.transaction(async (tx) => {
    ((await (await tx.root()).get('a')) as Account).balance = 5;
  });
  t.equal(((await root.get('a')) as Account).balance, 1, 'loaded after the commit, at the old snapshot');
  await reader.abort();
  t.equal(await readerDb.read(async (tx) => ((await (await tx.root()).get('a')) as Account).balance), 5);
  await db.close();
  await readerDb.close();
});

testOnEachStorage('tx.commit returns the new TID; begin/commit/abort by hand', async (t, newStorage) => {
  const storage = await newStorage();
  const db = await DB.open(storage);
  const tx = await db.begin();
  (await tx.root()).set('x', 1);
  t.equal(tx.hasChanges(), true);
  const tid = await tx.commit();
  t.equal(tid, await storage.lastTransaction());
  t.equal(tx.lastCommitTid, tid);
  t.equal(db.lastTid, tid);
  t.equal(tx.status, 'committed');
  await t.rejects(tx.root(), { code: 'ZEO_TRANSACTION_STATE' }, 'an ended transaction refuses work');
  const aborted = await db.begin();
  (await aborted.root()).set('x', 2);
  await aborted.abort();
  t.equal(await db.read(async (r) => (await r.root()).get('x')), 1, 'abort drops the change');
  const empty = await db.begin();
  t.equal(await empty.commit(), null, 'nothing changed: nothing committed');
  await db.close();
});

testOnEachStorage('conflicts: db.transaction retries, and after the last attempt the ConflictError reaches the caller', async (t, newStorage) => {
  const db = await DB.open(await newStorage(), { classes: [Account] });
  await db.transaction(async (tx) => {
    (await tx.root()).set('a', new Account());
  });
  let runs = 0;
  await db.transaction(
    async (tx) => {
      runs++;
      const a = (await (await tx.root()).get('a')) as Account;
      if (runs === 1) {
        // Another transaction commits meanwhile: this one must conflict and run again.
        await db.transaction(async (other) => {
          ((await (await other.root()).get('a')) as Account).balance += 10;
        });
      }
      a.balance += 1;
    },
    { backoff: 0 },
  );
  t.equal(runs, 2, 'fn ran twice');
  t.equal(await db.read(async (tx) => ((await (await tx.root()).get('a')) as Account).balance), 11, 'no update lost');

  let attempts = 0;
  await t.rejects(
    db.transaction(
      async (tx) => {
        attempts++;
        const a = (await (await tx.root()).get('a')) as Account;
        await db.transaction(async (other) => {
          ((await (await other.root()).get('a')) as Account).balance += 1;
        });
        a.balance = -1;
      },
      { attempts: 3, backoff: 1 },
    ),
    ConflictError,
  );
  t.equal(attempts, 3, 'ran `attempts` times');
  t.equal(await db.read(async (tx) => ((await (await tx.root()).get('a')) as Account).balance), 14);
  t.equal(db.stats().conflicts >= 4, true, 'conflicts are counted');
  await db.close();
});

testOnEachStorage('a non-conflict error aborts without retry and reaches the caller', async (t, newStorage) => {
  const db = await DB.open(await newStorage());
  let runs = 0;
  await t.rejects(
    db.transaction(async (tx) => {
      runs++;
      (await tx.root()).set('x', 1);
      throw new Error('app failed');
    }),
    /app failed/,
  );
  t.equal(runs, 1);
  t.equal(await db.read(async (tx) => (await tx.root()).has('x')), false, 'nothing was committed');
  await db.close();
});

testOnEachStorage('lazy loading: a reference is a ghost until loaded, and reading it says so', async (t, newStorage) => {
  const db = await DB.open(await newStorage(), { classes: [Account, Owner] });
  await db.transaction(async (tx) => {
    const owner = Object.assign(new Owner(), { name: 'carol' });
    owner.account = Object.assign(new Account(), { owner: 'carol', balance: 7, tags: ['x'] });
    (await tx.root()).set('carol', owner);
  });
  const db2 = await DB.open(db.storage, { classes: [Account, Owner] });
  await db2.read(async (tx) => {
    const owner = (await (await tx.root()).get('carol')) as Owner;
    t.equal(owner.name, 'carol', 'map.get loads what it returns');
    const account = owner.account!;
    t.equal(Persistent.isGhost(account), true);
    const error = t.throws(() => account.balance) as NotLoadedError;
    t.equal(error.code, 'ZEO_NOT_LOADED');
    t.match(error.message, /Account object 0x[0-9a-f]{16} is not loaded: `await tx\.load\(obj\)`/);
    t.equal(error.oid, Persistent.oidOf(account));
    t.throws(() => {
      account.balance = 1;
    }, NotLoadedError);
    t.equal(await tx.load(account), account, 'tx.load returns the same object');
    t.equal(account.balance, 7);
    t.same(account.tags, ['x'], 'nested arrays are saved inside their owner');
    t.ok(account instanceof Account, 'the class is restored');
  });
  await db.close();
  await db2.close();
});

testOnEachStorage('identity: within a transaction an OID is one JS object', async (t, newStorage) => {
  const db = await DB.open(await newStorage(), { classes: [Account, Owner] });
  await db.transaction(async (tx) => {
    const shared = new Account();
    const root = await tx.root();
    root.set('a', Object.assign(new Owner(), { account: shared }));
    root.set('b', Object.assign(new Owner(), { account: shared }));
    root.set('list', new PersistentList([shared]));
  });
  await db.transaction(async (tx) => {
    const root = await tx.root();
    const a = (await root.get('a')) as Owner;
    const b = (await root.get('b')) as Owner;
    const list = (await root.get('list')) as PersistentList<Account>;
    t.equal(a.account, b.account, 'two references to one OID give one object');
    t.equal(await list.get(0), a.account);
    t.equal(await tx.get(Persistent.oidOf(a)!), a, 'tx.get by OID gives the same object');
    await tx.load(a.account!);
    a.account!.balance = 3;
  });
  const balance = await db.read(async (tx) => {
    const b = (await (await tx.root()).get('b')) as Owner;
    return (await tx.load(b.account!)).balance;
  });
  t.equal(balance, 3, 'a change through one path is seen through the other');
  await db.close();
});

testOnEachStorage('writes in db.read throw ReadOnlyError at the assignment; nested changes need markChanged', async (t, newStorage) => {
  const db = await DB.open(await newStorage(), { classes: [Account] });
  await db.transaction(async (tx) => {
    (await tx.root()).set('a', Object.assign(new Account(), { tags: ['one'] }));
  });
  await db.read(async (tx) => {
    const a = (await (await tx.root()).get('a')) as Account;
    t.throws(() => {
      a.balance = 5;
    }, ReadOnlyError);
    t.throws(() => a.markChanged(), ReadOnlyError);
    t.equal(a.balance, 0, 'the refused write changed nothing');
  });
  await db.transaction(async (tx) => {
    const a = (await (await tx.root()).get('a')) as Account;
    a.tags.push('lost');
  });
  // A fresh DB has an empty cache, so it shows what the storage holds.
  const fresh = await DB.open(db.storage, { classes: [Account] });
  t.same(
    await fresh.read(async (tx) => ((await (await tx.root()).get('a')) as Account).tags),
    ['one'],
    'a nested change without markChanged is not saved',
  );
  await fresh.transaction(async (tx) => {
    const a = (await (await tx.root()).get('a')) as Account;
    a.tags.push('two');
    a.markChanged();
  });
  const tags = await (await DB.open(db.storage, { classes: [Account] })).read(
    async (tx) => ((await (await tx.root()).get('a')) as Account).tags,
  );
  t.same(tags, ['one', 'two'], 'markChanged saves the nested change');
  await db.close();
});

testOnEachStorage('changing an object after its transaction ended is refused', async (t, newStorage) => {
  const db = await DB.open(await newStorage(), { classes: [Account] });
  const a = await db.transaction(async (tx) => {
    const account = new Account();
    (await tx.root()).set('a', account);
    return account;
  });
  t.throws(() => {
    a.balance = 9;
  }, { code: 'ZEO_TRANSACTION_STATE' });
  await db.close();
});

testOnEachStorage('PersistentMap and PersistentList track their own changes', async (t, newStorage) => {
  const db = await DB.open(await newStorage(), { classes: [Account] });
  await db.transaction(async (tx) => {
    const root = await tx.root();
    root.set('map', new PersistentMap<number, string>([[1, 'one']]));
    root.set('list', new PersistentList<number>([1, 2]));
  });
  await db.transaction(async (tx) => {
    const root = await tx.root();
    const map = (await root.get('map')) as PersistentMap<number, string>;
    map.set(2, 'two');
    map.delete(1);
    const list = (await root.get('list')) as PersistentList<number>;
    list.push(3);
    list.set(0, 10);
  });
  await db.read(async (tx) => {
    const root = await tx.root();
    const map = (await root.get('map')) as PersistentMap<number, string>;
    t.same([...map.keys()], [2], 'number keys keep their type');
    t.equal(await map.get(2), 'two');
    const list = (await root.get('list')) as PersistentList<number>;
    t.same(await list.toArray(), [10, 2, 3]);
    t.equal(JSON.stringify({ map, list }), '{"map":{"2":"two"},"list":[10,2,3]}', 'containers serialize to JSON');
    t.equal(list.length, 3);
  });
  await db.close();
});

class Temperature extends Persistent {
  celsius = 0;
  get fahrenheit(): number {
    return this.celsius * 1.8 + 32;
  }
  set fahrenheit(value: number) {
    this.celsius = (value - 32) / 1.8;
  }
}

testOnEachStorage('accessors on a class run against tracked state; meta is recorded with the commit', async (t, newStorage) => {
  const storage = await newStorage();
  const db = await DB.open(storage, { classes: [Temperature] });
  t.teardown(() => db.close());
  await db.transaction(async (tx) => (await tx.root()).set('t', new Temperature()), {
    meta: { user: 'tester', description: 'add a thermometer' },
  });
  await db.transaction(async (tx) => {
    ((await (await tx.root()).get('t')) as Temperature).fahrenheit = 212;
  });
  const fresh = await DB.open(storage, { classes: [Temperature] });
  t.teardown(() => fresh.close());
  const t100 = await fresh.read(async (tx) => (await (await tx.root()).get('t')) as Temperature);
  t.equal(t100.celsius, 100, 'the setter changed a saved property');
  t.same(Object.keys(t100), ['celsius'], 'accessors are not state');
  const descriptions: string[] = [];
  for await (const txn of storage.iterator()) descriptions.push(`${txn.meta.user ?? ''}:${txn.meta.description ?? ''}`);
  t.ok(descriptions.includes('tester:add a thermometer'), 'transaction meta reaches the storage');
});

testOnEachStorage('objects cannot cross transactions; awaiting a ghost is harmless', async (t, newStorage) => {
  const storage = await newStorage();
  const writer = await DB.open(storage, { classes: [Account, Owner] });
  await writer.transaction(async (tx) => {
    (await tx.root()).set('o', Object.assign(new Owner(), { account: new Account() }));
  });
  await writer.close();
  const db = await DB.open(storage, { classes: [Account, Owner] }); // empty caches: references are ghosts
  t.teardown(() => db.close());
  const first = await db.begin();
  const second = await db.begin();
  const fromFirst = (await (await first.root()).get('o')) as Owner;
  t.equal(Persistent.isGhost(fromFirst.account!), true);
  t.equal(await fromFirst.account, fromFirst.account, '`await ghost` gives the ghost, not an error');
  (await second.root()).set('stolen', fromFirst);
  await t.rejects(second.commit(), { code: 'ZEO_INVALID_ARGUMENT', message: /another transaction/ });
  await t.rejects(second.load(fromFirst.account!), { code: 'ZEO_TRANSACTION_STATE' }, 'an ended transaction refuses loads');
  const third = await db.begin();
  await t.rejects(third.load(fromFirst.account!), { code: 'ZEO_INVALID_ARGUMENT', message: /another transaction/ });
  await first.abort();
  await third.abort();
});

class Kitchen extends Persistent {
  values: Record<string, unknown> = {};
}

testOnEachStorage('plain values of every supported type round-trip through a record', async (t, newStorage) => {
  const storage = await newStorage();
  const values = {
    small: 5n,
    negative: -3n,
    huge: 2n ** 70n,
    float: 1.5,
    bigNumber: 2 ** 60,
    date: new Date('2026-11-25T10:00:00Z'),
    set: new Set(['a', 'b']),
    bytes: new Uint8Array([1, 2, 3]),
    nested: { list: [1, { deep: true }], nothing: null },
    text: 'héllo ✓',
  };
  const db = await DB.open(storage, { classes: [Kitchen] });
  await db.transaction(async (tx) => (await tx.root()).set('k', Object.assign(new Kitchen(), { values })));
  await db.close();
  const fresh = await DB.open(storage, { classes: [Kitchen] });
  t.teardown(() => fresh.close());
  const loaded = await fresh.read(async (tx) => ((await (await tx.root()).get('k')) as Kitchen).values);
  t.same(loaded, values);
  t.equal(typeof loaded.small, 'bigint');
  t.ok(loaded.date instanceof Date && loaded.set instanceof Set && loaded.bytes instanceof Uint8Array, 'types are kept');
});

testOnEachStorage('close leaves the storage open unless the DB owns it; options are checked at open', async (t, newStorage) => {
  const storage = await newStorage();
  const db = await DB.open(storage);
  await db.close();
  t.equal(typeof (await storage.lastTransaction()), 'bigint', 'still open after db.close()');
  await t.rejects(db.begin(), { code: 'ZEO_CLOSED' }, 'a closed DB refuses transactions');
  await t.rejects(DB.open(storage, { cacheSize: -1 }), { code: 'ZEO_INVALID_ARGUMENT' });
  await t.rejects(DB.open(storage, { classes: [class NotPersistent {}] as never }), {
    code: 'ZEO_INVALID_ARGUMENT',
    message: /does not extend Persistent/,
  });
  const owner = await DB.open(storage, { ownsStorage: true });
  const stats = owner.stats();
  t.same(Object.keys(stats).sort(), ['cachedObjects', 'commits', 'conflicts', 'connections', 'hits', 'idleConnections', 'lastTid', 'misses']);
  await t.rejects(owner.transaction(() => 1, { attempts: 0 }), { code: 'ZEO_INVALID_ARGUMENT' });
  await owner.close();
  await t.rejects(storage.lastTransaction(), { code: 'ZEO_CLOSED' }, 'ownsStorage: closed with the DB');
});
