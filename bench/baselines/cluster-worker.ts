// Entry file: what each cluster worker runs. It imports the real app server entry (the file in
// ZEO_BENCH_WORKER_EXEC, e.g. bin/zeo.js with `appserver ...` in argv) and exits once that entry
// has set process.exitCode (it finished: failed to start, or stopped after SIGTERM). Without this
// a cluster worker whose entry ends lives on, because its IPC channel to the primary keeps the
// event loop alive, and a failed start would look like a slow one.

import { pathToFileURL } from 'node:url';
import { WORKER_EXEC_ENV } from './app-spec.js';

const exec = process.env[WORKER_EXEC_ENV];
if (!exec) throw new Error(`${WORKER_EXEC_ENV} is not set: this entry is started by the cluster baseline`);
setInterval(() => {
  if (process.exitCode !== undefined) process.exit();
}, 100).unref();
await import(pathToFileURL(exec).href);
