// Baseline (a), the per-connection balancing ceiling: Node's cluster module running N copies of
// an app server on one port, no router. With the zeo app spec each cluster worker is the
// stand-alone zeo app server (its own ClientStorage and caches, one storage server shared); with
// the postgres spec it is baseline (c), the same app reading PostgreSQL on every request.

import { APP_SPEC_ENV, type AppSpec, CLUSTER_ENV, withPort } from './app-spec.js';
import { freePort, spawnEntry, waitForHttp } from '../launch/processes.js';
import type { RunningTarget } from '../targets.js';

export async function startClusterTarget(app: AppSpec, workers: number,
  options: { isVerbose?: boolean; startTimeoutMs?: number } = {}): Promise<RunningTarget> {
  const port = await freePort();
  const spec = withPort(app, port);
  const primary = spawnEntry(`cluster of ${workers} (${app.kind})`, new URL('./cluster-primary.js', import.meta.url), {
    env: { [APP_SPEC_ENV]: JSON.stringify(spec), [CLUSTER_ENV]: JSON.stringify({ workers }) },
    isVerbose: options.isVerbose,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    const timeoutMs = options.startTimeoutMs ?? 60_000;
    await primary.waitForMessage('ready', timeoutMs);
    await waitForHttp(`${url}/api/products/1`, timeoutMs);
  } catch (error) {
    await primary.stop();
    throw error;
  }
  return {
    url,
    adminUrl: null,
    workerExits: () => primary.received('worker-exit').length,
    close: () => primary.stop(8_000),
  };
}
