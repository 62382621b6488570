// The writer's lock of FileStorage, across real processes: a second writer is refused while a
// reader may open; a lock left by a killed process is stale and taken over.

import t from 'tap';
import { access } from 'node:fs/promises';
import { StorageLockedError } from '../../../errors.js';
import { FileStorage } from '../../../storage/file/storage.js';
import { startChild } from './fixtures/child.js';
import { tempStoragePath, text } from './fixtures/helpers.js';

const HOLDER = './holder.js';

t.test('a second process cannot open for writing; reading works; a killed holder is stale', async (t) => {
  const path = await tempStoragePath(t);
  const holder = startChild(t, HOLDER, [path]);
  const ready = JSON.parse(await holder.waitForLine(/^\{/)) as { pid: number; tid: string };

  const error = await FileStorage.open(path).catch((e: unknown) => e);
  t.type(error, StorageLockedError, 'a second writer is refused');
  t.match((error as StorageLockedError).message, new RegExp(`process ${ready.pid} on `), 'it names the holder');
  t.equal((error as StorageLockedError).file, path);

  const reader = await FileStorage.open(path, { isReadOnly: true });
  const root = await reader.load(0n);
  t.equal(text(root.data), `held by ${ready.pid}`, 'a reader sees what the writer committed');
  t.equal(root.tid, BigInt(ready.tid));
  await reader.close();

  holder.process.kill('SIGKILL');
  t.equal((await holder.exited).signal, 'SIGKILL');
  await access(path + '.lock'); // the dead process could not remove it
  const taker = await FileStorage.open(path);
  t.teardown(() => taker.close());
  t.equal(text((await taker.load(0n)).data), `held by ${ready.pid}`, 'the stale lock was taken over');
  await t.rejects(FileStorage.open(path), StorageLockedError, 'and is now held by this process');
});

t.test('a holder that closes cleanly removes its lock', async (t) => {
  const path = await tempStoragePath(t);
  const holder = startChild(t, HOLDER, [path]);
  await holder.waitForLine(/^\{/);
  holder.process.kill('SIGTERM');
  t.equal((await holder.exited).code, 0);
  await t.rejects(access(path + '.lock'), 'the lock file is gone');
  const second = startChild(t, HOLDER, [path]);
  const ready = JSON.parse(await second.waitForLine(/^\{/)) as { pid: number };
  t.ok(ready.pid > 0, 'another process opens it for writing');
  second.process.kill('SIGTERM');
  await second.exited;
});
