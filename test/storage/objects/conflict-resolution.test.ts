import t from 'tap';
import { ConflictError, Counter, DB, MemoryStorage, Persistent } from '../../../index.js';

class Note extends Persistent {
  text = '';
}

class Tally extends Persistent {
  hits = 0;
  /** An instance-method resolver: concurrent increments of `hits` merge. */
  resolveConflict(oldState: unknown, committed: unknown, mine: unknown): unknown {
    const hits = (s: unknown) => (s as { hits: number }).hits;
    return { hits: hits(committed) + hits(mine) - hits(oldState) };
  }
}

async function setUp(t: { teardown(fn: () => unknown): void }) {
  const storage = new MemoryStorage();
  const db = await DB.open(storage, { classes: [Note, Tally] });
  await db.transaction(async (tx) => {
    const root = await tx.root();
    root.set('counter', new Counter(10));
    root.set('note', new Note());
    root.set('tally', new Tally());
  });
  t.teardown(() => db.close());
  return db;
}

t.test('Counter: two connections increment concurrently and both increments survive', async (t) => {
  const db = await setUp(t);
  const first = await db.begin();
  const second = await db.begin();
  t.equal(db.stats().connections, 2, 'two concurrent transactions use two connections');
  const a = (await (await first.root()).get('counter')) as Counter;
  const b = (await (await second.root()).get('counter')) as Counter;
  t.not(a, b, 'each connection has its own copy');
  a.add(1);
  b.add(5);
  const firstTid = await first.commit();
  const secondTid = await second.commit();
  t.ok(secondTid! > firstTid!, 'the second commit succeeded after resolving');
  const value = await db.read(async (tx) => ((await (await tx.root()).get('counter')) as Counter).value);
  t.equal(value, 16, '10 + 1 + 5');
  // The connection that resolved holds an out-of-date copy; its next transaction reloads.
  const again = await db.read(async (tx) => {
    const c = (await (await tx.root()).get('counter')) as Counter;
    return c.value;
  });
  t.equal(again, 16);
});

t.test('many concurrent db.transaction increments of one Counter: none lost', async (t) => {
  const db = await setUp(t);
  await Promise.all(
    Array.from({ length: 20 }, () =>
      db.transaction(async (tx) => {
        const c = (await (await tx.root()).get('counter')) as Counter;
        await new Promise((r) => setImmediate(r));
        c.add(1);
      }),
    ),
  );
  t.equal(await db.read(async (tx) => ((await (await tx.root()).get('counter')) as Counter).value), 30);
  t.equal(db.stats().conflicts, 0, 'every conflict was resolved inside the commit, none retried');
});

t.test('an instance resolveConflict method works like a static one', async (t) => {
  const db = await setUp(t);
  const first = await db.begin();
  const second = await db.begin();
  ((await (await first.root()).get('tally')) as Tally).hits += 2;
  ((await (await second.root()).get('tally')) as Tally).hits += 3;
  await first.commit();
  await second.commit();
  t.equal(await db.read(async (tx) => ((await (await tx.root()).get('tally')) as Tally).hits), 5);
});

t.test('a class without resolveConflict conflicts; so does a mix of resolvable and not', async (t) => {
  const db = await setUp(t);
  const first = await db.begin();
  const second = await db.begin();
  ((await (await first.root()).get('note')) as Note).text = 'first';
  ((await (await second.root()).get('note')) as Note).text = 'second';
  ((await (await second.root()).get('counter')) as Counter).add(1);
  ((await (await first.root()).get('counter')) as Counter).add(1);
  await first.commit();
  const error = (await second.commit().catch((e: unknown) => e)) as ConflictError;
  t.ok(error instanceof ConflictError);
  t.equal(second.status, 'aborted');
  const state = await db.read(async (tx) => {
    const root = await tx.root();
    return [((await root.get('note')) as Note).text, ((await root.get('counter')) as Counter).value];
  });
  t.same(state, ['first', 11], 'the losing transaction left no trace');
});

t.test('tx.readCurrent: a write based on an object another transaction changed fails as a read conflict', async (t) => {
  const db = await setUp(t);
  const first = await db.begin();
  const second = await db.begin();
  const note = (await (await first.root()).get('note')) as Note;
  first.readCurrent(note);
  ((await (await first.root()).get('tally')) as Tally).hits = 100; // decided from the note's value
  ((await (await second.root()).get('note')) as Note).text = 'changed';
  await second.commit();
  const error = (await first.commit().catch((e: unknown) => e)) as ConflictError;
  t.ok(error instanceof ConflictError);
  t.equal(error.isReadConflict, true);
  t.equal(error.oid, Persistent.oidOf(note));
  const third = await db.begin();
  const fresh = (await (await third.root()).get('note')) as Note;
  third.readCurrent(fresh);
  ((await (await third.root()).get('tally')) as Tally).hits = 100;
  t.equal(typeof (await third.commit()), 'bigint', 'unchanged since the snapshot: commits');
});

t.test('PersistentMap: concurrent changes of different keys merge, of the same key conflict', async (t) => {
  const db = await setUp(t);
  const first = await db.begin();
  const second = await db.begin();
  (await first.root()).set('from-first', 1);
  (await second.root()).set('from-second', 2);
  (await second.root()).delete('note');
  await first.commit();
  t.equal(typeof (await second.commit()), 'bigint', 'different keys: both commit');
  const keys = await db.read(async (tx) => [...(await tx.root()).keys()].sort());
  t.same(keys, ['counter', 'from-first', 'from-second', 'tally'], 'both changes are in the root');
  const third = await db.begin();
  const fourth = await db.begin();
  (await third.root()).set('same', 'third');
  (await fourth.root()).set('same', 'fourth');
  await third.commit();
  await t.rejects(fourth.commit(), ConflictError, 'the same key: conflict');
});
