// The `zeo` command as a user runs it: a real child process, its exit code and its output.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { cleanEnv, freePort } from './process-helpers.js';

const ZEO = fileURLToPath(new URL('../../bin/zeo.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const cwd = mkdtempSync(join(tmpdir(), 'zeo-cli-'));
t.teardown(() => rmSync(cwd, { recursive: true, force: true }));

function zeo(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [ZEO, ...args], { cwd, env: cleanEnv(env), timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

t.test('help lists the commands and exits 0', async (t) => {
  for (const args of [['help'], ['--help'], []]) {
    const run = await zeo(args);
    t.equal(run.code, 0, `zeo ${args.join(' ')}`);
    t.match(run.stdout, /start\s+launch the whole site/);
    t.match(run.stdout, /scale N/);
  }
});

t.test('each command has its own help, with its options and the config keys it reads', async (t) => {
  const general = (await zeo(['help'])).stdout;
  const commands = ['start', 'storage-server', 'appserver', 'proxy', 'scale', 'reload', 'status', 'config', 'bench'];
  const runs = await Promise.all(commands.map((command) => zeo([command, '--help'])));
  for (const [i, command] of commands.entries()) {
    const run = runs[i]!;
    t.equal(run.code, 0, `zeo ${command} --help exits 0`);
    t.match(run.stdout, new RegExp(`^usage: zeo ${command}\\b`), `zeo ${command} --help is its own usage`);
    t.not(run.stdout, general, `zeo ${command} --help is not the general usage`);
  }
  const gate = runs[commands.indexOf('storage-server')]!.stdout;
  for (const key of ['storageServer.key', 'storageServer.allow', 'storageServer.readOnlyAllow', 'storageServer.readOnlyKeys',
    'storageServer.tls', 'storageServer.tls.cert', 'redis.url', 'redis.prefix', 'storage.kind', 'storage.path']) {
    t.match(gate, new RegExp(`^  ${key.replace(/\./g, '\\.')}\\s+ZEO_[A-Z_]+\\s+\\S`, 'm'), `zeo storage-server --help names ${key} and its variable`);
  }
  t.match(gate, /-p, --port N\s+storageServer\.listen\.port/);
  t.match(runs[commands.indexOf('start')]!.stdout, /-w, --workers N/);
  t.match(runs[commands.indexOf('appserver')]!.stdout, /GET \/_zeo\/health/);
  t.match(runs[commands.indexOf('scale')]!.stdout, /admin\.port/);
  t.same((await zeo(['help', 'storage-server'])).stdout, gate, 'zeo help storage-server is the same text');

  const benches = ['storage', 'objects', 'invalidation', 'network'];
  const benchRuns = await Promise.all(benches.map((what) => zeo(['bench', what, '--help'])));
  for (const [i, what] of benches.entries()) {
    t.equal(benchRuns[i]!.code, 0);
    t.match(benchRuns[i]!.stdout, new RegExp(`^usage: zeo bench ${what} \\[options\\]\n`), `zeo bench ${what} --help is its own`);
    t.match(benchRuns[i]!.stdout, /--out-file FILE/);
  }
  t.match(benchRuns[benches.indexOf('network')]!.stdout, /--write-ratio R/);
  t.match(runs[commands.indexOf('bench')]!.stdout, /--url URL/);

  const unknown = await zeo(['help', 'strat']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /no command "strat"/);
});

t.test('an unknown command or option is one line and exit code 2', async (t) => {
  let run = await zeo(['strat']);
  t.equal(run.code, 2);
  t.equal(run.stderr.trim().split('\n').length, 1);
  t.match(run.stderr, /unknown command "strat"/);
  run = await zeo(['start', '--wokers', '2']);
  t.equal(run.code, 2);
  t.match(run.stderr, /^zeo start: invalid --wokers: unknown option/);
});

t.test('a config error names the key, prints no stack and exits 2', async (t) => {
  const file = join(cwd, 'bad.json');
  writeFileSync(file, JSON.stringify({ router: { health: { fall: -1 } } }));
  let run = await zeo(['start', '--config', file]);
  t.equal(run.code, 2);
  t.equal(run.stderr, 'zeo start: config router.health.fall: -1 is not allowed; expected an integer >= 1\n');
  run = await zeo(['proxy', '--workers', 'lots']);
  t.equal(run.code, 2);
  t.match(run.stderr, /config workers\.count: "lots" is not allowed/);
  t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
  run = await zeo(['status'], { ZEO_ROUTER_BALANCNG: 'random' });
  t.equal(run.code, 2);
  t.match(run.stderr, /did you mean ZEO_ROUTER_BALANCING\?/);
  run = await zeo(['start', '--config', join(cwd, 'missing.json')]);
  t.equal(run.code, 2);
  t.match(run.stderr, /missing\.json: no such file/);
});

t.test('config print shows the merged config: defaults < file < env < flags', async (t) => {
  writeFileSync(join(cwd, 'zeo.config.json'), JSON.stringify({ workers: { count: 2 }, router: { listen: { port: 9001 } } }));
  t.teardown(() => rmSync(join(cwd, 'zeo.config.json')));
  let run = await zeo(['config', 'print', '--json'], { ZEO_WORKERS_CONFLICT_RETRIES: '7' });
  t.equal(run.code, 0, run.stderr);
  const config = JSON.parse(run.stdout);
  t.equal(config.workers.count, 2, 'from ./zeo.config.json');
  t.equal(config.workers.conflictRetries, 7, 'from the environment');
  t.equal(config.router.listen.port, 9001);
  run = await zeo(['config', 'print', '--json', '--workers', '5', '--port', '9500']);
  t.equal(JSON.parse(run.stdout).workers.count, 5, '--workers wins');
  t.equal(JSON.parse(run.stdout).router.listen.port, 9500, '--port sets the router port, as for zeo start');
  run = await zeo(['config', 'print', '--json', '--port=9600']);
  t.equal(JSON.parse(run.stdout).router.listen.port, 9600, '--flag=value works too');
  run = await zeo(['help', '--port', '1']);
  t.equal(run.code, 2, 'help opens no listener, so --port is refused');
  t.match(run.stderr, /`zeo help` opens no listener/);
});

t.test('scale, reload and status say clearly when no site is running', async (t) => {
  const port = await freePort();
  const run = await zeo(['status', '--port', String(port)]);
  t.equal(run.code, 1);
  t.match(run.stderr, new RegExp(`no site answers at http://127\\.0\\.0\\.1:${port}/_zeo/status \\(ECONNREFUSED\\)`));
  const scale = await zeo(['scale', 'many']);
  t.equal(scale.code, 2);
  t.match(scale.stderr, /needs N a positive integer/);
});

t.test('config schema prints what config/schema.json holds', async (t) => {
  const { readFileSync } = await import('node:fs');
  const run = await zeo(['config', 'schema']);
  t.equal(run.code, 0);
  t.same(JSON.parse(run.stdout), JSON.parse(readFileSync(new URL('../../../config/schema.json', import.meta.url), 'utf8')));
});
