// FileStorage against the shared Storage conformance suite, writable and read-only.

import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStorage } from '../../../storage/file/storage.js';
import { storageConformance, type StorageUnderTest } from '../conformance.js';

async function fileStorage(isReadOnly: boolean): Promise<StorageUnderTest> {
  const dir = await mkdtemp(join(tmpdir(), 'zeo-fs-conformance-'));
  const path = join(dir, 'Data.fs');
  if (isReadOnly) {
    // A read-only storage needs a file to open: one with a root object in it.
    const writer = await FileStorage.open(path);
    await writer.commit({ stores: [{ oid: 0n, baseTid: 0n, data: new Uint8Array([1]), refs: [] }] });
    await writer.close();
  }
  return {
    storage: await FileStorage.open(path, { isReadOnly }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

storageConformance(t, 'FileStorage', () => fileStorage(false), { readOnlyFactory: () => fileStorage(true) });
