// Health decisions: rise/fall and the error window as pure logic, the balancer's choices, and a
// worker whose error rate climbs being taken out of a live site.
import t from 'tap';
import { request } from 'undici';
import type { Backend, BackendSnapshot } from '../../proxy/backend.js';
import { Balancer } from '../../proxy/balancer.js';
import { ErrorWindow, HealthState } from '../../proxy/health.js';
import { silentLogger } from '../../log.js';
import { startSite } from '../../proxy/site.js';
import { NO_STORAGE, testConfig } from './fixtures/site-config.js';

const good = { isGood: true, isHard: false, reason: null };
const soft = { isGood: false, isHard: false, reason: 'error rate' };
const hard = { isGood: false, isHard: true, reason: 'no pong' };

t.test('a hard failure takes a backend out at once; a soft one after `fall` checks', async (t) => {
  const state = new HealthState({ rise: 2, fall: 3, maxErrorRate: 0.5 });
  t.equal(state.record(soft), false);
  t.equal(state.record(soft), false);
  t.ok(state.isHealthy, 'two soft failures are not enough');
  t.equal(state.record(soft), true, 'the third changes the verdict');
  t.notOk(state.isHealthy);
  t.equal(state.reason, 'error rate');

  const other = new HealthState({ rise: 2, fall: 3, maxErrorRate: 0.5 });
  t.equal(other.record(hard), true);
  t.notOk(other.isHealthy, 'out after one hard failure');
});

t.test('a backend comes back only after `rise` good checks in a row', async (t) => {
  const state = new HealthState({ rise: 3, fall: 1, maxErrorRate: 0.5 });
  state.fail('died');
  state.record(good);
  state.record(good);
  state.record(hard);
  state.record(good);
  state.record(good);
  t.notOk(state.isHealthy, 'a failure in between restarts the count (flapping stays out)');
  t.equal(state.record(good), true);
  t.ok(state.isHealthy);
  t.equal(state.reason, null);
});

t.test('the error window judges only with enough samples and forgets old seconds', async (t) => {
  const window = new ErrorWindow(3_000, 4);
  const now = 1_000_000;
  window.add(true, now);
  window.add(true, now);
  window.add(true, now);
  t.equal(window.rate(now), null, 'three samples are too few');
  window.add(false, now + 500);
  t.equal(window.rate(now + 500), 0.75);
  t.equal(window.rate(now + 3_500), null, 'the old second expired');
  window.add(false, now + 3_600);
  t.equal(window.rate(now + 3_600), null);
});

function fakeBackend(id: string, inFlight: number, isAvailable = true): Backend {
  return {
    id,
    inFlight,
    isAvailable: () => isAvailable,
    dispatch: () => Promise.reject(new Error('not used')),
    snapshot: () => ({ id }) as BackendSnapshot,
  };
}

t.test('round-robin takes turns over available backends; least-busy takes the fewest in flight', async (t) => {
  const [a, b, c] = [fakeBackend('a', 5), fakeBackend('b', 1), fakeBackend('c', 0, false)];
  const roundRobin = new Balancer('round-robin');
  t.same([0, 1, 2, 3].map(() => roundRobin.pick([a, b, c])!.id), ['a', 'b', 'a', 'a'], 'the unavailable one is skipped');
  t.equal(roundRobin.pick([a, b, c], new Set([a, b])), null, 'none left after exclusions');
  const leastBusy = new Balancer('least-busy');
  t.same([0, 1, 2].map(() => leastBusy.pick([a, b, c])!.id), ['b', 'b', 'b']);
  t.equal(leastBusy.pick([a, b, c], new Set([b]))!.id, 'a');
  const [x, y] = [fakeBackend('x', 0), fakeBackend('y', 0)];
  t.same(new Set([0, 1].map(() => leastBusy.pick([x, y])!.id)), new Set(['x', 'y']), 'ties go round-robin');
});

t.test('a worker whose error rate passes maxErrorRate stops getting requests', async (t) => {
  const site = await startSite(testConfig({ workers: { count: 2 }, router: { balancing: 'round-robin' } }), {
    log: silentLogger,
    storageFactory: NO_STORAGE,
  });
  t.teardown(() => site.close(2_000));
  const flakyId = site.pool.workers[0]!.workerId;
  const statuses: number[] = [];
  const deadline = Date.now() + 10_000;
  let cleanStreak = 0;
  while (cleanStreak < 30 && Date.now() < deadline) {
    const answer = await request(`${site.url}/flaky?worker=${flakyId}`);
    await answer.body.text();
    statuses.push(answer.statusCode);
    cleanStreak = answer.statusCode === 200 ? cleanStreak + 1 : 0;
  }
  t.equal(cleanStreak, 30, `30 clean answers in a row after ${statuses.length} requests`);
  const failures = statuses.filter((status) => status === 500).length;
  t.ok(failures >= 10, `the flaky worker failed some first (${failures})`);
  const flaky = site.pool.workers.find((worker) => worker.workerId === flakyId)!;
  t.notOk(flaky.isAvailable(), 'the flaky worker is out');
  t.match(flaky.snapshot().reason, /error rate/);
});
