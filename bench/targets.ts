// What a bench step measures: a running target (the zeo site or a baseline) that answers the
// catalogue routes on a 127.0.0.1 URL, and how to stop it.

import type { CpuScope } from './cpu-usage.js';

export type TargetName = 'site' | 'cluster' | 'nginx' | 'postgres';

export const TARGET_DESCRIPTIONS: Record<TargetName, string> = {
  site: 'zeo router + local worker threads (in-process dispatch)',
  cluster: 'node:cluster, one stand-alone zeo app server per worker, no router',
  nginx: 'nginx (round-robin, keep-alive) in front of stand-alone zeo app servers',
  postgres: 'same app on node:cluster, data in PostgreSQL on every request (its "storage" CPU is the PostgreSQL backends serving it)',
};

export interface RunningTarget {
  url: string;
  /** The zeo admin endpoint (/_zeo/status) when the target has one. */
  adminUrl: string | null;
  /** Worker processes that exited while running (cluster reforks), where the target can tell. */
  workerExits(): number;
  /** The processes whose CPU the step counts (asked before each step: workers may be reforked). */
  cpuScope?(): CpuScope | Promise<CpuScope>;
  close(): Promise<void>;
}
