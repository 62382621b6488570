// Many processes, one database: a storage server process (FileStorage) and ClientStorage
// processes, in push mode and in Redis mode.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startClientProcess, startServerProcess } from '../fixtures/server-processes.js';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'zeo-mp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}


for (const mode of ['push', 'redis'] as const) {
  t.test(`${mode}: one process commits, the other reads the change (read-your-writes via sync, and on its own)`, async (t) => {
    const redis = mode === 'redis' ? { url: 'redis://127.0.0.1:6379', prefix: `zeo-test-${randomBytes(6).toString('hex')}:` } : null;
    const server = await startServerProcess(t, { kind: 'file', path: join(await tempDir(t), 'Data.fs'), redis });
    const clientOptions = { servers: [`127.0.0.1:${server.port}`], redis };
    const [writer, reader] = await Promise.all([startClientProcess(t, clientOptions), startClientProcess(t, clientOptions)]);
    const oid = '7';
    for (let i = 0; i < 15; i++) {
      const committed = await writer.request({ op: 'commit', oid, data: `value ${i}` });
      if (committed.error) t.fail(`round ${i}: commit failed: ${String(committed.error)}`);
      const read = await reader.request({ op: 'read', oid, syncTid: committed.tid });
      if (read.data !== `value ${i}` || read.tid !== committed.tid) {
        t.fail(`round ${i}: read ${String(read.data)} at ${String(read.tid)}, expected value ${i} at ${String(committed.tid)}`);
      }
    }
    t.pass('15 rounds: each read after sync(tid) saw the write');
    // Without sync: the invalidation reaches the reader by itself, quickly.
    const committed = await writer.request({ op: 'commit', oid, data: 'unsynced' });
    const started = Date.now();
    let read: Record<string, unknown>;
    do {
      read = await reader.request({ op: 'read', oid });
    } while (read.data !== 'unsynced' && Date.now() - started < 5000);
    t.equal(read.data, 'unsynced', `seen without sync after ${Date.now() - started} ms`);
    t.equal(read.tid, committed.tid);
    await Promise.all([writer.exit(), reader.exit()]);
  });
}
