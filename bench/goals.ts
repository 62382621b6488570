// The targets issue 6 sets for the site, checked against a run's results and stated plainly,
// met, missed or not measured (they are reported, never asserted: a shared 2-core machine is no
// place to fail a build on throughput). A goal is met only on what was measured: a step whose
// answers were mostly not 2xx (a site that is not the catalogue) or a fault the site refused
// leaves its goal "not measured", never "met".
//   1. the router with local workers reaches >= 80% of the cluster baseline's req/s (read-mostly)
//   2. the router beats nginx in front of the same app servers (read-mostly)
//   3. the read-mostly app reaches >= 5x the PostgreSQL-per-request baseline
//   4. a hung and a crashed worker cost zero failed requests

import type { LoadResult } from './load.js';
import type { FaultResult, GoalResult, StepResult } from './results.js';
import type { TargetName } from './targets.js';

export const CLUSTER_RATIO_GOAL = 0.8;
export const POSTGRES_FACTOR_GOAL = 5;

/** Above this share of non-2xx answers a step measured errors, not the site: it is flagged. */
export const NON_2XX_LIMIT = 0.01;

/** What is wrong with a load whose answers were too often not 2xx ("90% not 2xx: 9,000 x 404"), or null. */
export function non2xxProblem(load: LoadResult | null | undefined): string | null {
  if (!load || load.completed === 0 || load.non2xx / load.completed <= NON_2XX_LIMIT) return null;
  const statuses = Object.entries(load.statusCounts)
    .filter(([status]) => !status.startsWith('2'))
    .sort(([, a], [, b]) => b - a)
    .map(([status, count]) => `${count.toLocaleString('en-US')} x ${status}`);
  const percent = Math.round((load.non2xx / load.completed) * 100);
  return `${percent}% of ${load.completed.toLocaleString('en-US')} answers were not 2xx${statuses.length ? ` (${statuses.join(', ')})` : ''}`;
}

/** A note for each step and fault run flagged for its non-2xx answers. */
export function non2xxNotes(steps: readonly StepResult[], faults: readonly FaultResult[]): string[] {
  const notes: string[] = [];
  for (const step of steps) {
    const problem = non2xxProblem(step.load);
    if (problem) notes.push(`${step.target}, ${step.workers} workers, ${step.scenario}: ${problem}; its numbers are not the site's`);
  }
  for (const fault of faults) {
    const problem = non2xxProblem(fault.load);
    if (problem) notes.push(`fault run (${fault.target}, ${fault.workers} workers): ${problem}`);
  }
  return notes;
}

type Reading = { rate: number; problem: string | null } | null;

function readMostly(steps: readonly StepResult[], target: TargetName, workers: number): Reading {
  const step = steps.find((s) => s.target === target && s.workers === workers && s.scenario === 'read-mostly');
  return step?.load ? { rate: step.load.requestsPerSecond, problem: non2xxProblem(step.load) } : null;
}

const rate = (value: number) => `${Math.round(value).toLocaleString('en-US')} req/s`;

function compare(steps: readonly StepResult[], workers: number, other: TargetName, goal: string,
  required: number, describeRatio: (ratio: number) => string): GoalResult {
  const siteReading = readMostly(steps, 'site', workers);
  const baselineReading = readMostly(steps, other, workers);
  if (siteReading === null || baselineReading === null || baselineReading.rate === 0) {
    const missing = siteReading === null ? 'the site' : `the ${other} baseline`;
    return { goal, isMet: null, detail: `not measured: ${missing} has no read-mostly result with ${workers} workers` };
  }
  for (const [name, reading] of [['the site', siteReading], [`the ${other} baseline`, baselineReading]] as const) {
    if (reading.problem) return { goal, isMet: null, detail: `not measured: ${name}'s read-mostly step: ${reading.problem}` };
  }
  const site = siteReading.rate;
  const baseline = baselineReading.rate;
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
    const refused = [fault.hang, fault.crash].find((timing) => timing.isInjected === false);
    const problem = non2xxProblem(fault.load);
    if (fault.failedRequests === null) {
      goals.push({ goal, isMet: null, detail: `not measured: ${fault.error ?? 'the fault run has no result'}` });
    } else if (refused) {
      const route = refused === fault.hang ? '/_bench/hang' : '/_bench/crash';
      goals.push({ goal, isMet: null, detail: `not measured: the site refused the fault (POST ${route} answered ${refused.answer}): it has no fault routes` });
    } else if (problem) {
      goals.push({ goal, isMet: null, detail: `not measured: the load under the faults: ${problem}` });
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
