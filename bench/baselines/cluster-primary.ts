// Entry file: the primary of the cluster baseline. Forks N app-process workers with Node's
// cluster module, all listening on one port (the primary accepts connections and hands them out
// round-robin, per connection: a keep-alive client stays with its worker). A worker that dies is
// forked again, as a production cluster setup would; the parent is told {type: 'worker-exit'}.
// Spec: ZEO_BENCH_CLUSTER = {"workers": N} plus the app spec in ZEO_BENCH_APP_SPEC.

import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { runAsChild } from '../launch/processes.js';
import { CLUSTER_ENV } from './app-spec.js';

runAsChild('bench cluster primary', async () => {
  const { workers: count } = JSON.parse(process.env[CLUSTER_ENV] ?? '{"workers": 1}') as { workers: number };
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./app-process.js', import.meta.url)), silent: false });
  let isStopping = false;
  let readyCount = 0;
  let hasReported = false;
  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.on('message', (message: { type?: string; error?: string }) => {
      if (message.type === 'ready') {
        readyCount++;
        if (!hasReported && readyCount >= count) {
          hasReported = true;
          process.send?.({ type: 'ready', pids: Object.values(cluster.workers ?? {}).map((w) => w?.process.pid) });
        }
      } else if (message.type === 'failed' && !hasReported) {
        process.send?.({ type: 'failed', error: `cluster worker failed to start: ${message.error}` });
      }
    });
    return worker;
  };
  cluster.on('exit', (worker, code, signal) => {
    if (isStopping) return;
    process.send?.({ type: 'worker-exit', pid: worker.process.pid, code, signal, at: Date.now() });
    if (hasReported) fork();
  });
  for (let i = 0; i < count; i++) fork();
  return async () => {
    isStopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
    await Promise.all(workers.map((worker) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => worker.process.kill('SIGKILL'), 4_000);
      worker.process.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      worker.process.kill('SIGTERM');
    })));
  };
});
