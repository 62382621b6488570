import t from 'tap';
import { ConfigError } from '../../errors.js';
import { loadConfig, type ZeoConfigInput } from '../../config/load.js';

/** Loads defaults + `overrides` and returns the ConfigError it must throw. */
function rejected(t: Tap, overrides: unknown): ConfigError {
  const error = t.throws(() => loadConfig({ file: null, env: {}, overrides: overrides as ZeoConfigInput }));
  if (!(error instanceof ConfigError)) throw new Error(`expected ConfigError, got ${String(error)}`);
  t.equal(error.code, 'ZEO_CONFIG_INVALID');
  return error;
}
type Tap = Pick<typeof t, 'throws' | 'equal' | 'teardown'>;

t.test('an unknown key is refused with the closest known key', async (t) => {
  let error = rejected(t, { router: { health: { fal: 3 } } });
  t.equal(error.key, 'router.health.fal');
  t.match(error.message, /did you mean "router\.health\.fall"\?/);

  error = rejected(t, { router: { port: 9000 } });
  t.equal(error.key, 'router.port');
  t.match(error.message, /did you mean "router\.listen\.port"\?/, 'a leaf name found deeper is suggested');

  error = rejected(t, { wokers: { count: 2 } });
  t.equal(error.key, 'wokers');
  t.match(error.message, /did you mean "workers"\?/);

  error = rejected(t, { workers: { zzzzzzzz: 1 } });
  t.notMatch(error.message, /did you mean/, 'nothing close: no guess, but the known keys are listed');
  t.match(error.message, /workers has count, memoryLimitMb/);
});

t.test('a wrong type names the key, the value and what is allowed', async (t) => {
  let error = rejected(t, { router: { listen: { port: '8080' } } });
  t.equal(error.key, 'router.listen.port');
  t.match(error.message, /"8080" is not allowed; expected an integer from 0 to 65535/);
  error = rejected(t, { client: { isReadOnly: 'yes' } });
  t.equal(error.key, 'client.isReadOnly');
  t.match(error.message, /expected true or false/);
  error = rejected(t, { storageServer: { allow: '127.0.0.1/32' } });
  t.equal(error.key, 'storageServer.allow');
  error = rejected(t, { router: { health: 5 } });
  t.equal(error.key, 'router.health');
  t.match(error.message, /an object with keys pingIntervalMs/);
});

t.test('impossible values are refused', async (t) => {
  const cases: Array<[unknown, string, RegExp]> = [
    [{ router: { listen: { port: 70000 } } }, 'router.listen.port', /from 0 to 65535/],
    [{ admin: { port: -1 } }, 'admin.port', /from 0 to 65535/],
    [{ client: { cacheBytes: -5 } }, 'client.cacheBytes', />= 0/],
    [{ router: { requestTimeoutMs: 2.5 } }, 'router.requestTimeoutMs', /an integer/],
    [{ router: { health: { maxErrorRate: 1.5 } } }, 'router.health.maxErrorRate', /a number from 0 to 1/],
    [{ router: { balancing: 'random' } }, 'router.balancing', /"round-robin", "least-busy"/],
    [{ storage: { kind: 'sqlite' } }, 'storage.kind', /"file", "memory", "postgres"/],
    [{ storage: { kind: 'postgres' } }, 'storage.postgresUrl', /a postgres:\/\/ URL/],
    [{ storage: { kind: 'postgres', postgresUrl: 'postgres://db/zeo', postgresSchema: 'Zeo-1' } }, 'storage.postgresSchema', /lower-case/],
    [{ storage: { path: '' } }, 'storage.path', /non-empty string/],
    [{ workers: { count: 0 } }, 'workers.count', /a positive integer or "auto"/],
    [{ workers: { count: 1.5 } }, 'workers.count', /a positive integer or "auto"/],
    [{ workers: { count: 'many' } }, 'workers.count', /a positive integer or "auto"/],
    [{ storageServer: { allow: ['127.0.0.1/33'] } }, 'storageServer.allow[0]', /CIDR/],
    [{ storageServer: { readOnlyAllow: ['::1/128', 'localhost'] } }, 'storageServer.readOnlyAllow[1]', /CIDR/],
    [{ storageServer: { allow: ['300.1.1.1/8'] } }, 'storageServer.allow[0]', /CIDR/],
    [{ client: { servers: ['localhost'] } }, 'client.servers[0]', /host:port/],
    [{ router: { remotes: ['ftp://x'] } }, 'router.remotes[0]', /http\(s\) URLs/],
    [{ redis: { url: 'http://127.0.0.1:6379' } }, 'redis.url', /Redis URL/],
    [{ storageServer: { tls: { cert: 'a.pem' } } }, 'storageServer.tls.key', /non-empty string \(the key is missing\)/],
    [{ admin: { port: 8080 } }, 'admin.port', /a port other than router\.listen\.port/],
  ];
  for (const [overrides, key, allowed] of cases) {
    const error = rejected(t, overrides);
    t.equal(error.key, key, `${JSON.stringify(overrides)} names ${key}`);
    t.match(error.message, allowed);
  }
});

t.test('valid unusual values pass', async (t) => {
  const config = loadConfig({
    file: null,
    env: {},
    overrides: {
      storageServer: { allow: ['::1/128', '0.0.0.0/0', '192.168.1.7'], tls: { cert: 'c.pem', key: 'k.pem' } },
      client: { servers: ['[::1]:8100', 'db1:8100'], diskCacheDir: null, tls: { ca: null } },
      router: { listen: { port: 0 }, remotes: ['https://app2:8081'] },
      admin: { port: 0 },
      storage: { kind: 'memory' },
    },
  });
  t.same(config.storageServer.tls, { cert: 'c.pem', key: 'k.pem' });
  t.equal(config.client.diskCacheDir, null);
  t.same(config.client.tls, { ca: null });
  t.equal(config.admin.port, 0, 'port 0 twice is fine: each picks its own free port');
});
