import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { BTree, ConflictError, DB, FileStorage, MemoryStorage, Persistent, type Storage } from '../../../index.js';

class Item extends Persistent {
  label = '';
}

/** mulberry32: a small seeded PRNG, so a failure can be replayed from the printed seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const compare = (a: number, b: number) => a - b;

t.test('randomized: 100,000 operations against a Map model, with reopens of a FileStorage', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'zeo-btree-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'btree.fs');
  const seed = Number(process.env.BTREE_SEED ?? Date.now() % 1_000_000);
  t.comment(`seed ${seed} (replay with BTREE_SEED=${seed})`);
  const next = random(seed);
  const model = new Map<number, string>();
  let storage: Storage = await FileStorage.open(path, { showProgress: false });
  let db = await DB.open(storage);
  await db.transaction(async (tx) => {
    (await tx.root()).set('tree', new BTree<number, string>({ maxBucketSize: 8, maxNodeSize: 6 }));
  });
  const TOTAL = 100_000;
  const PER_TRANSACTION = 2_000;
  let mismatches = 0;
  let reopens = 0;
  for (let done = 0; done < TOTAL; done += PER_TRANSACTION) {
    await db.transaction(async (tx) => {
      const tree = (await (await tx.root()).get('tree')) as BTree<number, string>;
      for (let i = 0; i < PER_TRANSACTION; i++) {
        const key = Math.floor(next() * 3000);
        const dice = next();
        if (dice < 0.5) {
          const value = `v${Math.floor(next() * 1e6)}`;
          await tree.set(key, value);
          model.set(key, value);
        } else if (dice < 0.75) {
          const wasThere = await tree.delete(key);
          if (wasThere !== model.delete(key)) mismatches++;
        } else if ((await tree.get(key)) !== model.get(key)) {
          mismatches++;
        }
      }
    });
    if ((done / PER_TRANSACTION) % 10 === 9) {
      // Reopen: a new process would see exactly this.
      await db.close();
      await storage.close();
      storage = await FileStorage.open(path, { showProgress: false });
      db = await DB.open(storage);
      reopens++;
    }
  }
  t.equal(mismatches, 0, 'every get/delete agreed with the model');
  t.ok(reopens >= 4, `reopened ${reopens} times`);
  const sorted = [...model.keys()].sort(compare);
  await db.read(async (tx) => {
    const tree = (await (await tx.root()).get('tree')) as BTree<number, string>;
    t.equal(await tree.size(), model.size, 'size() matches');
    const entries: [number, string][] = [];
    for await (const entry of tree.entries()) entries.push(entry);
    t.same(entries, sorted.map((k) => [k, model.get(k)]), 'full iteration is the sorted model');
    let rangeMismatches = 0;
    for (let i = 0; i < 200; i++) {
      const a = Math.floor(next() * 3200) - 100;
      const b = a + Math.floor(next() * 400);
      const reverse = next() < 0.5;
      const got: number[] = [];
      for await (const key of tree.keys({ from: a, to: b, reverse })) got.push(key);
      const want = sorted.filter((k) => k >= a && k <= b);
      if (reverse) want.reverse();
      if (JSON.stringify(got) !== JSON.stringify(want)) rangeMismatches++;
    }
    t.equal(rangeMismatches, 0, 'range iteration (from/to inclusive, forward and reverse) matches');
  });
  await db.close();
  await storage.close();
});

t.test('string keys, persistent values loaded by get and iteration', async (t) => {
  const storage = new MemoryStorage();
  const db = await DB.open(storage, { classes: [Item] });
  t.teardown(() => db.close());
  await db.transaction(async (tx) => {
    const tree = new BTree<string, Item>({ maxBucketSize: 4 });
    (await tx.root()).set('tree', tree);
    for (const word of ['pear', 'apple', 'fig', 'kiwi', 'date', 'lime', 'plum', 'banana']) {
      await tree.set(word, Object.assign(new Item(), { label: word.toUpperCase() }));
    }
  });
  const fresh = await DB.open(storage, { classes: [Item] });
  t.teardown(() => fresh.close());
  await fresh.read(async (tx) => {
    const tree = (await (await tx.root()).get('tree')) as BTree<string, Item>;
    t.equal((await tree.get('kiwi'))!.label, 'KIWI', 'get loads the value');
    t.equal(await tree.get('mango'), undefined);
    t.equal(await tree.has('fig'), true);
    const labels: string[] = [];
    for await (const item of tree.values({ from: 'b', to: 'l' })) labels.push(item.label);
    t.same(labels, ['BANANA', 'DATE', 'FIG', 'KIWI'], 'values are loaded, in order, within the range');
    await t.rejects(tree.get(NaN as unknown as string), { code: 'ZEO_INVALID_ARGUMENT' });
  });
});

async function treeWithBuckets(storage: Storage): Promise<DB> {
  const db = await DB.open(storage);
  await db.transaction(async (tx) => {
    const tree = new BTree<number, string>({ maxBucketSize: 16 });
    (await tx.root()).set('tree', tree);
    // 0..990 in steps of 10: splits leave several half-full buckets with room to grow.
    for (let key = 0; key < 1000; key += 10) await tree.set(key, 'initial');
  });
  return db;
}

async function twoWriters(db: DB, first: (tree: BTree<number, string>) => Promise<unknown>, second: (tree: BTree<number, string>) => Promise<unknown>) {
  const a = await db.begin();
  const b = await db.begin();
  await first((await (await a.root()).get('tree')) as BTree<number, string>);
  await second((await (await b.root()).get('tree')) as BTree<number, string>);
  const results: unknown[] = [];
  results.push(await a.commit().catch((e: unknown) => e));
  results.push(await b.commit().catch((e: unknown) => e));
  return results;
}

t.test('concurrent inserts of different keys from two connections do not conflict', async (t) => {
  const db = await treeWithBuckets(new MemoryStorage());
  t.teardown(() => db.close());
  // Far apart (different buckets) and close together (same bucket, merged by key).
  const [farA, farB] = await twoWriters(db, (tree) => tree.set(5, 'a'), (tree) => tree.set(995, 'b'));
  t.equal(typeof farA, 'bigint');
  t.equal(typeof farB, 'bigint', 'different buckets: both commit');
  const [nearA, nearB] = await twoWriters(db, (tree) => tree.set(11, 'a'), (tree) => tree.set(12, 'b'));
  t.equal(typeof nearA, 'bigint');
  t.equal(typeof nearB, 'bigint', 'same bucket, different keys: merged, both commit');
  const [updateA, deleteB] = await twoWriters(db, (tree) => tree.set(20, 'changed'), (tree) => tree.delete(30));
  t.equal(typeof updateA, 'bigint');
  t.equal(typeof deleteB, 'bigint', 'an update and a delete of different keys merge');
  await db.read(async (tx) => {
    const tree = (await (await tx.root()).get('tree')) as BTree<number, string>;
    t.same(
      [await tree.get(5), await tree.get(995), await tree.get(11), await tree.get(12), await tree.get(20), await tree.has(30)],
      ['a', 'b', 'a', 'b', 'changed', false],
      'every write survived',
    );
    t.equal(await tree.size(), 100 + 4 - 1, 'the size counter merged too');
  });
  t.equal(db.stats().conflicts, 0);
});

t.test('two connections writing the same key conflict', async (t) => {
  const db = await treeWithBuckets(new MemoryStorage());
  t.teardown(() => db.close());
  const [insertA, insertB] = await twoWriters(db, (tree) => tree.set(15, 'a'), (tree) => tree.set(15, 'b'));
  t.equal(typeof insertA, 'bigint');
  t.ok(insertB instanceof ConflictError, 'inserting the same new key conflicts');
  const [updateA, updateB] = await twoWriters(db, (tree) => tree.set(40, 'a'), (tree) => tree.set(40, 'b'));
  t.equal(typeof updateA, 'bigint');
  t.ok(updateB instanceof ConflictError, 'updating the same key conflicts');
  const value = await db.read(async (tx) => ((await (await tx.root()).get('tree')) as BTree<number, string>).get(40));
  t.equal(value, 'a', 'the winner is kept');
});

t.test('many concurrent db.transaction inserts: splits may conflict, retries settle them', async (t) => {
  const db = await treeWithBuckets(new MemoryStorage());
  t.teardown(() => db.close());
  await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      db.transaction(
        async (tx) => {
          const tree = (await (await tx.root()).get('tree')) as BTree<number, string>;
          await new Promise((r) => setImmediate(r));
          for (let j = 1; j < 10; j++) await tree.set(i * 25 + j, `w${i}`);
        },
        { attempts: 20, backoff: 1 },
      ),
    ),
  );
  await db.read(async (tx) => {
    const tree = (await (await tx.root()).get('tree')) as BTree<number, string>;
    const keys: number[] = [];
    for await (const key of tree.keys()) keys.push(key);
    const expected = new Set<number>();
    for (let key = 0; key < 1000; key += 10) expected.add(key);
    for (let i = 0; i < 40; i++) for (let j = 1; j < 10; j++) expected.add(i * 25 + j);
    t.same(keys, [...expected].sort(compare), 'every insert is there exactly once, in order');
    t.equal(await tree.size(), expected.size);
  });
});

t.test('an insert into a bucket that another transaction split is not merged into the wrong bucket', async (t) => {
  const db = await DB.open(new MemoryStorage());
  t.teardown(() => db.close());
  await db.transaction(async (tx) => {
    const tree = new BTree<number, string>({ maxBucketSize: 4 });
    (await tx.root()).set('tree', tree);
    for (const key of [0, 10, 20]) await tree.set(key, 'x');
  });
  // A splits the bucket into [0, 10] and [20, 30, 40]; B adds 25, which now belongs right.
  const [splitting, inserting] = await twoWriters(
    db,
    async (tree) => {
      await tree.set(30, 'a');
      await tree.set(40, 'a');
    },
    (tree) => tree.set(25, 'b'),
  );
  t.equal(typeof splitting, 'bigint');
  t.ok(inserting instanceof ConflictError, 'the merge across a split is refused');
  await db.transaction(async (tx) => {
    await ((await (await tx.root()).get('tree')) as BTree<number, string>).set(25, 'b');
  });
  await db.read(async (tx) => {
    const tree = (await (await tx.root()).get('tree')) as BTree<number, string>;
    t.equal(await tree.get(25), 'b', 'the retried insert is found');
    const keys: number[] = [];
    for await (const key of tree.keys()) keys.push(key);
    t.same(keys, [0, 10, 20, 25, 30, 40]);
  });
});

t.test('records carry their references: pack keeps what the tree reaches and drops what it no longer does', async (t) => {
  const storage = new MemoryStorage();
  const db = await DB.open(storage, { classes: [Item] });
  t.teardown(() => db.close());
  await db.transaction(async (tx) => {
    const tree = new BTree<number, Item>({ maxBucketSize: 4 });
    (await tx.root()).set('tree', tree);
    for (let i = 0; i < 40; i++) await tree.set(i, Object.assign(new Item(), { label: `item ${i}` }));
  });
  const removedOid = await db.transaction(async (tx) => {
    const tree = (await (await tx.root()).get('tree')) as BTree<number, Item>;
    const removed = (await tree.get(7))!;
    await tree.delete(7);
    return Persistent.oidOf(removed)!;
  });
  const result = await storage.pack(await storage.lastTransaction());
  t.ok(result.removedObjects >= 1, `pack removed ${result.removedObjects} object(s)`);
  await t.rejects(storage.load(removedOid), { code: 'ZEO_NOT_FOUND' }, 'the deleted item is gone');
  const fresh = await DB.open(storage, { classes: [Item] });
  t.teardown(() => fresh.close());
  const labels = await fresh.read(async (tx) => {
    const tree = (await (await tx.root()).get('tree')) as BTree<number, Item>;
    const out: string[] = [];
    for await (const item of tree.values()) out.push(item.label);
    return out;
  });
  t.equal(labels.length, 39, 'every other item survived pack');
  t.notOk(labels.includes('item 7'));
});

t.test('a forgotten await on a tree write that must load its path: the commit waits for it', async (t) => {
  const storage = new MemoryStorage();
  const writer = await DB.open(storage);
  await writer.transaction(async (tx) => {
    const tree = new BTree<number, string>({ maxBucketSize: 4 });
    (await tx.root()).set('tree', tree);
    for (let i = 0; i < 50; i++) void tree.set(i, 'x'); // all loaded: done at once
  });
  await writer.close();
  const db = await DB.open(storage); // empty cache: every write below must load its path
  t.teardown(() => db.close());
  await db.transaction(async (tx) => {
    const tree = (await (await tx.root()).get('tree')) as BTree<number, string>;
    void tree.set(100, 'forgotten');
    void tree.delete(3);
  });
  const fresh = await DB.open(storage);
  t.teardown(() => fresh.close());
  await fresh.read(async (tx) => {
    const tree = (await (await tx.root()).get('tree')) as BTree<number, string>;
    t.equal(await tree.get(100), 'forgotten', 'the write landed in its transaction');
    t.equal(await tree.has(3), false);
    t.equal(await tree.size(), 50);
  });
});
