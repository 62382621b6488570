// The targets, judged from results: met, missed (said plainly) or not measured.
import t from 'tap';
import { checkGoals } from '../../bench/goals.js';
import type { FaultResult, StepResult } from '../../bench/results.js';
import type { TargetName } from '../../bench/targets.js';
import { fakeLoad } from './fixtures/results.js';

const step = (target: TargetName, workers: number, rate: number | null): StepResult => ({
  target, workers, scenario: 'read-mostly', load: rate === null ? null : fakeLoad(rate), site: null,
});

t.test('router vs cluster, nginx and PostgreSQL: met and missed with the numbers', async (t) => {
  const goals = checkGoals([
    step('site', 2, 9000), step('cluster', 2, 10000), step('nginx', 2, 9500), step('postgres', 2, 2000),
  ], []);
  t.equal(goals.length, 3);
  const [cluster, nginx, postgres] = goals;
  t.equal(cluster!.isMet, true, '90% of cluster meets the 80% goal');
  t.match(cluster!.detail, /^met: site 9,000 req\/s vs cluster 10,000 req\/s = 90%/);
  t.equal(nginx!.isMet, false, 'slower than nginx');
  t.match(nginx!.detail, /^MISSED: .*0\.95x/);
  t.equal(postgres!.isMet, false, '4.5x is below 5x');
  t.match(postgres!.detail, /MISSED.*4\.50x \(goal >= 5x\)/);
});

t.test('a baseline that failed is "not measured", never met; one not run has no goal', async (t) => {
  const goals = checkGoals([step('site', 1, 5000), step('cluster', 1, null)], []);
  t.equal(goals.length, 1);
  t.equal(goals[0]!.isMet, null);
  t.match(goals[0]!.detail, /not measured: the cluster baseline/);
  t.notOk(goals.some((g) => /nginx|PostgreSQL/.test(g.goal)), 'no goal for baselines not run');
  const siteFailed = checkGoals([step('site', 2, null), step('postgres', 2, 900)], []);
  t.same(siteFailed.map((g) => g.isMet), [null]);
  t.match(siteFailed[0]!.detail, /not measured: the site/);
});

t.test('each worker count is judged on its own', async (t) => {
  const goals = checkGoals([step('site', 1, 100), step('cluster', 1, 100), step('site', 4, 100), step('cluster', 4, 400)], []);
  const clusterGoals = goals.filter((g) => g.goal.includes('cluster'));
  t.same(clusterGoals.map((g) => g.isMet), [true, false]);
});

t.test('the fault run must cost zero failed requests', async (t) => {
  const fault = (failed: number | null, error?: string): FaultResult => ({
    target: 'site', workers: 3, load: failed === null ? null : fakeLoad(1000), failedRequests: failed,
    hang: { skipMs: 900, replaceMs: 3500 }, crash: { skipMs: 10, replaceMs: 400 }, notes: [], error,
  });
  const goals = checkGoals([], [fault(0), fault(7), fault(null, 'zeo start failed')]);
  t.same(goals.map((g) => g.isMet), [true, false, null]);
  t.match(goals[1]!.detail, /MISSED: 7 failed request\(s\) out of 10000/);
  t.match(goals[2]!.detail, /zeo start failed/);
});
