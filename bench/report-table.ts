// The text report of a site bench run: ONE table (a row per target, worker count and scenario,
// fault runs last), then the fault timings, the goals met or missed, and the notes.

import { non2xxProblem } from './goals.js';
import { machineLine } from './machine.js';
import type { FaultResult, SiteBenchResults, SiteCounters, StepResult } from './results.js';
import type { CpuPerRequest } from './cpu-usage.js';
import type { LoadResult } from './load.js';
import { SCENARIO_NAMES } from './scenarios.js';
import type { TargetName } from './targets.js';

const TARGET_ORDER: TargetName[] = ['site', 'cluster', 'nginx', 'postgres'];

/** Pads cells into aligned columns; `alignRight[i]` right-aligns column i (numbers). */
export function formatTable(headers: string[], rows: string[][], alignRight: boolean[]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (alignRight[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export const formatCount = (n: number) => Math.round(n).toLocaleString('en-US');
export const formatMs = (n: number) => (n >= 100 ? String(Math.round(n)) : n.toFixed(1));
const dash = '-';
const optional = <T>(value: T | null | undefined, format: (v: T) => string) =>
  value === null || value === undefined ? dash : format(value);

export function sortSteps(steps: readonly StepResult[]): StepResult[] {
  const scenarioIndex = (s: StepResult) => SCENARIO_NAMES.indexOf(s.scenario);
  return [...steps].sort((a, b) =>
    scenarioIndex(a) - scenarioIndex(b) || a.workers - b.workers ||
    TARGET_ORDER.indexOf(a.target) - TARGET_ORDER.indexOf(b.target));
}

function loadCells(load: LoadResult | null, error: string | undefined, relative: string): string[] {
  if (!load) return [error ? 'failed' : dash, dash, dash, dash, dash, dash, dash];
  return [
    formatCount(load.requestsPerSecond),
    relative,
    formatMs(load.latencyMs.p50),
    formatMs(load.latencyMs.p97_5),
    formatMs(load.latencyMs.p99),
    formatCount(load.errors),
    // Flagged: the step measured mostly errors (the notes say which statuses).
    formatCount(load.non2xx) + (non2xxProblem(load) ? ' (!)' : ''),
  ];
}

const micros = (ms: number) => formatCount(ms * 1000);

function cpuCells(cpu: CpuPerRequest | null | undefined): string[] {
  return [optional(cpu?.totalMs, micros), optional(cpu?.routerMs, micros), optional(cpu?.storageMs, micros)];
}

function siteCells(site: SiteCounters | null): string[] {
  return [
    optional(site?.conflictRetries, formatCount),
    optional(site?.cacheHitRate, (r) => `${(r * 100).toFixed(1)}%`),
    optional(site?.storageLagMs, formatMs),
  ];
}

export const TABLE_HEADERS = ['scenario', 'workers', 'target', 'req/s', 'x cluster', 'p50 ms', 'p97.5 ms', 'p99 ms',
  'errors', 'non-2xx', 'cpu µs/req', 'router µs', 'storage µs', 'conflicts', 'cache hit', 'lag ms'];

export function resultRows(results: Pick<SiteBenchResults, 'steps' | 'faults'>): string[][] {
  const rows = sortSteps(results.steps).map((step) => {
    const cluster = results.steps.find((s) => s.target === 'cluster' && s.workers === step.workers &&
      s.scenario === step.scenario)?.load;
    const relative = step.load && cluster && cluster.requestsPerSecond > 0
      ? `${(step.load.requestsPerSecond / cluster.requestsPerSecond).toFixed(2)}x`
      : dash;
    return [step.scenario, String(step.workers), step.target, ...loadCells(step.load, step.error, relative),
      ...cpuCells(step.cpu), ...siteCells(step.site)];
  });
  for (const fault of results.faults) {
    rows.push(['fault: hang+crash', String(fault.workers), fault.target,
      ...loadCells(fault.load, fault.error, dash), ...cpuCells(null), ...siteCells(null)]);
  }
  return rows;
}

const timing = (ms: number | null) => (ms === null ? 'not seen' : `${formatCount(ms)} ms`);

export function faultLine(fault: FaultResult): string {
  if (fault.error) return `fault run (${fault.target}, ${fault.workers} workers) failed: ${fault.error}`;
  const byMethod = Object.entries(fault.load?.serverErrorsByMethod ?? {}).map(([method, n]) => `${n} ${method}`);
  const detail = [
    ...(byMethod.length ? [`5xx: ${byMethod.join(', ')}`] : []),
    ...(fault.load?.errors ? [`${fault.load.errors} without answer`] : []),
  ];
  return `fault run (${fault.target}, ${fault.workers} workers): ${optional(fault.failedRequests, formatCount)} failed ` +
    `request(s)${detail.length ? ` (${detail.join('; ')})` : ''}; hung worker skipped after ${timing(fault.hang.skipMs)}, replaced after ${timing(fault.hang.replaceMs)}; ` +
    `crashed worker skipped after ${timing(fault.crash.skipMs)}, replaced after ${timing(fault.crash.replaceMs)}` +
    (fault.notes.length ? ` (${fault.notes.join('; ')})` : '');
}

export function formatTextReport(results: SiteBenchResults): string {
  const right = TABLE_HEADERS.map((_, i) => i === 1 || i >= 3);
  const lines = [
    `zeo bench: ${results.command}`,
    `machine: ${machineLine(results.machine)}`,
    `each step: ${results.options.durationSeconds} s after ${results.options.warmupSeconds} s warm-up` +
      (results.options.sweepSeconds ? ` (and a cache sweep of <= ${results.options.sweepSeconds} s per started target)` : '') + ', ' +
      `${results.options.connections} connections, ${results.options.productCount} products; ` +
      'cpu = CPU time per request of the app tier (router + workers, or balancer + app servers), ' +
      'router = the router thread alone, storage = the storage server (for postgres: its backends)',
    '',
    formatTable(TABLE_HEADERS, resultRows(results), right),
    '',
  ];
  for (const fault of results.faults) lines.push(faultLine(fault));
  if (results.goals.length) {
    lines.push('', 'goals:');
    for (const goal of results.goals) {
      const mark = goal.isMet === null ? '[ ? ]' : goal.isMet ? '[met]' : '[MISSED]';
      lines.push(`  ${mark} ${goal.goal}: ${goal.detail}`);
    }
  }
  if (results.notes.length) {
    lines.push('', 'notes:');
    for (const note of results.notes) lines.push(`  - ${note}`);
  }
  lines.push('', 'targets:');
  for (const [name, description] of Object.entries(results.targetDescriptions)) lines.push(`  ${name}: ${description}`);
  return lines.join('\n') + '\n';
}
