// loadConfig: the one way a zeo-ts process gets its configuration. Layers, later wins:
//   DEFAULTS  <  the JSON config file  <  ZEO_* / REDIS_URL environment  <  overrides (CLI flags)
// The file is `options.file`, else $ZEO_CONFIG, else zeo.config.json in the working directory if
// it exists, else none (so `zeo start` runs on defaults alone). The merged result is validated
// once (validate.ts) and returned as a fresh, fully-defaulted ZeoConfig.
// Relative paths in the config (storage.path, client.diskCacheDir, app.module) stay relative to
// the working directory of the process, as the command line user expects.

import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { ConfigFileError } from '../errors.js';
import { configFromEnv } from './env.js';
import { DEFAULTS, type ZeoConfig } from './schema.js';
import { validateConfig } from './validate.js';

export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> | null }
    : T;

/** What a config file, or a caller, may give: any subset of ZeoConfig. */
export type ZeoConfigInput = DeepPartial<ZeoConfig>;

export const DEFAULT_CONFIG_FILE = 'zeo.config.json';

export interface LoadConfigOptions {
  /** Config file path; undefined = $ZEO_CONFIG or ./zeo.config.json if present; null = none. */
  file?: string | null;
  /** Environment to read overrides from; default process.env. Pass {} to ignore it. */
  env?: NodeJS.ProcessEnv;
  /** Applied last (command-line flags, tests). */
  overrides?: ZeoConfigInput;
  /** Where a relative file path and the default file are looked up; default process.cwd(). */
  cwd?: string;
}

export interface LoadedConfig {
  config: ZeoConfig;
  /** The absolute path of the config file read, or null when none was. */
  file: string | null;
}

/** A bare string is the config file; a bare null means no file (defaults and environment). */
export function loadConfig(options: LoadConfigOptions | string | null = {}): ZeoConfig {
  return loadConfigWithSource(options).config;
}

/** loadConfig that also says which file it read (for logs: "config from …"). */
export function loadConfigWithSource(fileOrOptions: LoadConfigOptions | string | null = {}): LoadedConfig {
  const options = typeof fileOrOptions === 'string' || fileOrOptions === null ? { file: fileOrOptions } : fileOrOptions;
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = chooseFile(options.file, env, cwd);
  let merged: unknown = structuredClone(DEFAULTS);
  if (file) merged = deepMerge(merged, readConfigFile(file));
  merged = deepMerge(merged, configFromEnv(env));
  if (options.overrides) merged = deepMerge(merged, options.overrides);
  return { config: validateConfig(merged), file };
}

/** The number of worker threads to run: workers.count, or one per CPU core for "auto". */
export function resolveWorkerCount(config: ZeoConfig): number {
  return config.workers.count === 'auto' ? availableParallelism() : config.workers.count;
}

function chooseFile(file: string | null | undefined, env: NodeJS.ProcessEnv, cwd: string): string | null {
  if (file === null) return null;
  if (file !== undefined) return resolve(cwd, file);
  if (env.ZEO_CONFIG) return resolve(cwd, env.ZEO_CONFIG);
  const implicit = resolve(cwd, DEFAULT_CONFIG_FILE);
  return existsSync(implicit) ? implicit : null;
}

export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(error);
    throw new ConfigFileError(file, `${reason}; pass an existing JSON file (--config <file>)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigFileError(file, `not valid JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigFileError(file, 'must hold one JSON object, e.g. {"workers": {"count": 4}}');
  }
  // "$schema" points editors at config/schema.json; it is not a setting.
  const { $schema: _schema, ...settings } = parsed as Record<string, unknown>;
  return settings;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Objects merge key by key; anything else (arrays, null, scalars) replaces. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isPlainObject(over) || !isPlainObject(base)) return structuredClone(over);
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = deepMerge(base[key], value);
  return out;
}
