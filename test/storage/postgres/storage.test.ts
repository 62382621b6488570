// PostgresStorage against a real PostgreSQL (127.0.0.1:5432, user postgres, database test; each
// storage in its own throw-away schema): the shared Storage conformance suite, then what only a
// storage shared by several instances has to get right: commits and conflicts across instances,
// invalidations from every instance in TID order, a LISTEN connection that drops.

import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { ClientStorage } from '../../../storage/client/storage.js';
import type { Invalidation, Storage } from '../../../storage/contract.js';
import { openPostgresStorage, PostgresStorage, type PostgresStorageOptions } from '../../../storage/postgres/storage.js';
import { startStorageServer } from '../../../storage/server/storage-server.js';
import { MAX_U64 } from '../../../storage/tid.js';
import { storageConformance } from '../conformance.js';
import { eventually, expectRejection, within } from '../conformance/support.js';
import { dropSchema, openOn, POSTGRES_URL, randomSchemaName, sql, testSchema } from './fixtures/schemas.js';

storageConformance(t, 'PostgresStorage', async () => {
  const schema = randomSchemaName();
  const storage = await PostgresStorage.open({ connectionString: POSTGRES_URL, schema });
  return { storage, cleanup: () => dropSchema(schema) };
}, {
  readOnlyFactory: async () => {
    const schema = randomSchemaName();
    await (await PostgresStorage.open({ connectionString: POSTGRES_URL, schema })).close();
    const storage = await PostgresStorage.open({ connectionString: POSTGRES_URL, schema, isReadOnly: true });
    return { storage, cleanup: () => dropSchema(schema) };
  },
});

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);
const decode = (data: Uint8Array) => new TextDecoder().decode(data);

/** Every invalidation a storage's listeners hear, from now on. */
function heardBy(storage: Storage): Invalidation[] {
  const heard: Invalidation[] = [];
  storage.onInvalidation((inv) => heard.push(inv));
  return heard;
}

const isChainedFrom = (heard: Invalidation[], startTid: bigint) =>
  heard.every((inv, i) => inv.prevTid === (i === 0 ? startTid : heard[i - 1]!.tid) && inv.tid > inv.prevTid);

t.test('a commit on one instance reaches the listeners of another, in order, prevTid chained', async (t) => {
  const schema = testSchema(t);
  const a = await openOn(t, schema, { name: 'a' });
  const b = await openOn(t, schema, { name: 'b' });
  const heardByA = heardBy(a);
  const heardByB = heardBy(b);
  const start = await b.lastTransaction();
  t.equal(start, 0n, 'a new schema is empty');
  const [x, y] = await a.newOids(2);
  const t1 = (await a.commit({ stores: [{ oid: x!, baseTid: 0n, data: bytes('x1'), refs: [] }] })).tid;
  const t2 = (await b.commit({ stores: [{ oid: y!, baseTid: 0n, data: bytes('y1'), refs: [] }] })).tid;
  const t3 = (await a.commit({ stores: [{ oid: x!, baseTid: t1, data: bytes('x2'), refs: [] },
    { oid: y!, baseTid: t2, data: bytes('y2'), refs: [] }] })).tid;
  t.ok(t1 < t2 && t2 < t3, 'TIDs from both instances increase');
  await eventually('three invalidations on each instance', () => heardByA.length >= 3 && heardByB.length >= 3);
  const expected = [
    { tid: t1, prevTid: 0n, oids: [x] },
    { tid: t2, prevTid: t1, oids: [y] },
    { tid: t3, prevTid: t2, oids: [x, y] },
  ];
  t.same(heardByB, expected, 'b hears its own commit and a\'s, each once, in TID order');
  t.same(heardByA, expected, 'a hears the same');
  t.equal(await b.lastTransaction(), t3, 'lastTransaction is the last TID heard');
  t.same(await b.load(x!), { data: bytes('x2'), tid: t3 }, 'b reads what a wrote');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(heardByA.length + heardByB.length, 6, 'no NOTIFY coming back makes a duplicate');
});

