// --repeat: each (target, workers, scenario) is reported by its median round (pure).
import t from 'tap';
import { medianSteps } from '../../bench/rounds.js';
import { fakeStep } from './fixtures/results.js';

t.test('the median round is reported, with every round in roundRequestsPerSecond', async (t) => {
  const steps = [
    { ...fakeStep('site', 2, 'read-mostly', 900), round: 1 },
    { ...fakeStep('cluster', 2, 'read-mostly', 1000), round: 1 },
    { ...fakeStep('site', 2, 'read-mostly', 300), round: 2 },
    { ...fakeStep('cluster', 2, 'read-mostly', 1100), round: 2 },
    { ...fakeStep('site', 2, 'read-mostly', 700), round: 3 },
    { ...fakeStep('cluster', 2, 'read-mostly', null), round: 3 },
  ];
  const merged = medianSteps(steps);
  t.equal(merged.length, 2);
  const site = merged.find((s) => s.target === 'site')!;
  t.equal(site.load!.requestsPerSecond, 700);
  t.equal(site.round, 3, 'a real step, not an average');
  t.same(site.roundRequestsPerSecond, [900, 300, 700]);
  const cluster = merged.find((s) => s.target === 'cluster')!;
  t.equal(cluster.load!.requestsPerSecond, 1000, 'of two good rounds the lower middle; the failed one is left out');
  t.same(cluster.roundRequestsPerSecond, [1000, 1100, null]);
});

t.test('a step that failed in every round stays failed', async (t) => {
  const merged = medianSteps([{ ...fakeStep('postgres', 1, 'large-pages', null), round: 1 },
    { ...fakeStep('postgres', 1, 'large-pages', null), round: 2 }]);
  t.equal(merged.length, 1);
  t.equal(merged[0]!.load, null);
  t.equal(merged[0]!.error, 'did not start');
});
