import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import t, { type Test } from 'tap';
import { DiskCache } from '../../../../storage/client/cache/disk-cache.js';
import { HEADER_BYTES, STORE_HEAD_BYTES, storeRecordBytes } from '../../../../storage/client/cache/disk-cache-file.js';
import { changedAt, OBJECT_COUNT, revisionData } from './fixtures/disk-cache-history.js';
import { revisionCacheSuite, SUITE_MAX_BYTES } from './revision-cache-suite.js';

const CHILD = fileURLToPath(new URL('./fixtures/disk-cache-child.js', import.meta.url));
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined) => (data ? new TextDecoder().decode(data) : undefined);

function openWithLog(path: string, maxBytes = 1 << 20) {
  const warnings: string[] = [];
  const opening = DiskCache.open(path, { maxBytes, log: (message) => warnings.push(message) });
  return { opening, warnings };
}

t.test('revisions, ranges, ends and lastTid survive close and reopen', async (t) => {
  const path = join(t.testdir(), 'worker-0.cache');
  const cache = await DiskCache.open(path, { maxBytes: 1 << 20 });
  cache.store(1n, 10n, null, bytes('one@10'));
  cache.invalidate(1n, 20n);
  cache.store(1n, 20n, null, bytes('one@20'));
  cache.store(2n, 5n, 8n, bytes('two@5'));
  cache.store(3n, 7n, null, bytes('three@7'));
  cache.store(3n, 7n, 9n, bytes('three@7'));
  cache.lastTid = 20n;
  t.ok(existsSync(path + '.lock'), 'the lock file exists while open');
  await cache.close();
  t.notOk(existsSync(path + '.lock'), 'close releases the lock');

  const reopened = await DiskCache.open(path, { maxBytes: 1 << 20 });
  t.teardown(() => reopened.close());
  t.equal(reopened.lastTid, 20n, 'lastTid is persisted');
  t.same(reopened.load(1n), { data: bytes('one@20'), tid: 20n });
  t.same(reopened.loadBefore(1n, 20n), { data: bytes('one@10'), start: 10n, end: 20n }, 'the invalidated revision stays for old snapshots');
  t.same(reopened.loadBefore(2n, 8n), { data: bytes('two@5'), start: 5n, end: 8n });
  t.equal(reopened.load(3n), undefined, 'a range closed by a later store stays closed');
  t.equal(text(reopened.loadBefore(3n, 9n)?.data), 'three@7');
  t.same(reopened.stats, { hits: 4, misses: 1, bytes: reopened.stats.bytes, entries: 4, evictions: 0 });
  const first = reopened.load(1n)!.data;
  reopened.load(2n);
  reopened.loadBefore(3n, 9n);
  t.equal(text(first), 'one@20', 'data handed out is not overwritten by later reads');
});

revisionCacheSuite(t, async (t) => {
  const path = join(t.testdir(), 'suite.cache');
  let cache = await DiskCache.open(path, { maxBytes: SUITE_MAX_BYTES });
  return {
    cache,
    reopen: async () => {
      await cache.close();
      cache = await DiskCache.open(path, { maxBytes: SUITE_MAX_BYTES });
      return cache;
    },
    close: () => cache.close(),
  };
});

t.test('a torn tail is cut back to the last whole record', async (t) => {
  const path = join(t.testdir(), 'torn.cache');
  const cache = await DiskCache.open(path, { maxBytes: 1 << 20 });
  cache.store(1n, 1n, null, bytes('first'));
  cache.lastTid = 1n;
  const sizeBeforeLast = cache.fileBytes;
  cache.store(2n, 2n, null, new Uint8Array(5000).fill(7));
  await cache.close();
  truncateSync(path, statSync(path).size - 100);

  const { opening, warnings } = openWithLog(path);
  const reopened = await opening;
  t.teardown(() => reopened.close());
  t.equal(text(reopened.load(1n)?.data), 'first', 'records before the tear are kept');
  t.equal(reopened.load(2n), undefined, 'the torn record is gone');
  t.equal(reopened.lastTid, 1n);
  t.equal(statSync(path).size, sizeBeforeLast, 'the file is cut at the tear');
  t.match(warnings.join('\n'), /torn tail/);
  reopened.store(3n, 3n, null, bytes('after the cut'));
  await reopened.close();
  const again = await DiskCache.open(path, { maxBytes: 1 << 20 });
  t.equal(text(again.load(3n)?.data), 'after the cut', 'writes after the cut survive');
  await again.close();
});

