import { testOnEachStorage } from './storages.js';
import t from 'tap';
import { DB, MemoryStorage, MissingClassError, type Invalidation, Persistent, PersistentList, Placeholder } from '../../../index.js';

class Item extends Persistent {
  n = 0;
}

testOnEachStorage('the object cache is bounded: least recently used objects become ghosts', async (t, newStorage) => {
  const db = await DB.open(await newStorage(), { classes: [Item], cacheSize: 10 });
  t.teardown(() => db.close());
  await db.transaction(async (tx) => {
    const list = new PersistentList<Item>();
    for (let i = 0; i < 100; i++) list.push(Object.assign(new Item(), { n: i }));
    (await tx.root()).set('items', list);
  });
  t.ok(db.stats().cachedObjects <= 10, `after the commit ${db.stats().cachedObjects} objects stay cached`);
  let held: Item[] = [];
  await db.read(async (tx) => {
    const items = await ((await (await tx.root()).get('items')) as PersistentList<Item>).toArray();
    t.equal(items.length, 100);
    t.same(items.map((i) => i.n), Array.from({ length: 100 }, (_, i) => i), 'all loaded while the transaction runs');
    held = items;
  });
  t.ok(db.stats().cachedObjects <= 10, 'trimmed at the end of the transaction');
  const ghosts = held.filter((i) => Persistent.isGhost(i)).length;
  t.ok(ghosts >= 90, `${ghosts} of 100 objects are ghosts again`);
  t.equal(Persistent.isGhost(held[99]!), false, 'the most recently used ones stay loaded');
  const missesBefore = db.stats().misses;
  const sum = await db.read(async (tx) => {
    let total = 0;
    for await (const item of (await (await tx.root()).get('items')) as PersistentList<Item>) total += item.n;
    return total;
  });
  t.equal(sum, 4950, 'evicted objects load again');
  t.ok(db.stats().misses - missesBefore >= 90, 'evicted objects were cache misses');
  t.ok(db.stats().hits > 0, 'cached objects were hits');
});

testOnEachStorage('changed objects of the running transaction are never evicted', async (t, newStorage) => {
  const db = await DB.open(await newStorage(), { classes: [Item], cacheSize: 2 });
  t.teardown(() => db.close());
  await db.transaction(async (tx) => {
    const list = new PersistentList<Item>();
    for (let i = 0; i < 20; i++) list.push(new Item());
    (await tx.root()).set('items', list);
  });
  await db.transaction(async (tx) => {
    const items = await ((await (await tx.root()).get('items')) as PersistentList<Item>).toArray();
    for (const item of items) item.n = 7;
  });
  const values = await (await DB.open(db.storage, { classes: [Item] })).read(async (tx) =>
    (await ((await (await tx.root()).get('items')) as PersistentList<Item>).toArray()).map((i) => i.n),
  );
  t.same(values, Array(20).fill(7), 'every change was saved');
});

testOnEachStorage('invalidations: a commit from another connection is seen by the next transaction', async (t, newStorage) => {
  const db = await DB.open(await newStorage(), { classes: [Item] });
  t.teardown(() => db.close());
  await db.transaction(async (tx) => (await tx.root()).set('item', new Item()));
  const first = await db.begin();
  const second = await db.begin();
  const a = (await (await first.root()).get('item')) as Item;
  const b = (await (await second.root()).get('item')) as Item;
  a.n = 1;
  await first.commit();
  t.equal(b.n, 0, 'the other transaction still sees its snapshot');
  await second.abort();
  // Both connections are idle again; use them both at once to reach the stale one.
  const third = await db.begin();
  const fourth = await db.begin();
  const seen = [
    ((await (await third.root()).get('item')) as Item).n,
    ((await (await fourth.root()).get('item')) as Item).n,
  ];
  t.same(seen, [1, 1], 'both connections see the commit');
  await third.abort();
  await fourth.abort();
});

testOnEachStorage('an unregistered class loads as a read-only placeholder and round-trips', async (t, newStorage) => {
  class Widget extends Persistent {
    size = 3;
  }
  const storage = await newStorage();
  const writer = await DB.open(storage, { classes: [Widget, Item] });
  await writer.transaction(async (tx) => {
    const root = await tx.root();
    root.set('widget', new Widget());
    root.set('holder', new PersistentList<unknown>([new Widget(), 'x']));
  });
  const widgetOid = await writer.read(async (tx) => Persistent.oidOf((await (await tx.root()).get('widget')) as Widget)!);
  const rawBefore = (await storage.load(widgetOid)).data;
  await writer.close();

  const reader = await DB.open(storage, { classes: [Item] });
  await reader.transaction(async (tx) => {
    const root = await tx.root();
    const widget = (await root.get('widget')) as Placeholder;
    t.ok(widget instanceof Placeholder, 'the record loads as a placeholder');
    t.equal(widget.missingClassName, 'Widget', 'it says which class is missing');
    t.same(widget.rawData, rawBefore, 'the raw record is kept intact');
    const error = t.throws(() => (widget as unknown as { size: number }).size) as MissingClassError;
    t.equal(error.code, 'ZEO_MISSING_CLASS');
    t.match(error.message, /"Widget", which is not registered/);
    t.throws(() => {
      (widget as unknown as { size: number }).size = 4;
    }, MissingClassError);
    const holder = (await root.get('holder')) as PersistentList<unknown>;
    holder.push('y'); // saving the owner keeps the reference to the placeholder
    root.set('again', widget);
  });
  await reader.close();

  const restored = await DB.open(storage, { classes: [Widget, Item], aliases: {} });
  await restored.read(async (tx) => {
    const root = await tx.root();
    const widget = (await root.get('widget')) as Widget;
    t.ok(widget instanceof Widget);
    t.equal(widget.size, 3);
    t.equal(await root.get('again'), widget, 'the reference saved through the placeholder is intact');
    const holder = (await root.get('holder')) as PersistentList<unknown>;
    const items = await holder.toArray();
    t.ok(items[0] instanceof Widget);
    t.same(items.slice(1), ['x', 'y']);
  });
  t.same((await storage.load(widgetOid)).data, rawBefore, 'the record itself was never rewritten');
  await restored.close();
});

