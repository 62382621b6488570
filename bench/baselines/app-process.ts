// Entry file: one plain-Node catalogue app server process (memory or PostgreSQL store, spec in
// ZEO_BENCH_APP_SPEC) on 127.0.0.1 --port N. Run alone (the nginx baseline starts one per
// upstream) or as a cluster worker (the cluster baseline), where every worker asks for the same
// port and the cluster primary shares one socket between them.

import { createCatalogueServer } from '../apps/catalogue-http.js';
import { MemoryCatalogueStore } from '../apps/memory-catalogue.js';
import { runAsChild } from '../launch/processes.js';
import { PostgresCatalogueStore } from './postgres-app.js';
import { appSpecFromEnv, portFromArgs } from './app-spec.js';

runAsChild(`bench app (${process.pid})`, async () => {
  const spec = appSpecFromEnv();
  const port = portFromArgs(process.argv);
  const store = spec.kind === 'memory' ? new MemoryCatalogueStore(spec.productCount) : new PostgresCatalogueStore(spec);
  const server = createCatalogueServer(store);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  process.send?.({ type: 'ready', pid: process.pid });
  return async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await store.close();
  };
});