t.test('conflicts are detected across instances, also when a vote waits for the other', async (t) => {
  const schema = testSchema(t);
  const a = await openOn(t, schema, { name: 'a' });
  const b = await openOn(t, schema, { name: 'b' });
  const [x, y] = await a.newOids(2);
  const t1 = (await a.commit({ stores: [{ oid: x!, baseTid: 0n, data: bytes('x1'), refs: [] },
    { oid: y!, baseTid: 0n, data: bytes('y1'), refs: [] }] })).tid;
  const t2 = (await b.commit({ stores: [{ oid: x!, baseTid: t1, data: bytes('x by b'), refs: [] }] })).tid;
  await expectRejection(t, a.commit({ stores: [{ oid: x!, baseTid: t1, data: bytes('lost'), refs: [] }] }),
    'ZEO_CONFLICT', { oid: x, baseTid: t1, currentTid: t2, isReadConflict: false },
    'a write on a based on a revision b replaced');
  await expectRejection(t, a.commit({ stores: [{ oid: y!, baseTid: t1, data: bytes('y2'), refs: [] }],
    readCurrent: [{ oid: x!, tid: t1 }] }), 'ZEO_CONFLICT', { oid: x, currentTid: t2, isReadConflict: true },
    'a must-be-current read of what b changed');

  // a holds the commit lock (voted); b's vote must wait for it, then see a's write.
  const first = await a.tpcBegin();
  first.store(y!, t1, bytes('y by a'), []);
  await first.vote();
  const second = await b.tpcBegin();
  second.store(y!, t1, bytes('y by b'), []);
  let hasSecondVoteSettled = false;
  const secondVote = second.vote().finally(() => {
    hasSecondVoteSettled = true;
  });
  secondVote.catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.notOk(hasSecondVoteSettled, 'b\'s vote waits while a holds the commit lock');
  const { tid: t3 } = await first.finish();
  await expectRejection(t, secondVote, 'ZEO_CONFLICT', { oid: y, baseTid: t1, currentTid: t3 },
    'then conflicts with what a committed');
  await second.abort();
  t.same(await b.load(y!), { data: bytes('y by a'), tid: t3 }, 'no lost update');
});

