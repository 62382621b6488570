// Environment overrides: ZEO_<SECTION>_<KEY> for every config key, the path's camelCase segments
// turned to UPPER_SNAKE and joined by "_" (router.listen.port -> ZEO_ROUTER_LISTEN_PORT,
// storageServer.allow -> ZEO_STORAGE_SERVER_ALLOW), plus REDIS_URL -> redis.url as hosting
// platforms set it. Text is parsed by the target key's type: numbers, booleans
// (true/false/1/0/yes/no), arrays (a JSON array or a comma-separated list), null ("null" or "").
// A ZEO_ variable that starts with a known section but names no key is refused with the nearest
// known name, so a typo never silently does nothing. ZEO_CONFIG (the config file) is not a key.

import { ConfigError } from '../errors.js';
import { CONFIG_FIELDS, type Field, type ObjectField } from './fields.js';
import { checkField, describe, editDistance } from './validate.js';

/** Variables that start with ZEO_ but are not config keys. */
export const RESERVED_ENV = new Set(['ZEO_CONFIG']);

interface EnvKey {
  path: string[];
  field: Field;
}

const upperSnake = (segment: string) => segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

export const envName = (path: readonly string[]) => 'ZEO_' + path.map(upperSnake).join('_');

function collectKeys(field: ObjectField, prefix: string[], into: Map<string, EnvKey>): Map<string, EnvKey> {
  for (const [key, child] of Object.entries(field.fields)) {
    const path = [...prefix, key];
    const inner = child.type === 'nullable' ? child.of : child;
    if (inner.type === 'object') {
      // A nullable object (tls) may be set whole, as JSON, or leaf by leaf.
      if (child.type === 'nullable') into.set(envName(path), { path, field: child });
      collectKeys(inner, path, into);
    } else {
      into.set(envName(path), { path, field: child });
    }
  }
  return into;
}

const ENV_KEYS = collectKeys(CONFIG_FIELDS, [], new Map());
const SECTION_PREFIXES = Object.keys(CONFIG_FIELDS.fields).map((section) => envName([section]) + '_');

/**
 * True for a variable loadConfig reads (ZEO_<SECTION>_…, ZEO_CONFIG, REDIS_URL): a process that
 * hands its child a complete config file drops these, so they are not applied twice.
 */
export function isConfigVariable(name: string): boolean {
  return name === 'REDIS_URL' || RESERVED_ENV.has(name) || SECTION_PREFIXES.some((prefix) => name.startsWith(prefix));
}

/** Every variable name that sets a config key, with its key path (for docs and `zeo help`). */
export function envVariables(): Array<{ name: string; path: string }> {
  return [...ENV_KEYS].map(([name, key]) => ({ name, path: key.path.join('.') }));
}

/** The overrides the environment asks for, as a partial config to merge over the file. */
export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const overrides: Record<string, unknown> = {};
  const redisUrl = env.REDIS_URL;
  if (redisUrl !== undefined && env.ZEO_REDIS_URL === undefined) {
    setPath(overrides, ['redis', 'url'], parseAs(['redis', 'url'], 'REDIS_URL', redisUrl));
  }
  // Whole nullable objects first, so a leaf variable (ZEO_STORAGE_SERVER_TLS_CERT) refines them.
  const names = Object.keys(env)
    .filter((name) => name.startsWith('ZEO_') && !RESERVED_ENV.has(name))
    .sort((a, b) => a.length - b.length);
  for (const name of names) {
    const text = env[name];
    if (text === undefined) continue;
    const key = ENV_KEYS.get(name);
    if (key) {
      setPath(overrides, key.path, parseAs(key.path, name, text));
    } else if (SECTION_PREFIXES.some((prefix) => name.startsWith(prefix))) {
      throw new ConfigError(name, text, `a known variable${nearestName(name)}`);
    }
  }
  return overrides;
}

function parseAs(path: string[], name: string, text: string): unknown {
  const key = ENV_KEYS.get(envName(path));
  if (!key) throw new Error(`no config key ${path.join('.')}`);
  const value = parseText(key.field, text.trim());
  try {
    return checkField(key.field, value, path.join('.'));
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new ConfigError(path.join('.'), text, `${describe(key.field)} (set by ${name})`);
    }
    throw error;
  }
}

function parseText(field: Field, text: string): unknown {
  switch (field.type) {
    case 'nullable':
      return text === '' || text === 'null' ? null : parseText(field.of, text);
    case 'integer':
    case 'number':
      return /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text) ? Number(text) : text;
    case 'workerCount':
      return text === 'auto' ? text : /^\d+$/.test(text) ? Number(text) : text;
    case 'boolean': {
      const lower = text.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(lower)) return true;
      if (['false', '0', 'no', 'off'].includes(lower)) return false;
      return text;
    }
    case 'array':
      if (text.startsWith('[')) return parseJson(text);
      return text === '' ? [] : text.split(',').map((item) => item.trim());
    case 'object':
      return parseJson(text);
    default:
      return text;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text; // validation then reports the text as not the expected shape
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const segment of path.slice(0, -1)) {
    const next = node[segment];
    if (typeof next !== 'object' || next === null) node[segment] = {};
    node = node[segment] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function nearestName(name: string): string {
  let best = '';
  let bestDistance = Infinity;
  for (const known of ENV_KEYS.keys()) {
    const distance = editDistance(name, known);
    if (distance < bestDistance) [best, bestDistance] = [known, distance];
  }
  return bestDistance <= Math.max(3, Math.floor(name.length / 4)) ? `; did you mean ${best}?` : '';
}
