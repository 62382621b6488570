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

/** A status answer as a few readable lines (the JSON is printed with --json). */
export function formatStatus(status: unknown): string {
  if (typeof status !== 'object' || status === null) return String(status) + '\n';
  const lines: string[] = [];
  for (const [key, value] of Object.entries(status)) {
    if (Array.isArray(value)) {
      lines.push(`${key}:`);
      for (const item of value) lines.push('  ' + (typeof item === 'object' ? oneLine(item) : String(item)));
    } else {
      lines.push(`${key}: ${typeof value === 'object' && value !== null ? oneLine(value) : String(value)}`);
    }
  }
  return lines.join('\n') + '\n';
}

const oneLine = (value: object) =>
  Object.entries(value)
    .map(([k, v]) => `${k}=${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
    .join(' ');
