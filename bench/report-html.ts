// The HTML report of a site bench run: one self-contained page (inline CSS and SVG, no script,
// nothing fetched) with the machine, a throughput-vs-workers chart and a latency chart per
// scenario, the same table as the text report, the fault timings, the goals and the notes.

import { barChart, escapeXml, lineChart, type BarGroup, type Series } from './charts.js';
import { machineLine } from './machine.js';
import { faultLine, resultRows, TABLE_HEADERS } from './report-table.js';
import type { SiteBenchResults } from './results.js';
import { SCENARIO_NAMES, SCENARIOS } from './scenarios.js';

function throughputChart(results: SiteBenchResults, scenario: string): string {
  const targets = [...new Set(results.steps.map((s) => s.target))];
  const series: Series[] = targets.map((target) => ({
    name: target,
    points: results.steps
      .filter((s) => s.target === target && s.scenario === scenario && s.load)
      .map((s) => ({ x: s.workers, y: s.load!.requestsPerSecond })),
  })).filter((s) => s.points.length > 0);
  return lineChart({ title: `${scenario}: throughput`, xLabel: 'workers', yLabel: 'requests / s', series });
}

function latencyChart(results: SiteBenchResults, scenario: string): string {
  const steps = results.steps.filter((s) => s.scenario === scenario && s.load);
  const workers = Math.max(0, ...steps.map((s) => s.workers));
  const groups: BarGroup[] = steps.filter((s) => s.workers === workers).map((s) => ({
    label: s.target,
    bars: [
      { name: 'p50', value: s.load!.latencyMs.p50 },
      { name: 'p97.5', value: s.load!.latencyMs.p97_5 },
      { name: 'p99', value: s.load!.latencyMs.p99 },
    ],
  }));
  return barChart({ title: `${scenario}: latency with ${workers} workers`, xLabel: 'target', yLabel: 'ms', groups });
}

function cpuChart(results: SiteBenchResults, scenario: string): string | null {
  const steps = results.steps.filter((s) => s.scenario === scenario && s.cpu);
  if (steps.length === 0) return null;
  const workers = Math.max(0, ...steps.map((s) => s.workers));
  const groups: BarGroup[] = steps.filter((s) => s.workers === workers).map((s) => ({
    label: s.target,
    bars: [
      { name: 'app tier', value: s.cpu!.totalMs * 1000 },
      { name: 'router thread', value: (s.cpu!.routerMs ?? 0) * 1000 },
      { name: 'storage server', value: (s.cpu!.storageMs ?? 0) * 1000 },
    ],
  }));
  return barChart({ title: `${scenario}: CPU per request, ${workers} workers`, xLabel: 'target', yLabel: 'µs', groups });
}

export function formatHtmlReport(results: SiteBenchResults): string {
  const scenarios = SCENARIO_NAMES.filter((name) => results.steps.some((s) => s.scenario === name && s.load));
  const charts = scenarios.map((name) =>
    `<section><h2>${escapeXml(name)} <small>${escapeXml(SCENARIOS[name].description)}</small></h2>` +
    `<div class="charts">${throughputChart(results, name)}${latencyChart(results, name)}${cpuChart(results, name) ?? ''}</div>` +
    '</section>').join('\n');
  const rows = resultRows(results).map((row) =>
    `<tr>${row.map((cell, i) => `<td${i === 1 || i >= 3 ? ' class="n"' : ''}>${escapeXml(cell)}</td>`).join('')}</tr>`);
  const goals = results.goals.map((goal) => {
    const status = goal.isMet === null ? 'unknown' : goal.isMet ? 'met' : 'missed';
    return `<li class="${status}"><strong>${status === 'unknown' ? 'not measured' : status}</strong> ` +
      `${escapeXml(goal.goal)}: ${escapeXml(goal.detail)}</li>`;
  });
  const list = (items: string[]) => (items.length ? `<ul>${items.map((i) => `<li>${escapeXml(i)}</li>`).join('')}</ul>` : '');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>zeo bench ${escapeXml(results.machine.date)}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
li.met strong { color: #2a7d2a; } li.missed strong { color: #c0392b; } li.unknown strong { color: #888; }
small { font-weight: normal; color: #666; }
code { background: #f4f4f4; padding: 1px 4px; }
</style></head><body>
<h1>zeo bench</h1>
<p><code>${escapeXml(results.command)}</code></p>
<p>${escapeXml(machineLine(results.machine))}</p>
<p>Each step: ${results.options.durationSeconds} s after ${results.options.warmupSeconds} s warm-up,
${results.options.connections} connections, ${results.options.productCount} products.</p>
<h2>Goals</h2><ul>${goals.join('')}</ul>
${charts}
<h2>All results</h2>
<table><thead><tr>${TABLE_HEADERS.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr></thead>
<tbody>${rows.join('\n')}</tbody></table>
<h2>Faults</h2>${list(results.faults.map(faultLine))}
<h2>Notes</h2>${list(results.notes)}
<h2>Targets</h2>${list(Object.entries(results.targetDescriptions).map(([name, text]) => `${name}: ${text}`))}
</body></html>
`;
}
