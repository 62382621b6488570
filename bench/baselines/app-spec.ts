// How a baseline starts one app server on a given port: a compiled JS file to run with Node,
// its arguments and its environment. The cluster baseline runs it as every cluster worker (all
// on one port); the nginx baseline runs one per upstream port. The zeo app server is started
// through the `zeo appserver` command, exactly as a user would; the plain-Node catalogue apps
// (memory, PostgreSQL) through app-process.ts with their spec in ZEO_BENCH_APP_SPEC.

import { fileURLToPath } from 'node:url';

export const APP_SPEC_ENV = 'ZEO_BENCH_APP_SPEC';
/** {"workers": N, "exec": file, "args": [...], "execArgv": [...]} for the cluster primary. */
export const CLUSTER_ENV = 'ZEO_BENCH_CLUSTER';
/** The app server entry a cluster worker runs (cluster-worker.ts). */
export const WORKER_EXEC_ENV = 'ZEO_BENCH_WORKER_EXEC';

export type NodeAppSpec =
  | { kind: 'memory'; productCount: number }
  | { kind: 'postgres'; productCount: number; connectionString: string; schema: string; poolSize: number };

export interface AppLauncher {
  kind: 'memory' | 'postgres' | 'zeo';
  exec: string;
  args(port: number): string[];
  env: Record<string, string>;
  /** The environment to start from (default the bench's own); zeo children get a cleaned one. */
  baseEnv?: NodeJS.ProcessEnv;
  /** Node flags (--cpu-prof ...). */
  execArgv?: string[];
}

export function nodeAppLauncher(spec: NodeAppSpec, env: Record<string, string> = {}): AppLauncher {
  return {
    kind: spec.kind,
    exec: fileURLToPath(new URL('./app-process.js', import.meta.url)),
    args: (port) => ['--port', String(port)],
    env: { ...env, [APP_SPEC_ENV]: JSON.stringify(spec) },
  };
}

/** `zeo appserver --config FILE --port P`: the stand-alone zeo app server. */
export function zeoAppServerLauncher(configFile: string, baseEnv: NodeJS.ProcessEnv, execArgv: string[] = []): AppLauncher {
  return {
    kind: 'zeo',
    exec: fileURLToPath(new URL('../../bin/zeo.js', import.meta.url)),
    args: (port) => ['appserver', '--config', configFile, '--port', String(port)],
    env: {},
    baseEnv,
    execArgv,
  };
}

export function appSpecFromEnv(env: NodeJS.ProcessEnv = process.env): NodeAppSpec {
  const raw = env[APP_SPEC_ENV];
  if (!raw) throw new Error(`${APP_SPEC_ENV} is not set: this entry is started by the bench, not by hand`);
  return JSON.parse(raw) as NodeAppSpec;
}

/** The value of `--port N` in argv. */
export function portFromArgs(argv: readonly string[]): number {
  const index = argv.indexOf('--port');
  const port = index >= 0 ? Number(argv[index + 1]) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`app process needs --port N (got ${argv.join(' ')})`);
  return port;
}
