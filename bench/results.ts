// The shape of one `zeo bench` (site) run's results: what the JSON file holds and what the
// table, the HTML report and the goal checks read.

import type { CpuPerRequest } from './cpu-usage.js';
import type { LoadResult } from './load.js';
import type { MachineInfo } from './machine.js';
import type { ScenarioName } from './scenarios.js';
import type { TargetName } from './targets.js';

/** Read from the site's /_zeo/status after a step (null where the target has no such thing). */
export interface SiteCounters {
  /** Requests that hit a ConflictError and ran again, during the step. */
  conflictRetries: number | null;
  /** Storage cache hit rate 0..1 (mean over workers) at the end of the step. */
  cacheHitRate: number | null;
  /** Worst storage lag over workers at the end of the step, in ms. */
  storageLagMs: number | null;
  /** Requests the router sent again to another worker during the step. */
  routerRetries: number | null;
  /** Each worker: requests it served during the step, cache hit rates at its end (JSON only). */
  workers?: Array<{ id: string; served: number; cacheHitRates: Record<string, number> }>;
}

export interface StepResult {
  target: TargetName;
  workers: number;
  scenario: ScenarioName;
  load: LoadResult | null;
  site: SiteCounters | null;
  /** CPU spent per request by the target's processes during the step (Linux /proc). */
  cpu?: CpuPerRequest | null;
  /** Why the step has no numbers (the target failed to start, ...). */
  error?: string;
  /** Which round of --repeat produced it (1-based). */
  round?: number;
  /** With --repeat: req/s of every round (null where a round failed); this step is the median. */
  roundRequestsPerSecond?: Array<number | null>;
}

export interface FaultTiming {
  /** From the fault being injected to the router no longer counting that worker as available. */
  skipMs: number | null;
  /** From the fault being injected to a new worker taking its place. */
  replaceMs: number | null;
  /** False when the site refused the fault request (it has no fault routes): nothing was measured. */
  isInjected?: boolean;
  /** How the fault request was answered ("202", "404", "no answer (...)"), null if it was not yet. */
  answer?: string | null;
}

export interface FaultResult {
  target: TargetName;
  workers: number;
  load: LoadResult | null;
  /** Requests that got no response or a 5xx: the goal is none. */
  failedRequests: number | null;
  hang: FaultTiming;
  crash: FaultTiming;
  notes: string[];
  error?: string;
}

export interface GoalResult {
  goal: string;
  /** null: not measured in this run (a target skipped or failed). */
  isMet: boolean | null;
  detail: string;
}

export interface BenchRunOptions {
  workers: number[];
  scenarios: ScenarioName[];
  targets: TargetName[];
  durationSeconds: number;
  warmupSeconds: number;
  /** Bound on the once-per-target sweep over every product and page (cache warm-up). */
  sweepSeconds?: number;
  connections: number;
  productCount: number;
  faultWorkers: number | null;
  /** Rounds of the whole sweep; each step reported is the median round. */
  repeat?: number;
}

export interface SiteBenchResults {
  kind: 'zeo-bench-site';
  command: string;
  machine: MachineInfo;
  options: BenchRunOptions;
  /** Target names to the description of what was measured. */
  targetDescriptions: Partial<Record<TargetName, string>>;
  steps: StepResult[];
  /** With --repeat: every round's steps (`steps` holds the median of each). */
  allRounds?: StepResult[];
  faults: FaultResult[];
  goals: GoalResult[];
  /** Skipped baselines and other facts a reader needs ("nginx is not installed: skipped"). */
  notes: string[];
}
