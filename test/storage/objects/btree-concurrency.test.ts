import { BTree, DB, isConflict, type Tid } from '../../../index.js';
import { testOnEachStorage } from './storages.js';

type Operation = { key: number; value: string | null }; // null: delete

/**
 * Concurrent writers with random overlapping keys, bucket merges, splits and retries. Each
 * committed transaction's net changes (key by key, final value against the value in its
 * snapshot) are logged with its TID; replaying them in TID order into a Map must give exactly the
 * tree's final content. Net changes, not operations: conflict resolution merges states, so a
 * write that changed nothing in the writer's snapshot (deleting an absent key) is not a write.
 */
testOnEachStorage('concurrent random writers: the tree equals the commits replayed in TID order', async (t, newStorage) => {
  const db = await DB.open(await newStorage());
  t.teardown(() => db.close());
  await db.transaction(async (tx) => {
    (await tx.root()).set('tree', new BTree<number, string>({ maxBucketSize: 8, maxNodeSize: 4 }));
  });
  const committed: { tid: Tid; operations: Operation[] }[] = [];
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let conflicts = 0;
  const writer = async (id: number) => {
    for (let n = 0; n < 30; n++) {
      const operations: Operation[] = Array.from({ length: 10 }, () => ({
        key: Math.floor(next() * 300),
        value: next() < 0.75 ? `w${id}-${n}` : null,
      }));
      for (let attempt = 0; ; attempt++) {
        const tx = await db.begin();
        try {
          const tree = (await (await tx.root()).get('tree')) as BTree<number, string>;
          const before = new Map<number, string | undefined>();
          for (const op of operations) {
            if (!before.has(op.key)) before.set(op.key, await tree.get(op.key));
            if (op.value === null) await tree.delete(op.key);
            else await tree.set(op.key, op.value);
            if (next() < 0.3) await new Promise((r) => setImmediate(r)); // interleave writers
          }
          const changes: Operation[] = [];
          for (const [key, value] of before) {
            const after = await tree.get(key);
            if (after !== value) changes.push({ key, value: after ?? null });
          }
          const tid = await tx.commit();
          if (tid !== null) committed.push({ tid, operations: changes });
          break;
        } catch (error) {
          await tx.abort();
          if (!isConflict(error) || attempt > 100) throw error;
          conflicts++;
        }
      }
    }
  };
  await Promise.all([1, 2, 3, 4].map(writer));
  t.comment(`${committed.length} commits, ${conflicts} conflicts retried`);
  t.ok(conflicts > 0, 'the writers did collide');
  const model = new Map<number, string>();
  for (const { operations } of committed.sort((a, b) => (a.tid < b.tid ? -1 : 1))) {
    for (const op of operations) {
      if (op.value === null) model.delete(op.key);
      else model.set(op.key, op.value);
    }
  }
  const fresh = await DB.open(db.storage);
  t.teardown(() => fresh.close());
  await fresh.read(async (tx) => {
    const tree = (await (await tx.root()).get('tree')) as BTree<number, string>;
    const entries: [number, string][] = [];
    for await (const entry of tree.entries()) entries.push(entry);
    t.same(entries, [...model].sort((a, b) => a[0] - b[0]), 'content equals the serial replay');
    t.equal(await tree.size(), model.size, 'the merged size counter is exact');
  });
});
