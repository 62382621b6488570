// runStorageServerMain as `zeo storage-server` runs it, in a child process: one log line with
// the address and the invalidation mode, and SIGTERM in the middle of commits lets the commit
// in progress finish, closes the FileStorage and exits 0 with every acknowledged commit on disk.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientStorage } from '../../../storage/client/storage.js';
import { FileStorage } from '../../../storage/file/storage.js';
import { POSTGRES_URL, testSchema } from '../postgres/fixtures/schemas.js';
import { startServerProcess } from '../fixtures/server-processes.js';

t.test('SIGTERM during commits: the commit in progress finishes, the storage closes, exit 0', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'zeo-main-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'Data.fs');
  const server = await startServerProcess(t, { kind: 'file', path });
  t.match(server.log, new RegExp(`serving "main" \\(${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\) on tcp://127\\.0\\.0\\.1:${server.port}, last TID 0x[0-9a-f]{16}, invalidations pushed on client connections`));
  const client = await ClientStorage.open({ servers: [`127.0.0.1:${server.port}`], unavailableTimeoutMs: 500, log: () => undefined });
  t.teardown(() => client.close());
  const acknowledged: Array<{ oid: bigint; tid: bigint }> = [];
  let isRunning = true;
  const committing = (async () => {
    for (let oid = 1n; isRunning; oid++) {
      try {
        const { tid } = await client.commit({ stores: [{ oid, baseTid: 0n, data: randomBytes(2000), refs: [] }] });
        acknowledged.push({ oid, tid });
      } catch {
        isRunning = false;
      }
    }
  })();
  while (acknowledged.length < 20) await new Promise((r) => setTimeout(r, 10));
  const exitCode = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
  server.child.kill('SIGTERM');
  t.equal(await exitCode, 0, 'the server exited 0');
  isRunning = false;
  await committing;
  t.match(server.log, /SIGTERM: finishing commits in progress and closing/);

  const storage = await FileStorage.open(path);
  t.teardown(() => storage.close());
  let missing = 0;
  for (const { oid, tid } of acknowledged) {
    if ((await storage.load(oid).catch(() => null))?.tid !== tid) missing++;
  }
  t.equal(missing, 0, `all ${acknowledged.length} acknowledged commits are in the file`);
});

t.test('the log line names Redis when invalidations go through it', async (t) => {
  const redis = { url: 'redis://127.0.0.1:6379', prefix: `zeo-test-${randomBytes(6).toString('hex')}:` };
  const server = await startServerProcess(t, { kind: 'memory', redis });
  t.match(server.log, /serving "main" \(memory\) on tcp:\/\/127\.0\.0\.1:\d+, last TID 0x[0-9a-f]{16}, invalidations via redis redis:\/\/127\.0\.0\.1:6379/);
  t.match(server.log, `on channel ${redis.prefix}invalidations:main`, 'the channel named is the one published on');
});

t.test('compressAboveBytes > 0 serves a compressed FileStorage; clients see the data unchanged', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'zeo-main-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'Data.fs');
  const server = await startServerProcess(t, { kind: 'file', path, compressAboveBytes: 100 });
  const client = await ClientStorage.open({ servers: [`127.0.0.1:${server.port}`], log: () => undefined });
  t.teardown(() => client.close());
  const data = new Uint8Array(200_000).fill(7);
  const [oid] = await client.newOids();
  await client.commit({ stores: [{ oid: oid!, baseTid: 0n, data, refs: [] }] });
  const other = await ClientStorage.open({ servers: [`127.0.0.1:${server.port}`], log: () => undefined });
  t.teardown(() => other.close());
  t.ok(Buffer.from((await other.load(oid!)).data).equals(Buffer.from(data)), 'read back intact through the server');
  const exitCode = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
  server.child.kill('SIGTERM');
  t.equal(await exitCode, 0);
  const { size } = await stat(path);
  t.ok(size < 50_000, `the file holds ${size} bytes for 200 000 bytes of data`);
});

t.test('kind "postgres": stateless servers on one schema; SIGTERM exits 0 and a new server serves the same data', async (t) => {
  const postgresSchema = testSchema(t);
  const first = await startServerProcess(t, { kind: 'postgres', postgresUrl: POSTGRES_URL, postgresSchema });
  t.match(first.log, new RegExp(`serving "main" \\(postgresql schema ${postgresSchema}\\) on tcp://127\\.0\\.0\\.1:${first.port}`));
  const client = await ClientStorage.open({ servers: [`127.0.0.1:${first.port}`], log: () => undefined });
  const [oid] = await client.newOids();
  const { tid } = await client.commit({ stores: [{ oid: oid!, baseTid: 0n, data: new TextEncoder().encode('kept'), refs: [] }] });
  await client.close();
  const exitCode = new Promise<number | null>((resolve) => first.child.once('exit', (code) => resolve(code)));
  first.child.kill('SIGTERM');
  t.equal(await exitCode, 0, 'the first server exited 0');

  const second = await startServerProcess(t, { kind: 'postgres', postgresUrl: POSTGRES_URL, postgresSchema });
  const reader = await ClientStorage.open({ servers: [`127.0.0.1:${second.port}`], log: () => undefined });
  t.teardown(() => reader.close());
  const loaded = await reader.load(oid!);
  t.equal(loaded.tid, tid, 'the revision committed through the first server');
  t.equal(new TextDecoder().decode(loaded.data), 'kept');
});
