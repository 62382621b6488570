import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, ConfigFileError } from '../../errors.js';
import { loadConfig, loadConfigWithSource, resolveWorkerCount } from '../../config/load.js';
import { DEFAULTS } from '../../config/schema.js';

function tempDir(t: Tap): string {
  const dir = mkdtempSync(join(tmpdir(), 'zeo-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
type Tap = Pick<typeof t, 'throws' | 'equal' | 'teardown'>;

t.test('with no file and no environment the defaults load as they are', async (t) => {
  const dir = tempDir(t);
  const { config, file } = loadConfigWithSource({ env: {}, cwd: dir });
  t.same(config, DEFAULTS);
  t.equal(file, null, 'no zeo.config.json in the folder, so no file was read');
  t.not(config, DEFAULTS, 'a fresh object, so callers cannot change the defaults');
  config.workers.conflictRetries = 99;
  t.equal(DEFAULTS.workers.conflictRetries, 3);
});

t.test('zeo.config.json in the working directory is read when no file is named', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'zeo.config.json'), JSON.stringify({ $schema: './schema.json', workers: { count: 3 } }));
  const { config, file } = loadConfigWithSource({ env: {}, cwd: dir });
  t.equal(config.workers.count, 3);
  t.equal(file, join(dir, 'zeo.config.json'));
  t.equal(config.workers.memoryLimitMb, DEFAULTS.workers.memoryLimitMb, 'keys the file omits keep their defaults');
  t.equal(loadConfig({ file: null, env: {}, cwd: dir }).workers.count, 'auto', 'file: null reads no file');
});

t.test('defaults < file < environment < overrides', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'site.json');
  writeFileSync(
    file,
    JSON.stringify({
      workers: { count: 2, conflictRetries: 5 },
      router: { listen: { port: 9001 }, balancing: 'round-robin' },
      storageServer: { allow: ['10.0.0.0/8'] },
    }),
  );
  const config = loadConfig({
    file,
    env: { ZEO_WORKERS_COUNT: '4', ZEO_ROUTER_LISTEN_PORT: '9000', REDIS_URL: 'redis://127.0.0.1:6379' },
    overrides: { workers: { count: 6 } },
  });
  t.equal(config.workers.count, 6, 'overrides win over the environment');
  t.equal(config.router.listen.port, 9000, 'the environment wins over the file');
  t.equal(config.router.listen.host, '127.0.0.1', 'a sibling the file did not set keeps its default');
  t.equal(config.router.balancing, 'round-robin', 'the file wins over the defaults');
  t.equal(config.workers.conflictRetries, 5);
  t.same(config.storageServer.allow, ['10.0.0.0/8'], 'arrays replace, not append');
  t.equal(config.redis.url, 'redis://127.0.0.1:6379', 'REDIS_URL sets redis.url');
});

t.test('a bare string is the file and a bare null means no file', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'site.json');
  writeFileSync(file, JSON.stringify({ workers: { count: 5 } }));
  t.equal(loadConfig(file).workers.count, 5);
  t.equal(loadConfigWithSource(null).file, null);
});

t.test('$ZEO_CONFIG names the file when no file is passed', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'other.json'), JSON.stringify({ storage: { kind: 'memory' } }));
  t.equal(loadConfig({ env: { ZEO_CONFIG: 'other.json' }, cwd: dir }).storage.kind, 'memory');
});

t.test('a missing or malformed file is a ConfigFileError naming the file', async (t) => {
  const dir = tempDir(t);
  const missing = join(dir, 'nope.json');
  t.throws(() => loadConfig({ file: missing, env: {} }), { code: 'ZEO_CONFIG_INVALID', file: missing, message: /no such file/ });
  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{ "workers": { "count": 2, } }');
  const error = t.throws(() => loadConfig({ file: broken, env: {} }));
  t.ok(error instanceof ConfigFileError);
  t.match((error as Error).message, /broken\.json: not valid JSON/);
  const list = join(dir, 'list.json');
  writeFileSync(list, '[1, 2]');
  t.throws(() => loadConfig({ file: list, env: {} }), { message: /must hold one JSON object/ });
});

t.test('a bad value in the file names its key path', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify({ router: { health: { fall: 0 } } }));
  const error = t.throws(() => loadConfig({ file, env: {} })) as ConfigError;
  t.ok(error instanceof ConfigError);
  t.equal(error.key, 'router.health.fall');
  t.equal(error.value, 0);
  t.match(error.message, /router\.health\.fall: 0 is not allowed; expected an integer >= 1/);
});

t.test('resolveWorkerCount turns "auto" into the number of cores', async (t) => {
  const { availableParallelism } = await import('node:os');
  t.equal(resolveWorkerCount(loadConfig({ file: null, env: {} })), availableParallelism());
  t.equal(resolveWorkerCount(loadConfig({ file: null, env: {}, overrides: { workers: { count: 7 } } })), 7);
});
