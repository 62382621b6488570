// Baseline (a), the per-connection balancing ceiling: Node's cluster module running N copies of
// an app server on one port, no router. With the zeo launcher each cluster worker is
// `zeo appserver` (its own ClientStorage and caches; one storage server shared); with the
// PostgreSQL launcher it is baseline (c), the same app reading PostgreSQL on every request.

import { type AppLauncher, CLUSTER_ENV } from './app-spec.js';
import { freePort, spawnEntry } from '../launch/processes.js';
import { childPids } from '../cpu-usage.js';
import type { RunningTarget } from '../targets.js';

export async function startClusterTarget(app: AppLauncher, workers: number,
  options: { isVerbose?: boolean; startTimeoutMs?: number } = {}): Promise<RunningTarget> {
  const port = await freePort();
  const primary = spawnEntry(`cluster of ${workers} (${app.kind})`, new URL('./cluster-primary.js', import.meta.url), {
    env: { ...app.env, [CLUSTER_ENV]: JSON.stringify({ workers, exec: app.exec, args: app.args(port), execArgv: app.execArgv ?? [] }) },
    baseEnv: app.baseEnv,
    isVerbose: options.isVerbose,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    const timeoutMs = options.startTimeoutMs ?? 60_000;
    await primary.waitForMessage('ready', timeoutMs);
    await primary.waitUntilServing(`${url}/api/products/1`, timeoutMs);
  } catch (error) {
    await primary.stop();
    throw error;
  }
  return {
    url,
    adminUrl: null,
    workerExits: () => primary.received('worker-exit').length,
    cpuScope: () => ({ pids: [primary.pid, ...childPids(primary.pid)] }),
    close: () => primary.stop(8_000),
  };
}
