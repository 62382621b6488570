// Entry file: one catalogue app server process, for the baselines. Run either alone (the nginx
// baseline starts one per upstream) or as a cluster worker (the cluster baseline). It serves the
// spec in ZEO_BENCH_APP_SPEC on 127.0.0.1 and sends {type: 'ready', pid} to its parent when it
// listens. A cluster worker given the same port as its siblings shares the primary's socket.

import { createCatalogueServer } from '../apps/catalogue-http.js';
import { MemoryCatalogueStore } from '../apps/memory-catalogue.js';
import { loadZeoPart } from '../launch/zeo-parts.js';
import { runAsChild } from '../launch/processes.js';
import { PostgresCatalogueStore } from './postgres-app.js';
import { appSpecFromEnv, type AppSpec } from './app-spec.js';

async function startNodeHttp(spec: Exclude<AppSpec, { kind: 'zeo' }>): Promise<() => Promise<void>> {
  const store = spec.kind === 'memory'
    ? new MemoryCatalogueStore(spec.productCount)
    : new PostgresCatalogueStore(spec);
  const server = createCatalogueServer(store);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(spec.port, '127.0.0.1', () => resolve());
  });
  return async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await store.close();
  };
}

async function startZeoAppServer(spec: Extract<AppSpec, { kind: 'zeo' }>): Promise<() => Promise<void>> {
  const { startAppServer } = await loadZeoPart('appServer');
  const appServer = await startAppServer(spec.config);
  return () => appServer.close();
}

runAsChild(`bench app (${process.pid})`, async () => {
  const spec = appSpecFromEnv();
  const stop = spec.kind === 'zeo' ? await startZeoAppServer(spec) : await startNodeHttp(spec);
  process.send?.({ type: 'ready', pid: process.pid });
  return stop;
});
