// Which catalogue implementation a baseline process serves, passed to it as JSON in the
// ZEO_BENCH_APP_SPEC environment variable (see app-process.ts).

import type { ZeoConfig } from '../../config/schema.js';

export const APP_SPEC_ENV = 'ZEO_BENCH_APP_SPEC';
/** {"workers": N} for the cluster primary. */
export const CLUSTER_ENV = 'ZEO_BENCH_CLUSTER';

export type AppSpec =
  | { kind: 'memory'; port: number; productCount: number }
  | { kind: 'postgres'; port: number; productCount: number; connectionString: string; schema: string; poolSize: number }
  /** The stand-alone zeo app server (appserver.listen in the config says where it listens). */
  | { kind: 'zeo'; config: ZeoConfig };

export function appSpecPort(spec: AppSpec): number {
  return spec.kind === 'zeo' ? spec.config.appserver.listen.port : spec.port;
}

export function withPort(spec: AppSpec, port: number): AppSpec {
  if (spec.kind !== 'zeo') return { ...spec, port };
  return { kind: 'zeo', config: { ...spec.config, appserver: { listen: { host: '127.0.0.1', port } } } };
}

export function appSpecFromEnv(env: NodeJS.ProcessEnv = process.env): AppSpec {
  const raw = env[APP_SPEC_ENV];
  if (!raw) throw new Error(`${APP_SPEC_ENV} is not set: this entry is started by the bench, not by hand`);
  return JSON.parse(raw) as AppSpec;
}
