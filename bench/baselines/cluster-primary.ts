// Entry file: the primary of the cluster baseline. Forks N workers with Node's cluster module,
// each running the launcher's file and arguments on one shared port (the primary accepts the
// connections and hands them out round-robin, per connection: a keep-alive client stays with its
// worker). Ready when every worker listens. A worker that dies is forked again, as a production
// cluster setup would, and the parent is told {type: 'worker-exit'}.

import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { runAsChild } from '../launch/processes.js';
import { CLUSTER_ENV, WORKER_EXEC_ENV } from './app-spec.js';

interface ClusterSpec {
  workers: number;
  exec: string;
  args: string[];
  execArgv?: string[];
}

runAsChild('bench cluster primary', async () => {
  const spec = JSON.parse(process.env[CLUSTER_ENV] ?? 'null') as ClusterSpec | null;
  if (!spec) throw new Error(`${CLUSTER_ENV} is not set: this entry is started by the bench`);
  process.env[WORKER_EXEC_ENV] = spec.exec;
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./cluster-worker.js', import.meta.url)), args: spec.args,
    execArgv: spec.execArgv ?? [], silent: false });
  let isStopping = false;
  let hasReported = false;
  const listening = new Set<number>();
  cluster.on('listening', (worker) => {
    listening.add(worker.id);
    if (!hasReported && listening.size >= spec.workers) {
      hasReported = true;
      process.send?.({ type: 'ready', pids: Object.values(cluster.workers ?? {}).map((w) => w?.process.pid) });
    }
  });
  cluster.on('exit', (worker, code, signal) => {
    listening.delete(worker.id);
    if (isStopping) return;
    process.send?.({ type: 'worker-exit', pid: worker.process.pid, code, signal, at: Date.now() });
    if (hasReported) cluster.fork();
    else process.send?.({ type: 'failed', error: `a cluster worker exited (${code ?? signal}) before listening` });
  });
  for (let i = 0; i < spec.workers; i++) cluster.fork();
  return async () => {
    isStopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
    await Promise.all(workers.map((worker) => new Promise<void>((resolve) => {
      if (worker.process.exitCode !== null || worker.process.signalCode !== null) return resolve();
      const timer = setTimeout(() => worker.process.kill('SIGKILL'), 4_000);
      worker.process.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      worker.process.kill('SIGTERM');
    })));
  };
});
