// Writing a site bench run's results: the JSON (bench/results/site-<date>.json, every number the
// run produced) and the self-contained HTML report beside it; the text table goes to stdout
// from the caller (report-table.ts).

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatHtmlReport } from './report-html.js';
import type { SiteBenchResults } from './results.js';

export { formatTextReport } from './report-table.js';
export { formatHtmlReport } from './report-html.js';

/** "2026-11-25T10-20-33Z": a date that sorts and is safe in a file name. */
export function fileDate(isoDate: string): string {
  return isoDate.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

export async function writeReports(results: SiteBenchResults, folder: string): Promise<{ json: string; html: string }> {
  await mkdir(folder, { recursive: true });
  const base = join(folder, `site-${fileDate(results.machine.date)}`);
  const json = `${base}.json`;
  const html = `${base}.html`;
  await writeFile(json, JSON.stringify(results, null, 2) + '\n');
  await writeFile(html, formatHtmlReport(results));
  return { json, html };
}
