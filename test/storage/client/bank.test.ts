// The bank-transfer invariant across processes: ClientStorage worker processes move money
// between accounts (one-call commits and 2PC) and read every balance at one snapshot; every
// snapshot must sum to the same total. Run with invalidations pushed, with Redis, while the
// storage server is SIGKILLed and restarted, and while a (private) Redis is killed and restarted.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientStorage } from '../../../storage/client/storage.js';
import { sleep, startClientProcess, startRedisProcess, startServerProcess, type ServerProcess } from '../fixtures/server-processes.js';

const ACCOUNTS = 8;
const START_BALANCE = 100;
const TOTAL = ACCOUNTS * START_BALANCE;
const WORKERS = 3;
const DURATION_MS = 3000;

interface Scenario {
  redis: 'none' | 'shared' | 'private';
  /** Runs while the workers transfer; may kill things. */
  disturb?: (server: ServerProcess, redis: { kill(): Promise<void>; restart(): Promise<void> } | null) => Promise<void>;
}

async function runBank(t: Test, scenario: Scenario) {
  const dir = await mkdtemp(join(tmpdir(), 'zeo-bank-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const privateRedis = scenario.redis === 'private' ? await startRedisProcess(t) : null;
  const redisUrl = privateRedis?.url ?? 'redis://127.0.0.1:6379';
  const redis = scenario.redis === 'none' ? null : { url: redisUrl, prefix: `zeo-test-${randomBytes(6).toString('hex')}:` };
  const server = await startServerProcess(t, { kind: 'file', path: join(dir, 'Data.fs'), redis });
  const servers = [`127.0.0.1:${server.port}`];

  const setup = await ClientStorage.open({ servers, log: () => undefined, unavailableTimeoutMs: 20_000 });
  t.teardown(() => setup.close());
  const accounts = Array.from({ length: ACCOUNTS }, (_, i) => BigInt(i + 1));
  await setup.commit({ stores: accounts.map((oid) => ({ oid, baseTid: 0n, data: new TextEncoder().encode(String(START_BALANCE)), refs: [] })) });

  const workers = await Promise.all(Array.from({ length: WORKERS }, () => startClientProcess(t, { servers, redis, unavailableTimeoutMs: 20_000 })));
  const runs = workers.map((w) => w.request({ op: 'bank', accounts: accounts.map(String), total: TOTAL, durationMs: DURATION_MS }));
  const disturbed = scenario.disturb?.(server, privateRedis);
  const results = await Promise.all(runs);
  await disturbed;

  let transfers = 0;
  let snapshots = 0;
  for (const [i, result] of results.entries()) {
    t.notOk(result.error, `worker ${i} ran without unexpected errors`, { error: result.error });
    t.same(result.badSnapshots, [], `worker ${i}: every one of its ${String(result.snapshots)} snapshots summed to ${TOTAL}`);
    transfers += Number(result.transfers);
    snapshots += Number(result.snapshots);
  }
  t.ok(transfers > 20, `the workers made ${transfers} transfers (${results.map((r) => `${String(r.twoPhaseTransfers)} by 2PC`).join(', ')}) and ${snapshots} snapshot reads`);
  // A fresh client sees the same total, and every worker catches up to the same last TID.
  const check = await ClientStorage.open({ servers, log: () => undefined, unavailableTimeoutMs: 20_000 });
  t.teardown(() => check.close());
  const lastTid = await check.lastTransaction();
  let sum = 0;
  for (const oid of accounts) sum += Number(new TextDecoder().decode((await check.load(oid)).data));
  t.equal(sum, TOTAL, 'the final balances sum to the total');
  const deadline = Date.now() + 5000;
  for (const worker of workers) {
    let reply: Record<string, unknown>;
    do {
      reply = await worker.request({ op: 'lastTid' });
    } while (BigInt(reply.lastTid as string) < lastTid && Date.now() < deadline && (await sleep(50), true));
    t.equal(reply.lastTid, lastTid.toString(), 'a worker followed every invalidation up to the last commit');
  }
  await Promise.all(workers.map((w) => w.exit()));
  return { results, server };
}

t.test('bank transfers, invalidations pushed on the storage connection', async (t) => {
  await runBank(t, { redis: 'none' });
});

t.test('bank transfers, invalidations through Redis', async (t) => {
  await runBank(t, { redis: 'shared' });
});

t.test('bank transfers while the storage server is SIGKILLed and restarted', async (t) => {
  let kills = 0;
  const { results } = await runBank(t, {
    redis: 'none',
    disturb: async (server) => {
      for (const at of [1200, 1200]) {
        await sleep(at);
        await server.kill('SIGKILL');
        kills++;
        await sleep(200);
        await server.restart();
      }
    },
  });
  t.equal(kills, 2);
  const interrupted = results.reduce((n, r) => n + Number(r.unavailable), 0);
  t.comment(`calls that failed while the server was down: ${interrupted}; commits with unknown outcome: ${results.reduce((n, r) => n + Number(r.unknownOutcomes), 0)}`);
});

t.test('bank transfers while Redis is killed and restarted (the server keeps committing)', async (t) => {
  await runBank(t, {
    redis: 'private',
    disturb: async (_server, redis) => {
      await sleep(1000);
      await redis!.kill();
      await sleep(1500);
      await redis!.restart();
    },
  });
});
