// The pool supervisor under load, with real worker threads: a hung worker is skipped and
// replaced, a crashed one replaced, one over its memory limit recycled, and scaling and rolling
// reloads happen without a single failed request.
import t from 'tap';
import { request } from 'undici';
import { silentLogger } from '../../log.js';
import { startSite, type Site } from '../../proxy/site.js';
import { eventually, sleep, startLoad } from './fixtures/load.js';
import { NO_STORAGE, testConfig } from './fixtures/site-config.js';

async function site(t: { teardown(fn: () => unknown): void }, patch: Parameters<typeof testConfig>[0] = {}): Promise<Site> {
  const started = await startSite(testConfig(patch), { log: silentLogger, storageFactory: NO_STORAGE });
  t.teardown(() => started.close(2_000));
  return started;
}

async function post(url: string): Promise<{ status: number; text: string }> {
  const answer = await request(url, { method: 'POST' });
  return { status: answer.statusCode, text: await answer.body.text() };
}

const workerIds = (s: Site) => s.pool.workers.map((worker) => worker.workerId);

t.test('a worker stuck in an endless loop is skipped at once and replaced; no GET fails', async (t) => {
  const s = await site(t, {
    workers: { count: 3 },
    router: { balancing: 'round-robin', health: { pingTimeoutMs: 300, hangTimeoutMs: 1_000 } },
  });
  const before = workerIds(s);
  const load = startLoad(s.url, { concurrency: 6 });
  await load.progress(100);
  const hungAt = Date.now();
  const hang = post(s.url + '/_test/hang');
  // While the worker spins, the others keep answering: 100 more requests well within a second or two.
  await load.progress(100);
  const hundredMoreMs = Date.now() - hungAt;
  const hangAnswer = await hang;
  const terminatedMs = Date.now() - hungAt;
  t.ok(
    await eventually(() => s.pool.workers.length === 3 && workerIds(s).some((id) => !before.includes(id)), 10_000),
    'a replacement worker joined',
  );
  await load.progress(100);
  const result = await load.stop();
  t.equal(hangAnswer.status, 502, 'the POST that hung its worker is answered 502 (and not sent again)');
  t.ok(terminatedMs < 4_000, `the hung worker was terminated after ${terminatedMs} ms`);
  t.ok(hundredMoreMs < 3_000, `100 requests served by the others within ${hundredMoreMs} ms of the hang`);
  t.equal(result.failed, 0, `no GET failed (${result.failures.slice(0, 3).join(' | ')})`);
  t.ok(result.ok > 300, `${result.ok} requests answered`);
  const replaced = s.pool.workers.find((worker) => !before.includes(worker.workerId))!;
  t.equal(replaced.restarts, 1, 'the replacement counts one restart');
});

t.test('a crashed worker is replaced; the load sees no failure', async (t) => {
  const s = await site(t, { workers: { count: 2 } });
  const before = workerIds(s);
  const load = startLoad(s.url, { concurrency: 4 });
  await load.progress(50);
  const crash = await post(s.url + '/_test/crash');
  t.equal(crash.status, 502, 'the crashing POST itself is answered 502');
  t.ok(await eventually(() => s.pool.workers.length === 2 && workerIds(s).some((id) => !before.includes(id)), 10_000), 'replaced');
  await load.progress(50);
  const result = await load.stop();
  t.equal(result.failed, 0, `no GET failed (${result.failures.slice(0, 3).join(' | ')})`);
  const status = (await (await request(s.adminUrl + '/_zeo/status')).body.json()) as { workers: Array<{ restarts: number }> };
  t.equal(status.workers.filter((worker) => worker.restarts === 1).length, 1, 'status shows the restart');
});

t.test('scaling 4 -> 2 -> 4 through the admin endpoint under load fails no request', async (t) => {
  const s = await site(t, { workers: { count: 4 } });
  const load = startLoad(s.url, { concurrency: 6, path: '/slow?ms=20' });
  await load.progress(40);
  const down = await post(s.adminUrl + '/_zeo/scale?workers=2');
  t.equal(down.status, 200);
  t.equal((JSON.parse(down.text) as { workers: unknown[] }).workers.length, 2, 'the answer shows two workers');
  t.equal(s.pool.workers.length, 2);
  await load.progress(40);
  const up = await post(s.adminUrl + '/_zeo/scale?workers=4');
  t.equal(up.status, 200);
  t.equal(s.pool.workers.length, 4);
  await load.progress(80);
  const result = await load.stop();
  t.equal(result.failed, 0, `no request failed (${result.failures.slice(0, 3).join(' | ')})`);
  t.equal(new Set(result.byWorker.keys()).size, 6, 'two workers left, two new ones served: six in all');
  t.equal((await post(s.adminUrl + '/_zeo/scale?workers=zero')).status, 400, 'a bad count is refused');
});

t.test('a rolling reload replaces every worker under load with no failed request', async (t) => {
  const s = await site(t, { workers: { count: 3 } });
  const before = workerIds(s);
  const load = startLoad(s.url, { concurrency: 6, path: '/slow?ms=20' });
  await load.progress(40);
  const reload = await post(s.adminUrl + '/_zeo/reload');
  t.equal(reload.status, 200);
  await load.progress(40);
  const result = await load.stop();
  const after = workerIds(s);
  t.equal(after.length, 3);
  t.ok(after.every((id) => !before.includes(id)), `every worker is new (${before} -> ${after})`);
  t.equal(result.failed, 0, `no request failed (${result.failures.slice(0, 3).join(' | ')})`);
});

t.test('a worker whose heap passes memoryLimitMb is recycled', async (t) => {
  const s = await site(t, { workers: { count: 2, memoryLimitMb: 64 } });
  const before = workerIds(s);
  const grown = await request(s.url + '/_test/allocate?mb=100');
  t.equal(grown.statusCode, 200, 'the allocating request itself succeeds');
  await grown.body.text();
  t.ok(
    await eventually(() => s.pool.workers.length === 2 && workerIds(s).some((id) => !before.includes(id)), 10_000),
    'the big worker was replaced',
  );
  t.equal(s.pool.workers.filter((worker) => before.includes(worker.workerId)).length, 1, 'the other one stayed');
  const metrics = await (await request(s.adminUrl + '/_zeo/metrics')).body.text();
  // At least the big one (a fresh worker's heap can brush the limit on a loaded machine too).
  t.match(metrics, /zeo_worker_replacements_total\{reason="memory"\} [1-9]/);
  await sleep(10);
});
