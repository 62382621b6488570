// Repeated rounds (`zeo bench --repeat N`): on a shared machine one measurement of a target can
// land in someone else's busy minute, so the whole sweep runs N times, each round restarting
// every target, and each (target, workers, scenario) is reported by its median round. The
// median is a real step (its latency and counters belong together), not an average of steps.

import type { StepResult } from './results.js';

const key = (step: StepResult) => `${step.target}/${step.workers}/${step.scenario}`;

/** One step per (target, workers, scenario): the round with the median req/s; failed rounds are left out. */
export function medianSteps(steps: readonly StepResult[]): StepResult[] {
  const groups = new Map<string, StepResult[]>();
  for (const step of steps) {
    const group = groups.get(key(step)) ?? [];
    group.push(step);
    groups.set(key(step), group);
  }
  const merged: StepResult[] = [];
  for (const group of groups.values()) {
    const measured = group.filter((s) => s.load).sort((a, b) => a.load!.requestsPerSecond - b.load!.requestsPerSecond);
    if (measured.length === 0) {
      merged.push(group[0]!);
      continue;
    }
    // The lower middle for an even count: a noisy machine only ever makes a run slower.
    const median = measured[Math.floor((measured.length - 1) / 2)]!;
    merged.push({ ...median, roundRequestsPerSecond: group.map((s) => s.load?.requestsPerSecond ?? null) });
  }
  return merged;
}
