import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { BTree, DB, FileStorage, MemoryStorage, Persistent, type Storage } from '../../../index.js';

class Account extends Persistent {
  owner = '';
  balance = 0;
}

const ACCOUNTS = 20;
const INITIAL = 100;

async function bank(t: { comment(message: string): void }, storage: Storage): Promise<void> {
  const db = await DB.open(storage, { classes: [Account], cacheSize: 50 });
  await db.transaction(async (tx) => {
    const accounts = new BTree<string, Account>({ maxBucketSize: 4 });
    (await tx.root()).set('accounts', accounts);
    for (let i = 0; i < ACCOUNTS; i++) {
      await accounts.set(`acct-${i}`, Object.assign(new Account(), { owner: `owner ${i}`, balance: INITIAL }));
    }
  });
  const sum = () =>
    db.read(async (tx) => {
      const accounts = (await (await tx.root()).get('accounts')) as BTree<string, Account>;
      let total = 0;
      for await (const [, account] of accounts.entries()) {
        total += account.balance;
        await new Promise((r) => setImmediate(r)); // let transfers commit mid-read
      }
      return total;
    });
  let isDone = false;
  const totals: number[] = [];
  const reader = (async () => {
    while (!isDone) totals.push(await sum());
  })();
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const transfers = Array.from({ length: 4 }, async () => {
    for (let i = 0; i < 40; i++) {
      const from = `acct-${Math.floor(next() * ACCOUNTS)}`;
      const to = `acct-${Math.floor(next() * ACCOUNTS)}`;
      const amount = 1 + Math.floor(next() * 10);
      await db.transaction(
        async (tx) => {
          const accounts = (await (await tx.root()).get('accounts')) as BTree<string, Account>;
          const source = (await accounts.get(from))!;
          const target = (await accounts.get(to))!;
          await new Promise((r) => setImmediate(r));
          if (source.balance < amount) return;
          source.balance -= amount;
          target.balance += amount;
        },
        { attempts: 50, backoff: 1 },
      );
    }
  });
  await Promise.all(transfers);
  isDone = true;
  await reader;
  totals.push(await sum());
  t.comment(`${totals.length} snapshot sums, ${db.stats().conflicts} conflicts retried`);
  await db.close();
  const wrong = totals.filter((total) => total !== ACCOUNTS * INITIAL);
  if (wrong.length > 0) throw new Error(`totals changed: ${wrong.join(', ')}`);
}

t.test('bank invariant on MemoryStorage: concurrent transfers never change the total any snapshot sees', async (t) => {
  await t.resolves(bank(t, new MemoryStorage()));
});

t.test('bank invariant on FileStorage', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'zeo-bank-'));
  const storage = await FileStorage.open(join(dir, 'bank.fs'), { showProgress: false });
  t.teardown(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });
  await t.resolves(bank(t, storage));
});
