// `zeo scale N`, `zeo reload` and `zeo status`: small HTTP calls to the admin endpoint of a
// running site (config.admin, loopback by default), so they use the same config file as the
// `zeo start` they talk to. A site that is not running is one clear line, not a stack trace.

import { InvalidArgumentError, UnavailableError } from '../errors.js';
import type { ZeoConfig } from '../config/schema.js';

/** The admin endpoint's base URL; a wildcard listen address is reached over loopback. */
export function adminUrl(config: ZeoConfig): string {
  const { host, port } = config.admin;
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

async function callAdmin(config: ZeoConfig, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const url = adminUrl(config) + path;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(120_000),
    });
  } catch (error) {
    throw new UnavailableError(
      `no site answers at ${url} (${causeText(error)}); is \`zeo start\` running with this config?`,
      { cause: error },
    );
  }
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // a plain-text answer is shown as it is
  }
  if (!response.ok) {
    const detail = typeof parsed === 'object' && parsed && 'error' in parsed ? String(parsed.error) : text.trim();
    throw new UnavailableError(`${method} ${url} answered ${response.status}: ${detail}`);
  }
  return parsed;
}

function causeText(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}

export async function scaleSite(config: ZeoConfig, countText: string | undefined): Promise<unknown> {
  if (countText === undefined || !/^\d+$/.test(countText) || Number(countText) < 1) {
    throw new InvalidArgumentError('worker count', `\`zeo scale N\` needs N a positive integer, got ${JSON.stringify(countText ?? '')}`);
  }
  return callAdmin(config, 'POST', `/_zeo/scale?workers=${Number(countText)}`);
}

export const reloadSite = (config: ZeoConfig) => callAdmin(config, 'POST', '/_zeo/reload');

export const siteStatus = (config: ZeoConfig) => callAdmin(config, 'GET', '/_zeo/status');

interface BackendRow {
  id?: unknown;
  workerId?: unknown;
  state?: unknown;
  isHealthy?: unknown;
  reason?: unknown;
  inFlight?: unknown;
  served?: unknown;
  errors?: unknown;
  restarts?: unknown;
  heapUsedBytes?: unknown;
}

const COLUMNS: Array<[string, (row: BackendRow) => unknown]> = [
  ['id', (row) => row.workerId ?? row.id],
  ['state', (row) => row.state],
  ['healthy', (row) => (row.isHealthy === undefined ? '' : row.isHealthy ? 'yes' : 'no')],
  ['in flight', (row) => row.inFlight],
  ['served', (row) => row.served],
  ['errors', (row) => row.errors],
  ['restarts', (row) => row.restarts],
  ['heap MB', (row) => (typeof row.heapUsedBytes === 'number' ? (row.heapUsedBytes / 2 ** 20).toFixed(0) : '')],
  ['reason', (row) => row.reason ?? ''],
];

function table(rows: BackendRow[]): string[] {
  const cells = rows.map((row) => COLUMNS.map(([, get]) => String(get(row) ?? '')));
  const widths = COLUMNS.map(([title], i) => Math.max(title.length, ...cells.map((line) => line[i]!.length)));
  const format = (line: string[]) => '  ' + line.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  return [format(COLUMNS.map(([title]) => title)), ...cells.map(format)];
}

/** The admin status ({targetWorkers, workers, remotes}) as a table; --json prints it raw. */
export function formatStatus(status: unknown): string {
  if (typeof status !== 'object' || status === null) return String(status) + '\n';
  const { targetWorkers, workers, remotes, ...rest } = status as Record<string, unknown>;
  const lines: string[] = [];
  if (Array.isArray(workers)) {
    lines.push(`workers: ${workers.length}${targetWorkers !== undefined ? ` (target ${String(targetWorkers)})` : ''}`);
    if (workers.length > 0) lines.push(...table(workers as BackendRow[]));
  }
  if (Array.isArray(remotes) && remotes.length > 0) lines.push(`remotes: ${remotes.length}`, ...table(remotes as BackendRow[]));
  for (const [key, value] of Object.entries(rest)) lines.push(`${key}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
  return lines.join('\n') + '\n';
}
