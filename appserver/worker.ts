// The app-server worker thread's entry point (run compiled, from dist/appserver/worker.js). The
// router (proxy/worker-handle.ts) starts it with WorkerStartData; it starts a SiteRuntime, says
// `ready` (or `fatal` and exits), then serves `request` messages, answers `ping` with its
// health, and on `drain` finishes what is in flight, closes its storage and exits with code 0.
// Bodies cross the port as transferred ArrayBuffers.

import { parentPort, workerData } from 'node:worker_threads';
import type { ZeoConfig } from '../config/schema.js';
import { describe, responseToData, type LogFunction } from './request-runner.js';
import { SiteRuntime } from './site-runtime.js';
import type { RequestMessage, RouterToWorker, WorkerStartData, WorkerToRouter } from './worker-protocol.js';

if (!parentPort) throw new Error('appserver/worker.js runs as a worker thread; use runAppServerMain to serve HTTP');
const port = parentPort;
const start = workerData as WorkerStartData;

function send(message: WorkerToRouter, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

const log: LogFunction = (level, message, fields) => send({ type: 'log', level, message, fields });

let runtime: SiteRuntime;
let isDraining = false;

async function serve(message: RequestMessage): Promise<void> {
  let answer: { status: number; headers: Array<[string, string]>; body: ArrayBuffer | null };
  try {
    answer = await responseToData(await runtime.runner.run(message));
  } catch (error) {
    // The handler's errors are caught in the runner; this is a body that failed to stream.
    log('error', 'response body failed', { url: message.url, error: describe(error) });
    answer = { status: 500, headers: [['content-type', 'text/plain; charset=utf-8']], body: null };
  }
  send({ type: 'response', id: message.id, ...answer }, answer.body ? [answer.body] : []);
}

async function drain(): Promise<void> {
  if (isDraining) return;
  isDraining = true;
  try {
    await runtime.close();
  } catch (error) {
    log('warn', 'closing the storage failed', { error: describe(error) });
  }
  process.exit(0);
}

port.on('message', (message: RouterToWorker) => {
  switch (message.type) {
    case 'request':
      void serve(message);
      break;
    case 'ping':
      send({ type: 'pong', id: message.id, health: runtime.health() });
      break;
    case 'drain':
      void drain();
      break;
  }
});

try {
  runtime = await SiteRuntime.start({
    config: start.config as ZeoConfig,
    workerId: start.workerId,
    appModule: start.appModule,
    storageFactory: start.storageFactory,
    log,
  });
  send({ type: 'ready', workerId: start.workerId });
} catch (error) {
  send({ type: 'fatal', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}
