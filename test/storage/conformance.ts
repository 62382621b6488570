// THE Storage conformance suite: every implementation of storage/contract.ts (MemoryStorage,
// FileStorage, CompressedStorage, ClientStorage, the PostgreSQL storage, ...) runs it from its own
// test file:
//
//   import t from 'tap';
//   import { storageConformance } from './conformance.js';
//   storageConformance(t, 'FileStorage', async () => {
//     const dir = await mkdtemp(join(tmpdir(), 'zeo-'));
//     return { storage: await FileStorage.open(join(dir, 'Data.fs')),
//              cleanup: () => rm(dir, { recursive: true, force: true }) };
//   });
//
// The factory must return a fresh, EMPTY, writable storage each time it is called (the suite
// closes it and then calls cleanup). Everything is checked through the contract alone, errors by
// their stable `code`, and asynchronous effects (invalidations) by polling with a generous
// deadline, never by sleeping, so a storage behind a network passes as well as a local one.
//
// The rules live in parts under test/storage/conformance/: reads (load, loadBefore, history,
// iterator, newOids), transactions (conflicts, aborts, 2PC phases, commit vs 2PC, invalidations),
// lifecycle (closed, bad arguments, read-only), pack, concurrency.

import type { Test } from 'tap';
import { concurrencyConformance, type ConcurrencyOptions } from './conformance/concurrency.js';
import { lifecycleConformance } from './conformance/lifecycle.js';
import { packConformance } from './conformance/pack.js';
import { readConformance } from './conformance/reads.js';
import type { StorageFactory } from './conformance/support.js';
import { transactionConformance } from './conformance/transactions.js';

export type { StorageFactory, StorageUnderTest } from './conformance/support.js';

export interface ConformanceOptions extends ConcurrencyOptions {
  /**
   * Makes a read-only storage (any content); when given, the suite also checks that it serves
   * reads and refuses writes with ReadOnlyError.
   */
  readOnlyFactory?: StorageFactory;
}

/** Runs every rule of the Storage contract against storages made by `factory`. */
export function storageConformance(
  t: Test,
  name: string,
  factory: StorageFactory,
  options: ConformanceOptions = {},
): void {
  t.test(`${name} honours the Storage contract`, async (t) => {
    t.test('reads', async (t) => readConformance(t, factory));
    t.test('transactions', async (t) => transactionConformance(t, factory));
    t.test('lifecycle', async (t) => lifecycleConformance(t, factory, options.readOnlyFactory));
    t.test('pack', async (t) => packConformance(t, factory));
    t.test('concurrency', async (t) => concurrencyConformance(t, factory, options));
  });
}
