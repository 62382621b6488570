// The storages the object-layer tests run against: every test that takes a factory runs once on
// MemoryStorage and once on a FileStorage in a temporary directory (removed afterwards).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { FileStorage, MemoryStorage, type Storage } from '../../../index.js';

export type StorageFactory = () => Promise<Storage>;

type TestBody = (t: Test, newStorage: StorageFactory) => Promise<void>;

/** Runs `body` as a subtest per storage kind; storages it makes are closed and removed after. */
export function testOnEachStorage(name: string, body: TestBody): void {
  t.test(`${name} [MemoryStorage]`, async (t) => {
    const made: Storage[] = [];
    t.teardown(async () => {
      for (const storage of made) await storage.close();
    });
    await body(t, async () => {
      const storage = new MemoryStorage();
      made.push(storage);
      return storage;
    });
  });
  t.test(`${name} [FileStorage]`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'zeo-objects-'));
    const made: Storage[] = [];
    t.teardown(async () => {
      for (const storage of made) await storage.close();
      await rm(dir, { recursive: true, force: true });
    });
    await body(t, async () => {
      const storage = await FileStorage.open(join(dir, `${made.length}.fs`), { showProgress: false });
      made.push(storage);
      return storage;
    });
  });
}