testOnEachStorage('aliases: a renamed class loads records saved under its old name', async (t, newStorage) => {
  const storage = await newStorage();
  {
    class OldName extends Persistent {
      v = 1;
    }
    const db = await DB.open(storage, { classes: [OldName] });
    await db.transaction(async (tx) => (await tx.root()).set('x', new OldName()));
    await db.close();
  }
  class NewName extends Persistent {
    v = 0;
  }
  const db = await DB.open(storage, { classes: [NewName], aliases: { OldName: NewName } });
  const x = await db.read(async (tx) => (await tx.root()).get('x'));
  t.ok(x instanceof NewName);
  t.equal((x as NewName).v, 1);
  await db.close();
});

testOnEachStorage('saving an object of an unregistered class fails clearly and commits nothing', async (t, newStorage) => {
  class Stranger extends Persistent {}
  const db = await DB.open(await newStorage());
  t.teardown(() => db.close());
  await t.rejects(
    db.transaction(async (tx) => (await tx.root()).set('s', new Stranger())),
    { code: 'ZEO_INVALID_ARGUMENT', message: /class Stranger is not registered/ },
  );
  t.equal(await db.read(async (tx) => (await tx.root()).has('s')), false);
});

testOnEachStorage('a connection too far behind drops its whole cache and stays correct', async (t, newStorage) => {
  const db = await DB.open(await newStorage(), { classes: [Item], cacheSize: 10 });
  t.teardown(() => db.close());
  await db.transaction(async (tx) => (await tx.root()).set('item', Object.assign(new Item(), { n: 1 })));
  const first = await db.begin();
  const second = await db.begin();
  await (await first.root()).get('item');
  await first.abort(); // `first`'s connection is idle with `item` cached
  // More invalidated OIDs than the connection queues (1,000 here) while it is idle.
  const many = new PersistentList<Item>();
  for (let i = 0; i < 1100; i++) many.push(new Item());
  (await second.root()).set('many', many);
  ((await (await second.root()).get('item')) as Item).n = 2;
  await second.commit();
  const third = await db.begin();
  const fourth = await db.begin();
  const seen = [((await (await third.root()).get('item')) as Item).n, ((await (await fourth.root()).get('item')) as Item).n];
  t.same(seen, [2, 2], 'both connections see the new state');
  t.equal((await (await third.root()).get('many') as PersistentList<Item>).length, 1100);
  await third.abort();
  await fourth.abort();
});

t.test('a storage cache reset (ClientStorage.onCacheReset) drops every connection cache', async (t) => {
  // A MemoryStorage that can miss invalidations and announce a reset, as a ClientStorage does
  // after losing its invalidation history.
  class ResettingStorage extends MemoryStorage {
    isDeaf = false;
    readonly resetListeners = new Set<(tid: bigint) => void>();
    override onInvalidation(listener: (invalidation: Invalidation) => void): () => void {
      return super.onInvalidation((invalidation) => {
        if (!this.isDeaf) listener(invalidation);
      });
    }
    onCacheReset(listener: (tid: bigint) => void): () => void {
      this.resetListeners.add(listener);
      return () => this.resetListeners.delete(listener);
    }
  }
  const storage = new ResettingStorage();
  const db = await DB.open(storage, { classes: [Item] });
  t.teardown(() => db.close());
  await db.transaction(async (tx) => (await tx.root()).set('item', Object.assign(new Item(), { n: 1 })));
  const oid = await db.read(async (tx) => Persistent.oidOf((await (await tx.root()).get('item')) as Item)!);
  const writer = await DB.open(storage, { classes: [Item] });
  t.teardown(() => writer.close());
  storage.isDeaf = true;
  await writer.transaction(async (tx) => {
    ((await tx.get(oid)) as Item).n = 2;
  });
  storage.isDeaf = false;
  t.equal(await db.read(async (tx) => ((await tx.get(oid)) as Item).n), 1, 'the missed invalidation leaves it stale');
  for (const listener of storage.resetListeners) listener(await storage.lastTransaction());
  t.equal(await db.read(async (tx) => ((await tx.get(oid)) as Item).n), 2, 'after the reset it is current');
});
