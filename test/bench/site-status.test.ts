// Reading /_zeo/status and /_zeo/metrics, and timing a fault from a series of readings (pure;
// the status JSON below has the shape proxy/admin.ts poolStatus() produces).
import t from 'tap';
import { faultTiming } from '../../bench/fault-run.js';
import { countersBetween, metricValue, parseStatus, type StatusReading, type WorkerStatus } from '../../bench/site-status.js';

const statusJson = (conflicts: number[], extra: Array<Record<string, unknown>> = []) => ({
  targetWorkers: conflicts.length,
  workers: [
    ...conflicts.map((c, i) => ({
      id: `worker-${i + 1}`, kind: 'worker', state: 'ready', isHealthy: true, reason: null, inFlight: 0, served: 10,
      errors: 0, restarts: 0, workerId: i + 1,
      health: { workerId: i + 1, conflicts: c, cacheHitRates: { memory: [0.9, 0.95][i] ?? 0.5 }, storageLagMs: i },
      cacheHitRates: { memory: [0.9, 0.95][i] ?? 0.5, disk: 0.1 }, storageLagMs: i, heapUsedBytes: 1,
    })),
    ...extra,
  ],
  remotes: [],
});

t.test('parseStatus reads each worker state, conflicts, cache hit rates and lag', async (t) => {
  const workers = parseStatus(statusJson([4, 6]));
  t.equal(workers.length, 2);
  t.same(workers[1], { id: 'worker-2', state: 'ready', isHealthy: true, restarts: 0, served: 10, conflicts: 6,
    cacheHitRates: { memory: 0.95, disk: 0.1 }, storageLagMs: 1 });
  t.same(parseStatus({ nothing: true }), [], 'an unknown shape gives no workers, not an exception');
  t.same(parseStatus(null), []);
});

t.test('countersBetween gives the step difference of conflicts and retries, and end-of-step rates', async (t) => {
  const reading = (conflicts: number[], retries: number, at: number): StatusReading =>
    ({ at, workers: parseStatus(statusJson(conflicts)), routerRetries: retries });
  const counters = countersBetween(reading([4, 6], 2, 0), reading([10, 7], 5, 1));
  t.same(counters, { conflictRetries: 7, cacheHitRate: 0.925, storageLagMs: 1, routerRetries: 3, workers: [
    { id: 'worker-1', served: 0, cacheHitRates: { memory: 0.9, disk: 0.1 } },
    { id: 'worker-2', served: 0, cacheHitRates: { memory: 0.95, disk: 0.1 } }] });
  t.equal(countersBetween(reading([1], 0, 0), null), null, 'no reading after the step: no counters');
  t.equal(countersBetween(null, reading([2], 1, 0))!.conflictRetries, 2, 'no reading before: counts since start');
});

t.test('metricValue reads a Prometheus counter, summing label sets', async (t) => {
  const text = [
    '# HELP zeo_retries_total Requests sent again', '# TYPE zeo_retries_total counter', 'zeo_retries_total 12',
    'zeo_retries_total_extra 99', 'zeo_requests_total{method="GET",status="200"} 5', 'zeo_requests_total{method="POST",status="201"} 2',
  ].join('\n');
  t.equal(metricValue(text, 'zeo_retries_total'), 12);
  t.equal(metricValue(text, 'zeo_requests_total'), 7);
  t.equal(metricValue(text, 'zeo_missing_total'), null);
});

t.test('faultTiming: skip when a serving worker stops serving, replace when a newcomer serves', async (t) => {
  const worker = (id: string, state = 'ready', isHealthy = true, restarts = 0): WorkerStatus =>
    ({ id, state, isHealthy, restarts, served: 0, conflicts: 0, cacheHitRates: {}, storageLagMs: 0 });
  const before = [worker('w1'), worker('w2'), worker('w3')];
  const readings: StatusReading[] = [
    { at: 990, workers: [worker('w1', 'ready', false), worker('w2'), worker('w3')], routerRetries: null },
    { at: 1100, workers: before, routerRetries: null },
    { at: 1800, workers: [worker('w1', 'ready', false), worker('w2'), worker('w3')], routerRetries: null },
    { at: 3000, workers: [worker('w2'), worker('w3'), worker('w4', 'starting')], routerRetries: null },
    { at: 3500, workers: [worker('w2'), worker('w3'), worker('w4')], routerRetries: null },
  ];
  t.same(faultTiming(before, readings, 1000), { skipMs: 800, replaceMs: 2500 }, 'readings before the fault are ignored');
  t.same(faultTiming(before, readings.slice(0, 3), 1000), { skipMs: 800, replaceMs: null }, 'never replaced');
  t.same(faultTiming(before, [{ at: 1200, workers: [worker('w1', 'ready', true, 1), worker('w2'), worker('w3')],
    routerRetries: null }], 1000), { skipMs: null, replaceMs: null }, 'a restart with no skip seen is not counted');
  const sameId = [
    { at: 1050, workers: [worker('w1'), worker('w2', 'stopped', false), worker('w3')], routerRetries: null },
    { at: 1400, workers: [worker('w1'), worker('w2', 'ready', true, 1), worker('w3')], routerRetries: null },
  ];
  t.same(faultTiming(before, sameId, 1000), { skipMs: 50, replaceMs: 400 }, 'a worker id restarted in place counts as replaced');
});
