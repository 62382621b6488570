// Helpers shared by the parts of the Storage conformance suite (test/storage/conformance.ts).
// Nothing here knows a concrete storage: everything goes through the Storage contract.

import type { Test } from 'tap';
import type { Oid, Storage, Tid } from '../../../storage/contract.js';

export interface StorageUnderTest {
  storage: Storage;
  /** Removes what the factory made (temp files, server processes, schemas). */
  cleanup?: () => Promise<void>;
}

export type StorageFactory = () => Promise<StorageUnderTest>;

/**
 * A fresh, empty, writable storage for one test, closed and cleaned up when the test ends.
 * `close` must be idempotent (the contract says so), so tests may close it themselves.
 */
export async function freshStorage(t: Test, factory: StorageFactory): Promise<Storage> {
  const { storage, cleanup } = await factory();
  t.teardown(async () => {
    try {
      await storage.close();
    } finally {
      await cleanup?.();
    }
  });
  return storage;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const bytes = (text: string): Uint8Array => encoder.encode(text);
export const text = (data: Uint8Array): string => decoder.decode(data);

/** Commits one object with the one-call commit and returns the new TID. */
export async function put(
  storage: Storage,
  oid: Oid,
  baseTid: Tid,
  data: string,
  refs: readonly Oid[] = [],
): Promise<Tid> {
  const { tid } = await storage.commit({ stores: [{ oid, baseTid, data: bytes(data), refs }] });
  return tid;
}

/**
 * Awaits a promise expected to reject, and checks the error's stable `code` and the facts it
 * carries. Callers branch on `code`, so that is what is checked (not message text, not class
 * identity, which a network storage may not preserve). A function is called inside the check,
 * so a synchronous throw counts as a rejection.
 */
export async function expectRejection(
  t: Test,
  call: Promise<unknown> | (() => Promise<unknown>),
  code: string,
  facts: Record<string, unknown> = {},
  what = `rejects with ${code}`,
): Promise<Record<string, unknown> | undefined> {
  try {
    await (typeof call === 'function' ? call() : call);
  } catch (error) {
    const caught = error as Record<string, unknown>;
    t.equal(caught?.code, code, what, { error: String(error) });
    for (const [key, value] of Object.entries(facts)) {
      t.equal(caught?.[key], value, `${what}: error.${key}`);
    }
    return caught;
  }
  t.fail(`${what}, but it resolved`);
  return undefined;
}

/** Like expectRejection, for calls that must throw synchronously (store, checkCurrent). */
export function expectThrow(t: Test, call: () => unknown, code: string, what = `throws ${code}`): void {
  try {
    call();
  } catch (error) {
    t.equal((error as { code?: unknown })?.code, code, what, { error: String(error) });
    return;
  }
  t.fail(`${what}, but it returned`);
}

/** Polls until `predicate` holds: for effects a storage may deliver asynchronously. */
export async function eventually(
  what: string,
  predicate: () => boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Rejects if `promise` takes longer than `ms`: turns a deadlock into a readable failure. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every transaction the iterator yields, as [tid, [oid, data, refs][]] for easy comparison. */
export async function dumpTransactions(storage: Storage, fromTid?: Tid, toTid?: Tid) {
  const out: { tid: Tid; user: string | undefined; records: [Oid, string, Oid[]][] }[] = [];
  for await (const txn of storage.iterator(fromTid, toTid)) {
    out.push({
      tid: txn.tid,
      // A storage may hand back a missing user as '' (as ZODB's FileStorage does).
      user: txn.meta.user || undefined,
      records: txn.records
        .map((r): [Oid, string, Oid[]] => [r.oid, text(r.data), [...r.refs]])
        .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
    });
  }
  return out;
}

export const isStrictlyIncreasing = (tids: readonly Tid[]): boolean =>
  tids.every((tid, i) => i === 0 || tid > tids[i - 1]!);
