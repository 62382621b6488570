import t from 'tap';
import { ConfigError } from '../../errors.js';
import { envVariables, isConfigVariable } from '../../config/env.js';
import { loadConfig } from '../../config/load.js';

const fromEnv = (env: NodeJS.ProcessEnv) => loadConfig({ file: null, env });

t.test('ZEO_<SECTION>_<KEY> maps camelCase keys to UPPER_SNAKE and parses by type', async (t) => {
  const config = fromEnv({
    ZEO_WORKERS_COUNT: '4',
    ZEO_STORAGE_SERVER_LISTEN_PORT: '9100',
    ZEO_STORAGE_PATH: '/srv/zeo/Data.fs',
    ZEO_CLIENT_IS_READ_ONLY: 'yes',
    ZEO_ROUTER_HEALTH_MAX_ERROR_RATE: '0.25',
    ZEO_STORAGE_SERVER_ALLOW: '127.0.0.1/32, 10.0.0.0/8',
    ZEO_CLIENT_SERVERS: '["db1:8100","db2:8100"]',
    ZEO_CLIENT_DISK_CACHE_DIR: 'null',
    ZEO_STORAGE_SERVER_TLS_CERT: 'c.pem',
    ZEO_STORAGE_SERVER_TLS_KEY: 'k.pem',
    ZEO_CONFIG_UNRELATED: 'x',
    PATH: '/usr/bin',
  });
  t.equal(config.workers.count, 4);
  t.equal(config.storageServer.listen.port, 9100);
  t.equal(config.storage.path, '/srv/zeo/Data.fs');
  t.equal(config.client.isReadOnly, true);
  t.equal(config.router.health.maxErrorRate, 0.25);
  t.same(config.storageServer.allow, ['127.0.0.1/32', '10.0.0.0/8'], 'comma-separated list');
  t.same(config.client.servers, ['db1:8100', 'db2:8100'], 'JSON array');
  t.equal(config.client.diskCacheDir, null);
  t.same(config.storageServer.tls, { cert: 'c.pem', key: 'k.pem' }, 'leaves of a null object build it');
  t.equal(fromEnv({ ZEO_WORKERS_COUNT: 'auto' }).workers.count, 'auto');
  t.equal(fromEnv({ ZEO_STORAGE_SERVER_ALLOW: '' }).storageServer.allow.length, 0);
});

t.test('ZEO_REDIS_URL wins over REDIS_URL', async (t) => {
  const config = fromEnv({ REDIS_URL: 'redis://a:6379', ZEO_REDIS_URL: 'redis://b:6379' });
  t.equal(config.redis.url, 'redis://b:6379');
});

t.test('an unparsable value names the key and the variable', async (t) => {
  const error = t.throws(() => fromEnv({ ZEO_ROUTER_LISTEN_PORT: 'eighty' })) as ConfigError;
  t.ok(error instanceof ConfigError);
  t.equal(error.key, 'router.listen.port');
  t.equal(error.value, 'eighty');
  t.match(error.message, /integer from 0 to 65535 \(set by ZEO_ROUTER_LISTEN_PORT\)/);
  t.throws(() => fromEnv({ ZEO_CLIENT_IS_READ_ONLY: 'maybe' }), { key: 'client.isReadOnly', message: /true or false/ });
  t.throws(() => fromEnv({ ZEO_WORKERS_COUNT: '-2' }), { key: 'workers.count', message: /positive integer/ });
  t.throws(() => fromEnv({ REDIS_URL: 'localhost' }), { key: 'redis.url', message: /set by REDIS_URL/ });
});

t.test('a misspelt variable in a known section is refused with the nearest name', async (t) => {
  const error = t.throws(() => fromEnv({ ZEO_WORKERS_CONUT: '4' })) as ConfigError;
  t.equal(error.key, 'ZEO_WORKERS_CONUT');
  t.match(error.message, /did you mean ZEO_WORKERS_COUNT\?/);
  t.doesNotThrow(() => fromEnv({ ZEO_SOMETHING_ELSE: '1' }), 'ZEO_ variables outside every section are left alone');
});

t.test('every config key has exactly one variable', async (t) => {
  const names = envVariables();
  t.equal(new Set(names.map((v) => v.name)).size, names.length);
  t.ok(names.some((v) => v.name === 'ZEO_ROUTER_HEALTH_HANG_TIMEOUT_MS' && v.path === 'router.health.hangTimeoutMs'));
  t.ok(names.some((v) => v.name === 'ZEO_ADMIN_PORT' && v.path === 'admin.port'));
});

t.test('isConfigVariable tells the variables loadConfig reads from the others', async (t) => {
  for (const name of ['ZEO_WORKERS_COUNT', 'ZEO_STORAGE_SERVER_TLS', 'ZEO_ROUTER_TYPO', 'ZEO_CONFIG', 'REDIS_URL']) {
    t.ok(isConfigVariable(name), name);
  }
  for (const name of ['ZEO_DEBUG', 'ZEO_BENCH_WORKER_EXEC', 'PATH', 'ZEOWORKERS_COUNT']) t.notOk(isConfigVariable(name), name);
});
