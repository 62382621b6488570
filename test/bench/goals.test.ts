// The targets, judged from results: met, missed (said plainly) or not measured.
import t from 'tap';
import { isFaultRefused } from '../../bench/fault-run.js';
import { checkGoals, non2xxNotes, non2xxProblem, NON_2XX_LIMIT } from '../../bench/goals.js';
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

t.test('a step answered mostly with non-2xx measured errors: it is flagged and judges no goal', async (t) => {
  const notFound = (rate: number): StepResult => ({
    ...step('site', 2, rate), load: fakeLoad(rate, { non2xx: rate * 9, statusCounts: { 200: rate, 404: rate * 9 } }),
  });
  const goals = checkGoals([notFound(20000), step('cluster', 2, 10000)], []);
  t.same(goals.map((g) => g.isMet), [null], 'twice the cluster\'s req/s, of 404s, is not "met"');
  t.match(goals[0]!.detail, /^not measured: the site's read-mostly step: 90% of 200,000 answers were not 2xx \(180,000 x 404\)/);
  t.match(non2xxNotes([notFound(100), step('site', 1, 100)], []), [/^site, 2 workers, read-mostly: 90% of 1,000 answers were not 2xx/]);
  t.equal(non2xxNotes([step('site', 1, 100)], []).length, 0, 'a clean step is not flagged');
  t.equal(non2xxProblem(fakeLoad(100, { non2xx: 10 })), null, `up to ${NON_2XX_LIMIT * 100}% is fine (a few sold-out 409s)`);
});

t.test('a fault the site refused (no fault routes) is "not measured", even with zero failed requests', async (t) => {
  const refused: FaultResult = {
    target: 'site', workers: 3, load: fakeLoad(1000), failedRequests: 0,
    hang: { skipMs: null, replaceMs: null, isInjected: false, answer: '404' },
    crash: { skipMs: null, replaceMs: null, isInjected: false, answer: '404' }, notes: [],
  };
  const [goal] = checkGoals([], [refused]);
  t.equal(goal!.isMet, null);
  t.match(goal!.detail, /not measured: the site refused the fault \(POST \/_bench\/hang answered 404\): it has no fault routes/);
  t.equal(isFaultRefused('hang', 404, 5), true);
  t.equal(isFaultRefused('hang', 200, 5), true, 'a hang answered at once did not hang');
  t.equal(isFaultRefused('hang', 200, 20_000), false);
  t.equal(isFaultRefused('hang', 502, 900), false, 'the router gave up on the hung worker');
  t.equal(isFaultRefused('crash', 202, 5), false);
  t.equal(isFaultRefused('crash', 405, 5), true);
});