t.test('concurrent committers on two instances: strictly increasing TIDs, no lost update', async (t) => {
  const schema = testSchema(t);
  const instances = [await openOn(t, schema, { name: 'a' }), await openOn(t, schema, { name: 'b' })];
  const [counter] = await instances[0]!.newOids(1);
  const start = (await instances[0]!.commit({ stores: [{ oid: counter!, baseTid: 0n, data: bytes('0'), refs: [] }] })).tid;
  for (const storage of instances) {
    for (let i = 0; (await storage.lastTransaction()) !== start; i++) {
      if (i > 2000) throw new Error(`${storage.name} never heard the first commit`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  const logs = instances.map(heardBy);
  const committersPerInstance = 3;
  const incrementsEach = 10;
  const total = instances.length * committersPerInstance * incrementsEach;
  const tids = (await Promise.all(instances.flatMap((storage) =>
    Array.from({ length: committersPerInstance }, async () => {
      const mine: bigint[] = [];
      while (mine.length < incrementsEach) {
        const { data, tid } = await storage.load(counter!);
        try {
          const next = String(Number(decode(data)) + 1);
          mine.push((await storage.commit({ stores: [{ oid: counter!, baseTid: tid, data: bytes(next), refs: [] }] })).tid);
        } catch (error) {
          if ((error as { code?: string }).code !== 'ZEO_CONFLICT') throw error;
        }
      }
      return mine;
    })))).flat();
  t.equal(decode((await instances[1]!.load(counter!)).data), String(total), `the counter reached ${total}`);
  t.equal(new Set(tids).size, total, 'every commit got its own TID');
  const iterated: bigint[] = [];
  for await (const txn of instances[0]!.iterator(start + 1n)) iterated.push(txn.tid);
  t.same(iterated, [...tids].sort((p, q) => (p < q ? -1 : 1)), 'the iterator shows exactly these commits');
  t.ok(iterated.every((tid, i) => i === 0 || tid > iterated[i - 1]!), 'in strictly increasing order');
  await eventually(`${total} invalidations on each instance`, () => logs.every((log) => log.length >= total));
  for (const [i, log] of logs.entries()) {
    t.same(log.map((inv) => inv.tid), iterated, `instance ${i} heard every commit once, in TID order`);
    t.ok(isChainedFrom(log, start), `instance ${i}: each prevTid is the TID before`);
  }
});

t.test('a dropped LISTEN connection reconnects and catches up from the transactions table', async (t) => {
  const schema = testSchema(t);
  const writer = await openOn(t, schema, { name: 'writer' });
  const follower = await openOn(t, schema, { name: `follower-${schema}` });
  const heard = heardBy(follower);
  const [x] = await writer.newOids(1);
  let tid = (await writer.commit({ stores: [{ oid: x!, baseTid: 0n, data: bytes('0'), refs: [] }] })).tid;
  await eventually('the first invalidation', () => heard.length === 1);
  const terminated = await sql<{ done: boolean }>(
    `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = $1`,
    [`zeo-ts follower-${schema} listen`]);
  t.same(terminated, [{ done: true }], 'the follower\'s LISTEN connection was killed');
  const tids = [tid];
  for (let i = 1; i <= 5; i++) {
    tid = (await writer.commit({ stores: [{ oid: x!, baseTid: tid, data: bytes(String(i)), refs: [] }] })).tid;
    tids.push(tid);
  }
  await eventually('the commits made while the follower was not listening', () => heard.length >= 6);
  t.same(heard.map((inv) => inv.tid), tids, 'each heard once, in order');
  t.ok(isChainedFrom(heard, 0n), 'prevTid chained across the reconnect');
  const after = (await writer.commit({ stores: [{ oid: x!, baseTid: tid, data: bytes('after'), refs: [] }] })).tid;
  await eventually('a commit after the reconnect, through NOTIFY', () => heard.at(-1)?.tid === after);
});

t.test('OIDs above 2^63 - 1 are refused with InvalidArgumentError; TID bounds above it mean "all"', async (t) => {
  const schema = testSchema(t);
  const storage = await openOn(t, schema);
  const tooBig = 1n << 63n;
  const t1 = (await storage.commit({ stores: [{ oid: 1n, baseTid: 0n, data: bytes('a'), refs: [] }] })).tid;
  await expectRejection(t, storage.commit({ stores: [{ oid: tooBig, baseTid: 0n, data: bytes('x'), refs: [] }] }),
    'ZEO_INVALID_ARGUMENT', {}, 'storing OID 2^63');
  await expectRejection(t, storage.commit({ stores: [{ oid: 1n, baseTid: t1, data: bytes('x'), refs: [tooBig] }] }),
    'ZEO_INVALID_ARGUMENT', {}, 'a ref to OID 2^63');
  await expectRejection(t, storage.load(tooBig), 'ZEO_INVALID_ARGUMENT', {}, 'load(2^63)');
  const largest = (1n << 63n) - 1n;
  const t2 = (await storage.commit({ stores: [{ oid: largest, baseTid: 0n, data: bytes('edge'), refs: [largest] }] })).tid;
  t.same(await storage.load(largest), { data: bytes('edge'), tid: t2 }, 'OID 2^63 - 1 is fine');
  const before = await storage.loadBefore(1n, MAX_U64);
  t.same(before, { data: bytes('a'), start: t1, end: null }, 'loadBefore(oid, 2^64 - 1) is the current revision');
  const all: bigint[] = [];
  for await (const txn of storage.iterator(0n, MAX_U64)) all.push(txn.tid);
  t.same(all, [t1, t2], 'the iterator up to 2^64 - 1 shows everything');
  t.equal(await storage.lastTransaction(), t2, 'refused commits left nothing');
});

t.test('instances opening one new schema at once all succeed; their OIDs never overlap', async (t) => {
  const schema = testSchema(t);
  const instances = await Promise.all([1, 2, 3].map((i) => openOn(t, schema, { name: `i${i}` })));
  const batches = await Promise.all(instances.flatMap((storage) => [storage.newOids(20), storage.newOids(1)]));
  const all = batches.flat();
  t.equal(new Set(all).size, 63, 'every OID handed out once across instances');
  const highest = all.reduce((p, q) => (p > q ? p : q));
  await instances[0]!.commit({ stores: [{ oid: highest + 10n, baseTid: 0n, data: bytes('far'), refs: [] }] });
  const [next] = await instances[1]!.newOids(1);
  t.ok(next! > highest + 10n, 'an OID stored by one instance is never handed out by another');
});

t.test('an OID handed out is never handed out again: not by a reopened instance, not by another one', async (t) => {
  const schema = testSchema(t);
  const first = await openOn(t, schema, { name: 'first' });
  const taken = await first.newOids(10);
  await first.close();
  const reopened = await openOn(t, schema, { name: 'reopened' });
  const other = await openOn(t, schema, { name: 'other' });
  const later = [...(await reopened.newOids(10)), ...(await other.newOids(10))];
  const highest = taken.reduce((p, q) => (p > q ? p : q));
  t.ok(later.every((oid) => oid > highest), 'nothing committed, yet the counter in the schema kept them');
});

t.test('pack on one instance while another commits', async (t) => {
  const schema = testSchema(t);
  const a = await openOn(t, schema, { name: 'a' });
  const b = await openOn(t, schema, { name: 'b' });
  const [child, garbage] = await a.newOids(2);
  const t1 = (await a.commit({ stores: [{ oid: 0n, baseTid: 0n, data: bytes('root'), refs: [child!] },
    { oid: child!, baseTid: 0n, data: bytes('c0'), refs: [] }, { oid: garbage!, baseTid: 0n, data: bytes('g'), refs: [] }] })).tid;
  let tid = t1;
  for (let i = 1; i <= 10; i++) {
    tid = (await b.commit({ stores: [{ oid: child!, baseTid: tid, data: bytes(`c${i}`), refs: [] }] })).tid;
  }
  const [packed, during] = await Promise.all([
    a.pack(tid),
    b.commit({ stores: [{ oid: child!, baseTid: tid, data: bytes('during'), refs: [] }] }),
  ]);
  t.same(packed, { removedRevisions: 11, removedObjects: 1 }, 'c0..c9 and the garbage object');
  t.same((await b.history(child!)).map((h) => h.tid), [during.tid, tid], 'the commit made during pack stays');
  await expectRejection(t, b.load(garbage!), 'ZEO_NOT_FOUND', {}, 'the garbage object is gone for b too');
});

t.test('closing leaves no open handles: a process that opened two instances exits by itself', async (t) => {
  const schema = testSchema(t);
  const child = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/child.js', import.meta.url)), schema],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(killer);
  t.equal(signal, null, 'it was not killed after 30 s (a handle kept it alive)');
  t.equal(code, 0, 'it exited cleanly');
  t.match(output, /"tid":"\d+"/, 'after committing and hearing the commit on the other instance');
  const left = await sql(`SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'zeo-ts child-%'`);
  t.same(left, [], 'no PostgreSQL connection of the child is left');
});

t.test('a voted transaction left idle past voteTimeoutMs is rolled back by PostgreSQL and frees the lock', async (t) => {
  const schema = testSchema(t);
  const hung = await openOn(t, schema, { name: 'hung', voteTimeoutMs: 300 });
  const other = await openOn(t, schema, { name: 'other' });
  const [x, y] = await hung.newOids(2);
  const voted = await hung.tpcBegin();
  voted.store(x!, 0n, bytes('never'), []);
  await voted.vote();
  const { tid } = await within(10_000, 'a commit on another instance while the first one hangs after vote',
    other.commit({ stores: [{ oid: y!, baseTid: 0n, data: bytes('y'), refs: [] }] }));
  await expectRejection(t, voted.finish(), 'ZEO_UNAVAILABLE', {}, 'the late finish says it failed');
  await expectRejection(t, other.load(x!), 'ZEO_NOT_FOUND', {}, 'nothing of the rolled-back transaction was written');
  const next = await hung.commit({ stores: [{ oid: x!, baseTid: 0n, data: bytes('x'), refs: [] }] });
  t.ok(next.tid > tid, 'the instance whose session was ended still commits');
});

t.test('two storage servers on one schema: commits through one reach clients of the other; a client fails over', async (t) => {
  const schema = testSchema(t);
  const quiet = () => undefined;
  const [pg1, pg2] = [await openOn(t, schema, { name: 'server-1' }), await openOn(t, schema, { name: 'server-2' })];
  const server1 = await startStorageServer({ storages: { main: pg1 }, log: quiet });
  const server2 = await startStorageServer({ storages: { main: pg2 }, log: quiet });
  const [address1, address2] = [server1, server2].map((server) => `127.0.0.1:${server.address.port}`);
  const watcher = await ClientStorage.open({ servers: [address2!], log: quiet });
  const client = await ClientStorage.open({ servers: [address1!, address2!], unavailableTimeoutMs: 20_000, log: quiet });
  t.teardown(async () => {
    await Promise.all([client.close(), watcher.close()]);
    await Promise.all([server1.close(), server2.close()]);
  });
  const heard = heardBy(watcher);
  t.equal(client.stats().server, address1, 'the client uses the first server listed');

  const [x] = await client.newOids(1);
  const t1 = (await client.commit({ stores: [{ oid: x!, baseTid: 0n, data: bytes('one'), refs: [] }] })).tid;
  await eventually('the watcher hears the commit made through the other server', () => heard.some((inv) => inv.tid === t1));
  t.same(await watcher.load(x!), { data: bytes('one'), tid: t1 }, 'and loads it');

  await server1.close();
  const t2 = (await client.commit({ stores: [{ oid: x!, baseTid: t1, data: bytes('two'), refs: [] }] })).tid;
  t.equal(client.stats().server, address2, 'with the first server gone, the client committed through the second');
  t.ok(t2 > t1);
  await eventually('the watcher hears the commit after the failover', () => heard.some((inv) => inv.tid === t2));
  t.same(heard.map((inv) => inv.tid), [t1, t2], 'each commit heard once, in order');
  t.same(await client.load(x!), { data: bytes('two'), tid: t2 }, 'the client reads its own write after the failover');
});

t.test('options are checked at open; an unreachable database is UnavailableError', async (t) => {
  const open = (options: Partial<PostgresStorageOptions>) => () =>
    PostgresStorage.open({ connectionString: POSTGRES_URL, ...options } as PostgresStorageOptions);
  await expectRejection(t, open({ schema: 'Bad-Name' }), 'ZEO_INVALID_ARGUMENT', { argument: 'schema' }, 'a schema name that is no plain identifier');
  await expectRejection(t, open({ connectionString: '' }), 'ZEO_INVALID_ARGUMENT', {}, 'no connection string');
  await expectRejection(t, open({ schema: randomSchemaName(), poolSize: 0 }), 'ZEO_INVALID_ARGUMENT', {}, 'poolSize 0');
  await expectRejection(t, open({ schema: randomSchemaName(), isReadOnly: true }), 'ZEO_INVALID_ARGUMENT',
    { argument: 'schema' }, 'read-only on a schema without tables (a read-only instance creates nothing)');
  await expectRejection(t, open({ connectionString: 'postgres://postgres@127.0.0.1:1/test', schema: randomSchemaName() }),
    'ZEO_UNAVAILABLE', {}, 'nothing listens on the port');
  await expectRejection(t, () => openPostgresStorage({ name: 'main', postgresUrl: null, postgresSchema: 'zeo' }),
    'ZEO_INVALID_ARGUMENT', { argument: 'storage.postgresUrl' }, 'openPostgresStorage without a URL');

  const schema = testSchema(t);
  const storage = await openPostgresStorage({ name: 'main', postgresUrl: POSTGRES_URL, postgresSchema: schema });
  t.teardown(() => storage.close());
  t.equal(storage.name, 'main', 'openPostgresStorage takes the config section as it is');
  const { tid } = await storage.commit({ stores: [{ oid: 0n, baseTid: 0n, data: bytes('root'), refs: [] }] });
  t.equal(await storage.lastTransaction(), tid);
});

t.test('connections killed under the storage: a voted transaction fails as unavailable, the rest goes on', async (t) => {
  const schema = testSchema(t);
  const name = `victim-${schema}`;
  const storage = await openOn(t, schema, { name });
  const [x] = await storage.newOids(1);
  const t1 = (await storage.commit({ stores: [{ oid: x!, baseTid: 0n, data: bytes('one'), refs: [] }] })).tid;
  const voted = await storage.tpcBegin();
  voted.store(x!, t1, bytes('lost with its connection'), []);
  await voted.vote();
  const killed = await sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [`zeo-ts ${name}`]);
  t.ok(killed.length >= 1, `every pool connection was killed (${killed.length})`);
  await expectRejection(t, voted.finish(), 'ZEO_UNAVAILABLE', {}, 'finish after the connection died');
  t.same(await storage.load(x!), { data: bytes('one'), tid: t1 }, 'the pool reconnects; nothing of the dead vote was written');
  const t2 = (await storage.commit({ stores: [{ oid: x!, baseTid: t1, data: bytes('two'), refs: [] }] })).tid;
  t.ok(t2 > t1, 'and commits go on');
});
