// The report: one aligned text table, a self-contained HTML page with SVG charts, and the JSON
// file, from hand-made results (no load is run).
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { niceMax, lineChart, barChart } from '../../bench/charts.js';
import { fileDate, formatHtmlReport, formatTextReport, writeReports } from '../../bench/report.js';
import { formatTable, resultRows, TABLE_HEADERS } from '../../bench/report-table.js';
import { fakeResults } from './fixtures/results.js';

t.test('formatTable pads every column to its widest cell, numbers to the right', async (t) => {
  const text = formatTable(['name', 'n'], [['a', '1'], ['long name', '12,345']], [false, true]);
  const lines = text.split('\n');
  t.equal(lines.length, 4);
  t.equal(lines[0], 'name            n');
  t.equal(lines[1], '---------  ------');
  t.equal(lines[2], 'a               1');
  t.equal(lines[3], 'long name  12,345');
});

t.test('the text report is one table with a row per step and per fault run', async (t) => {
  const results = fakeResults();
  const text = formatTextReport(results);
  t.match(text, /machine: 2026-11-25T10:20:33.123Z · 2 cores \(Test CPU <fast>\) · node v20.20.2/);
  const tableLines = text.split('\n').filter((line) => /^(read-mostly|large-pages|fault: )/.test(line));
  t.equal(tableLines.length, results.steps.length + results.faults.length);
  t.equal(text.split('\n').filter((line) => line.startsWith('scenario ')).length, 1, 'one header: one table');
  const siteRow = tableLines.find((line) => /^read-mostly\s+2\s+site /.test(line))!;
  t.match(siteRow, /8,000\s+0\.89x\s+1\.0\s+3\.0\s+4\.0\s+0\s+0\s+450\s+120\s+50\s+3\s+97\.5%\s+2\.0$/,
    'req/s, x cluster, latencies, CPU per request, site counters');
  t.match(tableLines.find((line) => /^read-mostly\s+1\s+postgres /.test(line))!, /\s300\s+-\s+-\s+-\s+-\s+-$/);
  t.match(text, /read-mostly\s+2\s+postgres\s+failed/);
  t.match(text, /\[MISSED\] router >= 95% of cluster/);
  t.match(text, /\[ \? \] zero failed: not measured/);
  t.match(text, /fault run \(site, 3 workers\): 2 failed request\(s\) \(5xx: 2 POST\); /);
  t.match(text, /hung worker skipped after 1,200 ms, replaced after 3,400 ms; crashed worker skipped after 30 ms, replaced after not seen/);
  t.match(text, /nginx is not installed/);
});

t.test('rows are ordered by scenario, workers, then target', async (t) => {
  const rows = resultRows(fakeResults());
  t.equal(rows[0]!.length, TABLE_HEADERS.length);
  t.same(rows.slice(0, 4).map((r) => [r[0], r[1], r[2]]), [
    ['read-mostly', '1', 'site'], ['read-mostly', '1', 'cluster'], ['read-mostly', '1', 'postgres'], ['read-mostly', '2', 'site'],
  ]);
});

t.test('the HTML report is self-contained: inline SVG charts, no script, nothing fetched', async (t) => {
  const html = formatHtmlReport(fakeResults());
  t.match(html, /^<!doctype html>/);
  t.equal((html.match(/<svg /g) ?? []).length, 6, 'throughput, latency and CPU charts for each of the two scenarios');
  t.match(html, /read-mostly: CPU per request, 2 workers/);
  t.notMatch(html, /<script/i);
  t.notMatch(html, /(src|href)="(https?:)?\/\//i, 'no external resource');
  t.match(html, /Test CPU &lt;fast&gt;/, 'text is escaped');
  t.match(html, /<li class="missed"><strong>missed<\/strong> router &gt;= 95% of cluster/);
  t.match(html, /read-mostly: throughput/);
  t.match(html, /read-mostly: latency with 2 workers/);
});

t.test('charts scale to a round maximum and draw every point and bar', async (t) => {
  t.same([niceMax(0), niceMax(7), niceMax(10), niceMax(11), niceMax(1234), niceMax(0.3)], [1, 10, 10, 20, 2000, 0.5]);
  const line = lineChart({ title: 'x', xLabel: 'workers', yLabel: 'req/s', series: [
    { name: 'a', points: [{ x: 1, y: 10 }, { x: 2, y: 20 }] }, { name: 'b', points: [{ x: 1, y: 5 }] }] });
  t.equal((line.match(/<circle /g) ?? []).length, 3);
  t.equal((line.match(/<polyline /g) ?? []).length, 2);
  const bars = barChart({ title: 'y', xLabel: 'target', yLabel: 'ms', groups: [
    { label: 'site', bars: [{ name: 'p50', value: 1 }, { name: 'p99', value: 4 }] }] });
  t.equal((bars.match(/<rect /g) ?? []).length, 2 + 2, 'two bars and two legend swatches');
});

t.test('writeReports writes site-<date>.json and .html', async (t) => {
  const folder = join(tmpdir(), `zeo-bench-report-${process.pid}`);
  t.teardown(() => rm(folder, { recursive: true, force: true }));
  const results = fakeResults();
  t.equal(fileDate(results.machine.date), '2026-11-25T10-20-33Z');
  const written = await writeReports(results, folder);
  t.equal(written.json, join(folder, 'site-2026-11-25T10-20-33Z.json'));
  t.same(JSON.parse(await readFile(written.json, 'utf8')), results);
  t.match(await readFile(written.html, 'utf8'), /<svg /);
});
