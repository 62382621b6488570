// Remote app servers next to local workers: the router balances over both, checks the remote's
// health endpoint, and stops sending it requests (without failing any) when it goes away.
import t from 'tap';
import { request } from 'undici';
import { startAppServer } from '../../appserver/standalone.js';
import { silentLogger } from '../../log.js';
import { startSite } from '../../proxy/site.js';
import { eventually, startLoad } from './fixtures/load.js';
import { NO_STORAGE, testConfig } from './fixtures/site-config.js';

t.test('requests reach local workers and a remote app server; a remote that leaves is skipped', async (t) => {
  const remote = await startAppServer(testConfig(), { storageFactory: NO_STORAGE, workerId: 99, log: () => {} });
  t.teardown(() => remote.close(1_000));
  const site = await startSite(testConfig({ workers: { count: 1 }, router: { balancing: 'round-robin', remotes: [remote.url] } }), {
    log: silentLogger,
    storageFactory: NO_STORAGE,
  });
  t.teardown(() => site.close(2_000));
  const remoteBackend = site.pool.remotes[0]!;
  t.ok(await eventually(() => remoteBackend.isAvailable(), 5_000), 'the remote passed its health checks');
  const seen = new Set<number>();
  for (let i = 0; i < 10; i++) {
    const answer = await request(site.url + '/whoami');
    seen.add(((await answer.body.json()) as { workerId: number }).workerId);
  }
  t.same([...seen].sort((a, b) => a - b), [1, 99], 'both the local worker and the remote answered');

  const load = startLoad(site.url, { concurrency: 4 });
  await load.progress(40);
  await remote.close(1_000);
  t.ok(await eventually(() => !remoteBackend.isAvailable(), 5_000), 'the remote is out');
  await load.progress(60);
  const result = await load.stop();
  t.equal(result.failed, 0, `no GET failed (${result.failures.slice(0, 3).join(' | ')})`);
  const status = (await (await request(site.adminUrl + '/_zeo/status')).body.json()) as {
    remotes: Array<{ isHealthy: boolean; reason: string }>;
  };
  t.equal(status.remotes[0]!.isHealthy, false);
  t.match(status.remotes[0]!.reason, /health|request failed/);
});
