// The OID pool of a DB connection (storage/objects/record-writer.ts) when the OIDs it holds are
// in use by now, as after a storage restored from a backup or a server that lost what it handed
// out: a conflict on a brand-new object, or an OID the connection already knows, drops the whole
// pool, so the retry gets fresh OIDs instead of failing on every stale one in turn.

import t from 'tap';
import { DB, MemoryStorage, Persistent, type Oid } from '../../../index.js';

class Note extends Persistent {
  static persistentName = 'test.Note';
  text = '';
}

/** A MemoryStorage that can be made to forget the OIDs it handed out (a restored backup). */
class ForgetfulStorage extends MemoryStorage {
  private rewoundTo: Oid | null = null;

  forgetOidsFrom(oid: Oid): void {
    this.rewoundTo = oid;
  }

  override async newOids(count = 1): Promise<Oid[]> {
    if (this.rewoundTo === null) return super.newOids(count);
    const first = this.rewoundTo;
    this.rewoundTo += BigInt(count);
    return Array.from({ length: count }, (_, i) => first + BigInt(i));
  }
}

const note = (text: string) => Object.assign(new Note(), { text });

t.test('a conflict on a new object drops the stale pool: the retry succeeds with fresh OIDs', async (t) => {
  const storage = new ForgetfulStorage();
  t.teardown(() => storage.close());
  const db = await DB.open(storage, { classes: [Note] });
  await db.transaction(async (tx) => (await tx.root()).set('first', note('first'))); // the pool keeps ~31 spare OIDs
  // Someone else now holds the next ten OIDs of that pool, in objects this connection never saw.
  const taken = Array.from({ length: 10 }, (_, i) => 2n + BigInt(i));
  await storage.commit({ stores: taken.map((oid) => ({ oid, baseTid: 0n, data: new Uint8Array([1]), refs: [] })) });
  const before = db.stats().conflicts;
  await db.transaction(async (tx) => (await tx.root()).set('second', note('second')), { attempts: 3, backoff: 0 });
  t.equal(db.stats().conflicts - before, 1, 'one conflict, then the pool was refilled');
  const oid = await db.read(async (tx) => Persistent.oidOf((await (await tx.root()).get('second')) as Note));
  t.notOk(taken.includes(oid!), `the new object got a fresh OID (${oid})`);
  for (const other of taken) t.same((await storage.load(other)).data, new Uint8Array([1]), 'the other objects are untouched');
});

t.test('an OID the connection already knows is not given to a new object', async (t) => {
  const storage = new ForgetfulStorage();
  t.teardown(() => storage.close());
  const a = await DB.open(storage, { classes: [Note] });
  const b = await DB.open(storage, { classes: [Note] });
  await a.transaction(async (tx) => (await tx.root()).set('a', note('a'))); // a's pool: 2, 3, ...
  storage.forgetOidsFrom(2n);
  await b.transaction(async (tx) => (await tx.root()).set('b', note('b'))); // b's note gets OID 2
  await a.transaction(async (tx) => {
    const root = await tx.root();
    const fromB = (await root.get('b')) as Note;
    fromB.text = 'changed by a';
    root.set('c', note('c')); // must not take OID 2 from a's stale pool
  }, { attempts: 1 });
  const texts = await a.read(async (tx) => {
    const root = await tx.root();
    return [((await root.get('b')) as Note).text, ((await root.get('c')) as Note).text];
  });
  t.same(texts, ['changed by a', 'c'], 'both the change and the new object were committed, apart');
});