t.test('a damaged file is discarded with a warning, never served', async (t) => {
  const dir = t.testdir();
  const middle = join(dir, 'middle.cache');
  const cache = await DiskCache.open(middle, { maxBytes: 1 << 20 });
  cache.store(1n, 1n, null, bytes('aaaaaaaaaa'));
  cache.store(2n, 1n, null, bytes('bbbbbbbbbb'));
  cache.lastTid = 1n;
  await cache.close();
  const damaged = readFileSync(middle);
  const firstDataByte = HEADER_BYTES + 13 + STORE_HEAD_BYTES; // after the header and lastTid 0
  t.equal(String.fromCharCode(damaged[firstDataByte]!), 'a', 'the test hits the first record data');
  damaged[firstDataByte] = 'A'.charCodeAt(0);
  writeFileSync(middle, damaged);

  const { opening, warnings } = openWithLog(middle);
  const reopened = await opening;
  t.match(warnings.join('\n'), /damaged at byte offset 29 \(record checksum does not match\); discarded/);
  t.equal(reopened.load(1n), undefined, 'the damaged revision is not served');
  t.equal(reopened.load(2n), undefined, 'nor anything else from the damaged file');
  t.equal(reopened.lastTid, 0n, 'lastTid restarts at zero so the client catches up from scratch');
  t.equal(reopened.stats.entries, 0);
  await reopened.close();

  const foreign = join(dir, 'foreign.cache');
  writeFileSync(foreign, 'this is somebody else\'s file, not a cache');
  const other = openWithLog(foreign);
  const fromForeign = await other.opening;
  t.match(other.warnings.join('\n'), /not a zeo-ts cache file/);
  t.equal(fromForeign.stats.entries, 0);
  fromForeign.store(1n, 1n, null, bytes('fresh'));
  await fromForeign.close();
  t.equal(readFileSync(foreign, 'latin1').slice(0, 8), 'ZEOCACHE', 'the foreign file was replaced by a fresh cache');
});

t.test('a record damaged after open fails its checksum on read and is dropped', async (t) => {
  const path = join(t.testdir(), 'rot.cache');
  const warnings: string[] = [];
  const cache = await DiskCache.open(path, { maxBytes: 1 << 20, log: (m) => warnings.push(m) });
  t.teardown(() => cache.close());
  cache.store(1n, 1n, null, bytes('good data'));
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from('X'), 0, 1, HEADER_BYTES + 13 + STORE_HEAD_BYTES);
  closeSync(fd);
  t.equal(cache.load(1n), undefined, 'the bad bytes are not served');
  t.match(warnings.join('\n'), /fails its checksum; dropped/);
  t.equal(cache.stats.entries, 0);

  // A whole, valid record of another revision where the index points: served it would be a lie.
  const recordBytes = storeRecordBytes(4);
  cache.store(2n, 1n, null, bytes('two!'));
  cache.store(3n, 1n, null, bytes('3333'));
  const end = statSync(path).size;
  const other = Buffer.alloc(recordBytes);
  const fd2 = openSync(path, 'r+');
  readSync(fd2, other, 0, recordBytes, end - recordBytes);
  writeSync(fd2, other, 0, recordBytes, end - 2 * recordBytes);
  closeSync(fd2);
  t.equal(cache.load(2n), undefined, 'the record of OID 3 is not served as OID 2');
  t.match(warnings.join('\n'), /holds another revision than the index says; dropped/);
  t.equal(text(cache.load(3n)?.data), '3333');
});

