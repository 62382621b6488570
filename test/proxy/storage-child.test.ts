// The storage server as a real child process of the launcher: it listens, it is restarted on the
// same port when killed, and stop() leaves no process behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { isAlive, waitFor } from '../bin/process-helpers.js';
import { loadConfig } from '../../config/load.js';
import { silentLogger } from '../../log.js';
import { StorageServerChild } from '../../proxy/storage-child.js';

const folder = mkdtempSync(join(tmpdir(), 'zeo-storage-child-'));
t.teardown(() => rmSync(folder, { recursive: true, force: true }));
const config = loadConfig({
  file: null,
  env: {},
  overrides: { storage: { kind: 'file', path: join(folder, 'Data.fs') }, storageServer: { listen: { host: '127.0.0.1', port: 0 } } },
});

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

t.test('the child listens, is restarted on the same port after a crash, and stops cleanly', async (t) => {
  const child = new StorageServerChild({ config, log: silentLogger, stopTimeoutMs: 5_000 });
  t.teardown(() => child.stop());
  const address = await child.start();
  t.not(address.port, 0, 'a real port was picked');
  t.ok(await canConnect(address.port), 'it accepts connections');
  const firstPid = child.pid!;
  t.ok(isAlive(firstPid));

  process.kill(firstPid, 'SIGKILL');
  await waitFor('the restart', () => child.pid !== null && child.pid !== firstPid && child.restarts === 1);
  await waitFor('the new child to listen', () => canConnect(address.port));
  t.notOk(isAlive(firstPid), 'the killed child is gone');
  t.equal(child.restarts, 1);
  const secondPid = child.pid!;

  await child.stop();
  t.notOk(isAlive(secondPid), 'stop() ends the child');
  t.notOk(await canConnect(address.port), 'nothing listens any more');
});

t.test('a MemoryStorage server that dies is reported lost, not restarted empty', async (t) => {
  const memory = loadConfig({ file: null, env: {}, overrides: { storage: { kind: 'memory' }, storageServer: { listen: { port: 0 } } } });
  let lostReason: string | null = null;
  const child = new StorageServerChild({ config: memory, log: silentLogger, onLost: (reason) => (lostReason = reason) });
  t.teardown(() => child.stop());
  await child.start();
  const pid = child.pid!;
  process.kill(pid, 'SIGKILL');
  const reason = await waitFor('the loss to be reported', () => lostReason);
  t.match(reason, /MemoryStorage data/);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  t.equal(child.restarts, 0, 'no restart');
  t.equal(child.pid, null);
});

t.test('a child that cannot start rejects start() with a clear error', async (t) => {
  // A port already taken: the child fails to listen and exits.
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const taken = loadConfig({ file: null, env: {}, overrides: { storage: { kind: 'memory' }, storageServer: { listen: { port } } } });
  const child = new StorageServerChild({ config: taken, log: silentLogger });
  t.teardown(() => child.stop());
  await t.rejects(child.start(), { code: 'ZEO_UNAVAILABLE', message: /exited \(code \d+\) before it listened/ });
  t.equal(child.pid, null, 'no child left running');
});
