// Checks a whole config (already merged from defaults, file, environment and overrides) against
// CONFIG_FIELDS, once, at the edge. The first problem found throws ConfigError naming the key
// path (`router.health.fall`), the value and what is allowed; an unknown key suggests the
// closest known one. What comes out is a plain ZeoConfig that inner code trusts as it is.

import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from '../errors.js';
import { CONFIG_FIELDS, type Field, type ObjectField } from './fields.js';
import type { ZeoConfig } from './schema.js';

export function validateConfig(raw: unknown): ZeoConfig {
  const config = checkField(CONFIG_FIELDS, raw, '') as ZeoConfig;
  checkDistinctListeners(config);
  checkPostgresStorage(config);
  return config;
}

/** Checks one value against its descriptor; returns it (objects rebuilt, unknown keys refused). */
export function checkField(field: Field, value: unknown, path: string): unknown {
  switch (field.type) {
    case 'nullable':
      return value === null ? null : checkField(field.of, value, path);
    case 'object':
      return checkObject(field, value, path);
    case 'string':
      if (typeof value !== 'string') throw new ConfigError(path, value, 'a string');
      if (field.isNonEmpty && value.trim() === '') throw new ConfigError(path, value, 'a non-empty string');
      if (field.format === 'redisUrl' && !isRedisUrl(value)) {
        throw new ConfigError(path, value, 'a Redis URL such as "redis://127.0.0.1:6379" (or null)');
      }
      return value;
    case 'integer':
    case 'number': {
      const isWhole = field.type === 'integer';
      const allowed = describe(field);
      if (typeof value !== 'number' || !Number.isFinite(value) || (isWhole && !Number.isInteger(value))) {
        throw new ConfigError(path, value, allowed);
      }
      if (value < field.min || (field.max !== undefined && value > field.max)) {
        throw new ConfigError(path, value, allowed);
      }
      return value;
    }
    case 'boolean':
      if (typeof value !== 'boolean') throw new ConfigError(path, value, 'true or false');
      return value;
    case 'enum':
      if (typeof value !== 'string' || !field.values.includes(value)) {
        throw new ConfigError(path, value, 'one of ' + field.values.map((v) => JSON.stringify(v)).join(', '));
      }
      return value;
    case 'workerCount':
      if (value === 'auto' || (typeof value === 'number' && Number.isInteger(value) && value >= 1)) return value;
      throw new ConfigError(path, value, 'a positive integer or "auto"');
    case 'array':
      if (!Array.isArray(value)) throw new ConfigError(path, value, `an array of ${ITEM_NAMES[field.items]}`);
      return value.map((item: unknown, i) => {
        if (!ITEM_CHECKS[field.items](item)) {
          throw new ConfigError(`${path}[${i}]`, item, ITEM_NAMES[field.items]);
        }
        return item;
      });
  }
}

function checkObject(field: ObjectField, value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(path || '(top level)', value, 'an object with keys ' + Object.keys(field.fields).join(', '));
  }
  const input = value as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(field.fields, key)) {
      const keyPath = join(path, key);
      throw new ConfigError(keyPath, input[key], knownKeyHint(keyPath, field, path));
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(field.fields)) {
    if (!Object.hasOwn(input, key)) throw new ConfigError(join(path, key), undefined, `${describe(child)} (the key is missing)`);
    out[key] = checkField(child, input[key], join(path, key));
  }
  return out;
}

/** Two listeners of one `zeo start` on the same host and port cannot both bind. */
function checkDistinctListeners(config: ZeoConfig): void {
  const listeners: Array<[string, { host: string; port: number }]> = [
    ['storageServer.listen', config.storageServer.listen],
    ['router.listen', config.router.listen],
    ['admin', config.admin],
  ];
  const seen = new Map<string, string>();
  for (const [key, { host, port }] of listeners) {
    if (port === 0) continue;
    const other = seen.get(`${host}:${port}`);
    if (other) throw new ConfigError(`${key}.port`, port, `a port other than ${other}.port (both listen on ${host})`);
    seen.set(`${host}:${port}`, key);
  }
}