t.test('compaction keeps the file within maxBytes and keeps the most recent revisions', async (t) => {
  const path = join(t.testdir(), 'bound.cache');
  const maxBytes = 256 * 1024;
  const cache = await DiskCache.open(path, { maxBytes });
  let isAlwaysWithinBound = true;
  for (let i = 1; i <= 1000; i++) {
    cache.store(BigInt(i), BigInt(i), null, revisionData(BigInt(i), 1n).subarray(0, 2000));
    cache.invalidate(BigInt(i - 1), BigInt(i));
    cache.lastTid = BigInt(i);
    if (statSync(path).size > maxBytes || cache.fileBytes > maxBytes) isAlwaysWithinBound = false;
  }
  t.ok(isAlwaysWithinBound, 'the file never exceeds maxBytes');
  t.ok(cache.stats.evictions > 800, `old revisions were evicted (${cache.stats.evictions})`);
  t.equal(cache.stats.entries + cache.stats.evictions, 1000);
  t.equal(cache.load(1n), undefined, 'the oldest revision is gone');
  for (const oid of [1000n, 999n, 990n]) {
    // Each revision i was current until i + 1 (invalidated by the next round), 1000 still is.
    const data = cache.loadBefore(oid, oid + 1n)?.data ?? new Uint8Array(0);
    t.equal(Buffer.compare(data, revisionData(oid, 1n).subarray(0, 2000)), 0, `recent revision ${oid} survives compaction`);
  }
  t.equal(cache.loadBefore(999n, 1000n)?.end, 1000n, 'an ended range is kept ended through compaction');
  t.notOk(existsSync(path + '.compact'), 'no temporary file is left behind');
  await cache.close();

  const reopened = await DiskCache.open(path, { maxBytes });
  t.equal(reopened.lastTid, 1000n, 'lastTid is persisted in the compacted file');
  t.ok(reopened.load(1000n), 'the newest revision survives a reopen after compaction');

  // Huge revisions (up to 49% of the bound), some written while a background compaction runs.
  let isHugeWithinBound = true;
  for (let i = 1; i <= 60; i++) {
    const size = Math.floor(maxBytes * (0.05 + ((i * 37) % 45) / 100));
    reopened.store(5000n + BigInt(i), 1n, null, new Uint8Array(size).fill(i));
    if (statSync(path).size > maxBytes) isHugeWithinBound = false;
    if (i % 3 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  t.ok(isHugeWithinBound, 'huge revisions do not push the file past maxBytes either');
  t.equal(reopened.load(5060n)?.data[0], 60, 'the newest huge revision is kept');
  reopened.store(6000n, 1n, null, new Uint8Array(maxBytes * 0.6));
  t.equal(reopened.load(6000n), undefined, 'a revision over half the bound is not written: no compaction would keep it');
  await reopened.close();
});

t.test('a background compaction keeps everything written while it copies', async (t) => {
  const path = join(t.testdir(), 'background.cache');
  const maxBytes = 4 * 1024 * 1024;
  const cache = await DiskCache.open(path, { maxBytes });
  const payload = (oid: bigint, tid: bigint) => revisionData(oid, tid).subarray(0, 3000);
  let oid = 0n;
  while (!cache.isCompacting) {
    oid++;
    cache.store(oid, 1n, null, payload(oid, 1n));
  }
  t.ok(cache.fileBytes > maxBytes * 0.75 && cache.fileBytes <= maxBytes, 'it starts before the bound is reached');
  t.ok(existsSync(path + '.compact'), 'the new file is being written');

  // While it runs: new revisions, an invalidation of a kept one, a closed range, a lastTid.
  const newest = oid;
  cache.store(newest + 1n, 2n, null, payload(newest + 1n, 2n));
  cache.invalidate(newest, 3n);
  cache.store(newest, 3n, null, payload(newest, 3n));
  cache.store(newest - 1n, 1n, 4n, payload(newest - 1n, 1n));
  cache.lastTid = 4n;
  while (cache.isCompacting) await new Promise((resolve) => setImmediate(resolve));

  t.equal(cache.compactionCount, 1);
  t.notOk(existsSync(path + '.compact'));
  t.ok(cache.fileBytes < maxBytes * 0.6, `the file shrank to ${cache.fileBytes} bytes`);
  for (const round of ['live', 'reopened'] as const) {
    const c = round === 'live' ? cache : await DiskCache.open(path, { maxBytes });
    t.equal(c.lastTid, 4n, `${round}: lastTid set during the compaction`);
    t.equal(Buffer.compare(c.load(newest + 1n)?.data ?? Buffer.alloc(0), payload(newest + 1n, 2n)), 0, `${round}: a store made during it`);
    t.equal(c.load(newest)?.tid, 3n, `${round}: the revision stored after the invalidation is current`);
    t.same(c.loadBefore(newest, 3n)?.end, 3n, `${round}: the invalidated revision ended at 3`);
    t.equal(c.load(newest - 1n), undefined, `${round}: the range closed during it stays closed`);
    t.equal(c.load(1n), undefined, `${round}: the least recently used were evicted`);
    await c.close();
  }
});

t.test('a huge revision written during a compaction still leaves the file within its bound', async (t) => {
  const path = join(t.testdir(), 'huge.cache');
  const maxBytes = 1024 * 1024;
  const cache = await DiskCache.open(path, { maxBytes });
  t.teardown(() => cache.close());
  let oid = 0n;
  while (!cache.isCompacting) cache.store(++oid, 1n, null, new Uint8Array(4000));
  // Fill the rest of the bound while the compaction has not run a slice (no yielding)...
  while (cache.fileBytes + 4100 < maxBytes) cache.store(++oid, 1n, null, new Uint8Array(4000));
  // ...then a revision just under half the bound: kept half + this tail would exceed the bound.
  cache.store(++oid, 1n, null, new Uint8Array(Math.floor(maxBytes * 0.49)).fill(9));
  t.ok(statSync(path).size <= maxBytes, `the file is within the bound (${statSync(path).size} <= ${maxBytes})`);
  t.equal(cache.load(oid)?.data[0], 9, 'and the huge revision, the newest, was kept');
  t.notOk(cache.isCompacting);
});

t.test('one cache file, one user: a second open is refused until the first closes', async (t) => {
  const path = join(t.testdir(), 'locked.cache');
  const first = await DiskCache.open(path, { maxBytes: 1 << 20 });
  await t.rejects(DiskCache.open(path, { maxBytes: 1 << 20 }), { code: 'ZEO_LOCKED' });
  await first.close();
  const second = await DiskCache.open(path, { maxBytes: 1 << 20 });
  await second.close();
  await t.rejects(DiskCache.open(path, { maxBytes: 1000 }), { code: 'ZEO_INVALID_ARGUMENT' });
});

t.test('a worker thread holds its cache; after worker.terminate() the file is taken over', async (t) => {
  const path = join(t.testdir(), 'thread.cache');
  const worker = new Worker(CHILD, { workerData: { path, maxBytes: 1 << 20 } });
  t.teardown(() => worker.terminate());
  let lastReported = 0n;
  await new Promise<void>((resolve, reject) => {
    worker.on('error', reject);
    worker.on('message', (line: string) => {
      if (line.startsWith('tid ')) lastReported = BigInt(line.slice(4));
      if (lastReported >= 200n) resolve();
    });
  });
  await t.rejects(DiskCache.open(path, { maxBytes: 1 << 20 }), { code: 'ZEO_LOCKED', message: /worker thread \d+ of this process.*its own cache file/ });
  await worker.terminate();
  const cache = await DiskCache.open(path, { maxBytes: 1 << 20 });
  t.teardown(() => cache.close());
  checkAgainstHistory(t, cache, lastReported);
});

t.test('a writer killed with SIGKILL leaves a cache that is consistent with its lastTid', async (t) => {
  const path = join(t.testdir(), 'killed.cache');
  // Small enough that compactions run often, so some kills land in the middle of one.
  const maxBytes = 384 * 1024;
  let lastReported = 0n;
  let isRefusalChecked = false;
  for (let round = 1; round <= 6; round++) {
    const child = spawn(process.execPath, [CHILD, path, String(maxBytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    t.teardown(() => void child.kill('SIGKILL'));
    const killAt = lastReported + BigInt(150 + Math.floor(Math.random() * 150));
    for await (const line of createInterface({ input: child.stdout! })) {
      if (line.startsWith('open ')) t.ok(BigInt(line.slice(5)) >= lastReported, `round ${round}: the child reopens at lastTid ${line.slice(5)}`);
      if (!line.startsWith('tid ')) continue;
      lastReported = BigInt(line.slice(4));
      if (round === 1 && !isRefusalChecked) {
        isRefusalChecked = true;
        await t.rejects(DiskCache.open(path, { maxBytes }), { code: 'ZEO_LOCKED', message: new RegExp(`process ${child.pid} `) }, 'a live writer process keeps others out');
      }
      if (lastReported >= killAt) {
        child.kill('SIGKILL');
        break;
      }
    }
    t.equal(await exited, 'SIGKILL', `round ${round}: the writer died by SIGKILL`);
    t.ok(existsSync(path + '.lock'), `round ${round}: the dead writer's lock is left behind, and is taken over below`);
    const warnings: string[] = [];
    const cache = await DiskCache.open(path, { maxBytes, log: (m) => warnings.push(m) });
    t.notMatch(warnings.join('\n'), /discarded/, `round ${round}: a kill never makes the file look damaged`);
    checkAgainstHistory(t, cache, lastReported);
    t.ok(statSync(path).size <= maxBytes, `round ${round}: the file is within its bound`);
    lastReported = cache.lastTid;
    await cache.close();
  }
});

t.test('a failed write (file size limit) turns the cache off and discards the file, never crashes', async (t) => {
  const path = join(t.testdir(), 'full.cache');
  // ulimit -f counts 512-byte blocks: the file may not grow past 100 KiB.
  const child = spawn('/bin/sh', ['-c', `ulimit -f 200 && exec "${process.execPath}" "${CHILD}" "${path}" 1048576 until-full`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => void child.kill('SIGKILL'));
  const lines: string[] = [];
  for await (const line of createInterface({ input: child.stdout! })) lines.push(line);
  const exitCode = await new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)));
  t.equal(exitCode, 0, 'the writer exits normally');
  t.match(lines.join('\n'), /log disk cache .*EFBIG.*the disk cache is off until restart and its file is discarded/);
  t.match(lines.join('\n'), /full at \d+, serving 0 revisions, calls after that are harmless/);
  t.equal(statSync(path).size, 0, 'the file was emptied, so no stale revision can come back');

  const warnings: string[] = [];
  const reopened = await DiskCache.open(path, { maxBytes: 1 << 20, log: (m) => warnings.push(m) });
  t.equal(reopened.lastTid, 0n, 'a restart begins from an empty cache');
  t.equal(reopened.stats.entries, 0);
  reopened.store(1n, 1n, null, bytes('works again'));
  t.equal(text(reopened.load(1n)?.data), 'works again');
  await reopened.close();
});

/**
 * The cache must agree with the deterministic history: every revision it serves for a snapshot
 * up to its lastTid has the exact bytes written and a range that matches the history, and no
 * current revision is stale as of lastTid (an invalidation at or before lastTid was lost). The
 * writer may have stored revisions of transaction lastTid + 1 before it died: those must be
 * right too, but snapshots after lastTid are not the cache's to answer.
 */
function checkAgainstHistory(t: Test, cache: DiskCache, lastReported: bigint): void {
  const lastTid = cache.lastTid;
  t.ok(lastTid >= lastReported, `lastTid ${lastTid} covers every reported transaction (${lastReported})`);
  const changes = new Map<bigint, bigint[]>();
  for (let tid = 1n; tid <= lastTid + 1n; tid++) {
    for (const oid of changedAt(tid)) changes.set(oid, [...(changes.get(oid) ?? []), tid]);
  }
  const problems: string[] = [];
  let served = 0;
  for (let oid = 0n; oid < BigInt(OBJECT_COUNT); oid++) {
    const tids = changes.get(oid) ?? [];
    tids.forEach((tid, i) => {
      if (tid > lastTid) return;
      const revision = cache.loadBefore(oid, tid + 1n);
      if (!revision) return;
      served++;
      const next = tids[i + 1] ?? null;
      if (revision.start !== tid) problems.push(`oid ${oid} before ${tid + 1n}: start ${revision.start}`);
      if (Buffer.compare(revision.data, revisionData(oid, tid)) !== 0) problems.push(`oid ${oid}@${tid}: wrong bytes`);
      if (revision.end !== null && revision.end !== next) problems.push(`oid ${oid}@${tid}: end ${revision.end}, next change ${next}`);
      if (revision.end === null && next !== null && next <= lastTid) problems.push(`oid ${oid}@${tid}: stale current, changed at ${next}`);
    });
    const current = cache.load(oid);
    if (current && Buffer.compare(current.data, revisionData(oid, current.tid)) !== 0) problems.push(`oid ${oid}: wrong current bytes`);
    if (current && current.tid > lastTid && !changedAt(current.tid).includes(oid)) problems.push(`oid ${oid}: bogus current ${current.tid}`);
  }
  t.same(problems, [], 'every served revision matches the history');
  t.ok(served > 0, `revisions were served after the crash (${served})`);
}
