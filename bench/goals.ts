// The targets issue 6 sets for the site, checked against a run's results and stated plainly,
// met or missed (they are reported, never asserted: a shared 2-core machine is no place to fail
// a build on throughput).
//   1. the router with local workers reaches >= 80% of the cluster baseline's req/s (read-mostly)
//   2. the router beats nginx in front of the same app servers (read-mostly)
//   3. the read-mostly app reaches >= 5x the PostgreSQL-per-request baseline
//   4. a hung and a crashed worker cost zero failed requests

import type { FaultResult, GoalResult, StepResult } from './results.js';
import type { TargetName } from './targets.js';

export const CLUSTER_RATIO_GOAL = 0.8;
export const POSTGRES_FACTOR_GOAL = 5;

function readMostlyRate(steps: readonly StepResult[], target: TargetName, workers: number): number | null {
  const step = steps.find((s) => s.target === target && s.workers === workers && s.scenario === 'read-mostly');
  return step?.load ? step.load.requestsPerSecond : null;
}

const rate = (value: number) => `${Math.round(value).toLocaleString('en-US')} req/s`;

function compare(steps: readonly StepResult[], workers: number, other: TargetName, goal: string,
  required: number, describeRatio: (ratio: number) => string): GoalResult {
  const site = readMostlyRate(steps, 'site', workers);
  const baseline = readMostlyRate(steps, other, workers);
  if (site === null || baseline === null || baseline === 0) {
    const missing = site === null ? 'the site' : `the ${other} baseline`;
    return { goal, isMet: null, detail: `not measured: ${missing} has no read-mostly result with ${workers} workers` };
  }
  const ratio = site / baseline;
  const isMet = ratio >= required;
  return {
    goal,
    isMet,
    detail: `${isMet ? 'met' : 'MISSED'}: site ${rate(site)} vs ${other} ${rate(baseline)} = ${describeRatio(ratio)}`,
  };
}

export function checkGoals(steps: readonly StepResult[], faults: readonly FaultResult[]): GoalResult[] {
  const workerCounts = [...new Set(steps.filter((s) => s.target === 'site').map((s) => s.workers))].sort((a, b) => a - b);
  const goals: GoalResult[] = [];
  // A baseline that was part of the run is judged even if it failed (then "not measured"); one
  // that was not run (skipped nginx, --targets, --url) has no goal line at all.
  const wasRun = (target: TargetName, workers: number) => steps.some((s) => s.target === target && s.workers === workers);
  for (const workers of workerCounts) {
    const percent = (ratio: number) => `${Math.round(ratio * 100)}% (goal >= ${CLUSTER_RATIO_GOAL * 100}%)`;
    if (wasRun('cluster', workers)) {
      goals.push(compare(steps, workers, 'cluster', `router >= ${CLUSTER_RATIO_GOAL * 100}% of cluster, read-mostly, ${workers} workers`,
        CLUSTER_RATIO_GOAL, percent));
    }
    if (wasRun('nginx', workers)) {
      goals.push(compare(steps, workers, 'nginx', `router beats nginx in front, read-mostly, ${workers} workers`, 1,
        (ratio) => `${ratio.toFixed(2)}x (goal > 1x)`));
    }
    if (wasRun('postgres', workers)) {
      goals.push(compare(steps, workers, 'postgres', `app >= ${POSTGRES_FACTOR_GOAL}x PostgreSQL per request, read-mostly, ${workers} workers`,
        POSTGRES_FACTOR_GOAL, (ratio) => `${ratio.toFixed(2)}x (goal >= ${POSTGRES_FACTOR_GOAL}x)`));
    }
  }
  for (const fault of faults) {
    const goal = `hung + crashed worker cost zero failed requests (${fault.target}, ${fault.workers} workers)`;
    if (fault.failedRequests === null) {
      goals.push({ goal, isMet: null, detail: `not measured: ${fault.error ?? 'the fault run has no result'}` });
    } else {
      const isMet = fault.failedRequests === 0;
      goals.push({
        goal,
        isMet,
        detail: `${isMet ? 'met' : 'MISSED'}: ${fault.failedRequests} failed request(s) out of ${fault.load?.completed ?? 0}`,
      });
    }
  }
  return goals;
}
