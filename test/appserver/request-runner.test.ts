// The request runner over a real DB on a MemoryStorage: one transaction per request, commit
// rules, conflict retries (real conflicts from concurrent requests), the TID header and cookie.
import t from 'tap';
import counterApp from './fixtures/counter-app.js';
import { openDatabase } from '../../appserver/db-transactions.js';
import { RequestRunner, requestedTid, responseToData, TID_HEADER, type RequestData } from '../../appserver/request-runner.js';
import { DEFAULTS } from '../../config/schema.js';
import { MemoryStorage } from '../../storage/memory/storage.js';
import { toHex } from '../../storage/tid.js';

async function runner(conflictRetries = 3) {
  const storage = new MemoryStorage();
  const logged: string[] = [];
  const { transactions, db } = await openDatabase(storage, counterApp, DEFAULTS);
  const run = new RequestRunner({
    app: counterApp,
    transactions,
    storage,
    workerId: 7,
    conflictRetries,
    syncTimeoutMs: 200,
    log: (level, message) => logged.push(`${level}: ${message}`),
  });
  const count = () => db.read(async (tx) => (await tx.root()).get('count'));
  return { run, storage, count, logged };
}

const req = (method: string, path: string, headers: Array<[string, string]> = []): RequestData => ({
  method,
  url: 'http://site' + path,
  headers,
  body: null,
});

t.test('a changing request below 500 commits and carries its TID in a header and a cookie', async (t) => {
  const { run, storage, count } = await runner();
  const response = await run.run(req('POST', '/increment'));
  t.equal(response.status, 200);
  t.same(await response.json(), { count: 1, workerId: 7 });
  t.equal(await count(), 1);
  const tid = toHex(await storage.lastTransaction());
  t.equal(response.headers.get(TID_HEADER), tid, 'the header names the committed TID');
  t.same(response.headers.getSetCookie(), [`zeo_tid=${tid}; Path=/; HttpOnly; SameSite=Lax`]);
  const notFound = await run.run(req('POST', '/increment-then-404'));
  t.equal(notFound.status, 404);
  t.equal(await count(), 2, 'a 4xx answer still commits');
});

t.test('a request that changes nothing does not commit and carries no TID', async (t) => {
  const { run, storage } = await runner();
  const before = await storage.lastTransaction();
  const response = await run.run(req('GET', '/count'));
  t.equal(response.status, 200);
  t.equal(response.headers.get(TID_HEADER), null);
  t.equal(await storage.lastTransaction(), before, 'no transaction was written');
});

t.test('500, a thrown error and readOnly() all abort', async (t) => {
  const { run, count, logged } = await runner();
  t.equal((await run.run(req('POST', '/increment-then-500'))).status, 500);
  const thrown = await run.run(req('POST', '/increment-then-throw'));
  t.equal(thrown.status, 500);
  t.notMatch(await thrown.text(), /thrown after writing/, 'the error stays in the log');
  t.ok(logged.some((line) => line.startsWith('error: request failed')), 'the error was logged');
  const readOnly = await run.run(req('POST', '/increment-read-only'));
  t.equal(readOnly.status, 200);
  t.equal(readOnly.headers.get(TID_HEADER), null);
  t.equal(await count(), 0, 'none of the three writes stuck');
  t.equal(run.stats.errors, 2);
});

t.test('concurrent writers of one object conflict; the loser runs again and both count', async (t) => {
  const { run, count } = await runner();
  const answers = await Promise.all([1, 2, 3].map(() => run.run(req('POST', '/increment?delay=30'))));
  t.same(answers.map((answer) => answer.status), [200, 200, 200]);
  t.equal(await count(), 3, 'every increment applied exactly once');
  t.ok(run.stats.conflicts >= 1, `conflicts happened and were retried (${run.stats.conflicts})`);
});

t.test('a request that keeps conflicting gets 503 after 1 + conflictRetries runs', async (t) => {
  const { run } = await runner(2);
  const before = Number(await (await run.run(req('GET', '/conflict-attempts'))).text());
  const response = await run.run(req('POST', '/conflict-always'));
  t.equal(response.status, 503);
  t.match(await response.text(), /collided with concurrent writes 3 times/);
  const after = Number(await (await run.run(req('GET', '/conflict-attempts'))).text());
  t.equal(after - before, 3, 'ran three times');
  t.equal(run.stats.conflictsExhausted, 1);
});

t.test('the TID a client has seen is read from the header, else the cookie; junk is ignored', async (t) => {
  t.equal(requestedTid([['x-zeo-tid', '00000000000000ff']]), 255n);
  t.equal(requestedTid([['cookie', 'a=1; zeo_tid=10; b=2']]), 16n);
  t.equal(requestedTid([['X-Zeo-Tid', 'nonsense'], ['cookie', 'zeo_tid=20']]), 32n, 'a bad header falls back to the cookie');
  t.equal(requestedTid([['cookie', 'zeo_tid=zz']]), null);
  t.equal(requestedTid([]), null);
});

t.test('a response becomes port data with set-cookie kept apart and the body as one buffer', async (t) => {
  const headers = new Headers({ 'x-a': '1' });
  headers.append('set-cookie', 'a=1');
  headers.append('set-cookie', 'b=2');
  const data = await responseToData(new Response('hello', { status: 201, headers }));
  t.equal(data.status, 201);
  t.same(data.headers.filter(([name]) => name === 'set-cookie'), [['set-cookie', 'a=1'], ['set-cookie', 'b=2']]);
  t.equal(Buffer.from(data.body!).toString(), 'hello');
  t.equal((await responseToData(new Response(null, { status: 204 }))).body, null);
});

t.test('a request that makes no valid Request (bad Host) is a 400, not a server error', async (t) => {
  const { run } = await runner();
  const response = await run.run({ method: 'GET', url: 'http://bad host/count', headers: [], body: null });
  t.equal(response.status, 400);
  t.match(await response.text(), /^bad request: /);
  t.equal(run.stats.errors, 0);
});

t.test('a request with a TID the app server cannot catch up with in time gets 503, not stale data', async (t) => {
  // A storage that says it is behind and never catches up (its server is gone, say).
  const storage = Object.assign(new MemoryStorage(), {
    sync: () => new Promise<void>(() => {}),
  });
  const { transactions } = await openDatabase(storage, counterApp, DEFAULTS);
  const run = new RequestRunner({ app: counterApp, transactions, storage, workerId: 1, conflictRetries: 0, syncTimeoutMs: 150, log: () => {} });
  const ahead = toHex((await storage.lastTransaction()) + 1000n);
  const started = Date.now();
  const response = await run.run(req('GET', '/count', [['x-zeo-tid', ahead]]));
  t.equal(response.status, 503);
  t.match(await response.text(), new RegExp(`not yet caught up with transaction ${ahead}`));
  t.ok(Date.now() - started >= 140, 'it waited the bound first');
  t.equal(run.stats.catchUps, 1);
  const current = await run.run(req('GET', '/count', [['x-zeo-tid', toHex(await storage.lastTransaction())]]));
  t.equal(current.status, 200, 'a TID it already has needs no wait');
});
