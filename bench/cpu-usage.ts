// CPU time used by a target's processes during a step, read from /proc (Linux; elsewhere the
// numbers are null). On a shared machine req/s moves with everyone else's load, but the CPU a
// target spends per request barely does, so the report shows it next to req/s. For the zeo site
// (router and workers are threads of one process) the router's main thread is counted apart.

import { readdirSync, readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc times are in these ticks (100 on every mainstream kernel). */
const TICKS_PER_SECOND = 100;

export interface CpuReading {
  /** CPU ms of every counted app-tier process, all threads. */
  totalMs: number;
  /** CPU ms of the main threads of the processes marked as routers (zeo start), else 0. */
  routerThreadMs: number;
  /** CPU ms of the storage server process, else 0. */
  storageMs: number;
}

/** utime + stime in ms from a /proc stat line (the command may contain spaces and parens). */
export function cpuMsFromStat(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is the state (field 3); utime and stime are fields 14 and 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? (ticks * 1000) / TICKS_PER_SECOND : 0;
}

export function parentPidFromStat(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

const readStat = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

/** The pids whose parent is `pid` (from /proc). */
export function childPids(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const children: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(`/proc/${entry}/stat`);
    if (stat && parentPidFromStat(stat) === pid) children.push(Number(entry));
  }
  return children;
}

/**
 * Which processes a target's CPU is counted over: the app tier (`pids`; `routerPids` have their
 * main thread counted apart too) and, separately, the storage server.
 */
export interface CpuScope {
  pids: number[];
  routerPids?: number[];
  storagePids?: number[];
}

export function readCpu(scope: CpuScope): CpuReading | null {
  if (process.platform !== 'linux') return null;
  const sum = (pids: readonly number[]) => {
    let ms = 0;
    for (const pid of new Set(pids)) {
      const stat = readStat(`/proc/${pid}/stat`);
      if (stat) ms += cpuMsFromStat(stat);
    }
    return ms;
  };
  const totalMs = sum(scope.pids);
  const storageMs = sum(scope.storagePids ?? []);
  let routerThreadMs = 0;
  for (const pid of scope.routerPids ?? []) {
    const stat = readStat(`/proc/${pid}/task/${pid}/stat`);
    if (stat) routerThreadMs += cpuMsFromStat(stat);
  }
  return { totalMs, routerThreadMs, storageMs };
}

export interface CpuPerRequest {
  /** App tier (router + workers, or cluster/nginx + app servers), all threads. */
  totalMs: number;
  /** The zeo router's main thread alone (null for targets without one). */
  routerMs: number | null;
  /** The storage server (null for targets without one: PostgreSQL's own processes are not counted). */
  storageMs: number | null;
}

/** CPU ms per request over a step (null when unknown). Pure; exported for tests. */
export function cpuPerRequest(before: CpuReading | null, after: CpuReading | null, requests: number,
  scope: CpuScope): CpuPerRequest | null {
  if (!before || !after || requests <= 0) return null;
  return {
    totalMs: (after.totalMs - before.totalMs) / requests,
    routerMs: scope.routerPids?.length ? (after.routerThreadMs - before.routerThreadMs) / requests : null,
    storageMs: scope.storagePids?.length ? (after.storageMs - before.storageMs) / requests : null,
  };
}