/** A PostgreSQL storage needs a database URL, and its schema name becomes SQL identifiers. */
function checkPostgresStorage(config: ZeoConfig): void {
  const { kind, postgresUrl, postgresSchema } = config.storage;
  if (kind !== 'postgres') return;
  if (postgresUrl === null || !isUrlWith(postgresUrl, ['postgres:', 'postgresql:'])) {
    throw new ConfigError('storage.postgresUrl', postgresUrl, 'a postgres:// URL when storage.kind is "postgres"');
  }
  if (!/^[a-z_][a-z0-9_]{0,47}$/.test(postgresSchema)) {
    throw new ConfigError('storage.postgresSchema', postgresSchema, 'lower-case letters, digits and _ (at most 48)');
  }
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** What a field allows, in words, for error messages. */
export function describe(field: Field): string {
  switch (field.type) {
    case 'nullable':
      return `${describe(field.of)} or null`;
    case 'object':
      return 'an object with keys ' + Object.keys(field.fields).join(', ');
    case 'array':
      return `an array of ${ITEM_NAMES[field.items]}`;
    case 'enum':
      return 'one of ' + field.values.map((v) => JSON.stringify(v)).join(', ');
    case 'workerCount':
      return 'a positive integer or "auto"';
    case 'integer':
    case 'number': {
      const range = field.max === undefined ? `>= ${field.min}` : `from ${field.min} to ${field.max}`;
      return `${field.type === 'integer' ? 'an integer' : 'a number'} ${range}`;
    }
    case 'string':
      return field.isNonEmpty ? 'a non-empty string' : 'a string';
    case 'boolean':
      return 'true or false';
  }
}

const ITEM_NAMES = {
  cidr: 'CIDR ranges such as "10.0.0.0/8", "::1/128" or a single address "127.0.0.1"',
  hostPort: '"host:port" addresses such as "127.0.0.1:8100"',
  httpUrl: 'http(s) URLs such as "http://10.0.0.5:8081"',
  string: 'strings',
} as const;

const ITEM_CHECKS: Record<keyof typeof ITEM_NAMES, (item: unknown) => boolean> = {
  cidr: (item) => typeof item === 'string' && isCidr(item),
  hostPort: (item) => typeof item === 'string' && isHostPort(item),
  httpUrl: (item) => typeof item === 'string' && isUrlWith(item, ['http:', 'https:']),
  string: (item) => typeof item === 'string' && item !== '',
};

export function isCidr(text: string): boolean {
  // A bare address is a single host (/32 or /128), as the storage server's gate reads it.
  const [address = '', prefix, ...rest] = text.split('/');
  if (rest.length > 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) return false;
  const bits = prefix === undefined ? 0 : Number(prefix);
  if (isIPv4(address)) return bits <= 32;
  if (isIPv6(address)) return bits <= 128;
  return false;
}

function isHostPort(text: string): boolean {
  const match = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(text);
  return match !== null && Number(match[2]) >= 1 && Number(match[2]) <= 65535;
}

function isUrlWith(text: string, protocols: string[]): boolean {
  try {
    const url = new URL(text);
    return protocols.includes(url.protocol) && url.hostname !== '';
  } catch {
    return false;
  }
}

const isRedisUrl = (text: string) => isUrlWith(text, ['redis:', 'rediss:']);

/** "did you mean …" for an unknown key: the same leaf name elsewhere, else the nearest sibling. */
function knownKeyHint(keyPath: string, parent: ObjectField, parentPath: string): string {
  const leaf = keyPath.slice(keyPath.lastIndexOf('.') + 1);
  const siblings = Object.keys(parent.fields);
  const elsewhere = allPaths(CONFIG_FIELDS, '').filter((p) => p.endsWith('.' + leaf) || p === leaf);
  const sameSection = elsewhere.find((p) => p.startsWith(parentPath + '.')) ?? elsewhere[0];
  let suggestion = sameSection;
  if (!suggestion) {
    const ranked = siblings
      .map((name) => ({ name, distance: editDistance(leaf.toLowerCase(), name.toLowerCase()) }))
      .sort((a, b) => a.distance - b.distance);
    const best = ranked[0];
    if (best && best.distance <= Math.max(2, Math.floor(leaf.length / 3))) suggestion = join(parentPath, best.name);
  }
  const known = `a known key (${parentPath ? parentPath + ' has' : 'known sections:'} ${siblings.join(', ')})`;
  return suggestion ? `${known}; did you mean "${suggestion}"?` : known;
}

/** Every key path under `field`, objects included ("router", "router.health", "router.health.fall"). */
export function allPaths(field: ObjectField, path: string): string[] {
  return Object.entries(field.fields).flatMap(([key, child]) => {
    const childPath = join(path, key);
    const inner = child.type === 'nullable' ? child.of : child;
    return inner.type === 'object' ? [childPath, ...allPaths(inner, childPath)] : [childPath];
  });
}

export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}
