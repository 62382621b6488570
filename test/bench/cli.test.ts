// `zeo bench` argument parsing (pure) and the dispatch to the other benchmarks.
import t from 'tap';
import { flagsToOptions, parseBenchArgs, runBenchCli } from '../../bench/cli.js';
import { InvalidArgumentError } from '../../errors.js';

t.test('defaults: site, every scenario and target, 10 s steps, faults on 3 workers', async (t) => {
  const parsed = parseBenchArgs([]);
  if (parsed.kind !== 'site') throw new Error('expected site');
  const o = parsed.options;
  t.equal(o.workers, null, 'worker counts come from the config when not given');
  t.same(o.scenarios, ['read-mostly', 'write-heavy', 'large-pages']);
  t.same(o.targets, ['site', 'cluster', 'nginx', 'postgres']);
  t.equal(o.durationSeconds, 10);
  t.equal(o.warmupSeconds, 5);
  t.equal(o.faultWorkers, 3);
  t.equal(o.sweepSeconds, 30);
  t.equal(o.repeat, 1);
  t.equal(o.url, null);
  t.match(parsed.outFolder, /bench\/results\/$/);
});

t.test('flags set the sweep, the steps and the targets', async (t) => {
  const parsed = parseBenchArgs(['site', '--workers', '1,2,4', '--duration', '5', '--warmup', '0', '--sweep', '0', '--scenarios',
    'large-pages,read-mostly', '--targets', 'site,postgres', '--no-faults', '-c', 'my.json', '--url', 'http://localhost:8080/x']);
  if (parsed.kind !== 'site') throw new Error('expected site');
  t.same(parsed.options.workers, [1, 2, 4]);
  t.equal(parsed.options.durationSeconds, 5);
  t.equal(parsed.options.warmupSeconds, 0);
  t.equal(parsed.options.sweepSeconds, 0);
  t.same(parsed.options.scenarios, ['large-pages', 'read-mostly']);
  t.same(parsed.options.targets, ['site', 'postgres']);
  t.equal(parsed.options.faultWorkers, null);
  t.equal(parsed.configFile, 'my.json');
  t.equal(parsed.options.url, 'http://localhost:8080');
});

t.test('bad values are refused with InvalidArgumentError naming the flag', async (t) => {
  const refuse = (args: string[], pattern: RegExp) => {
    try {
      parseBenchArgs(args);
      t.fail(`${args.join(' ')} was accepted`);
    } catch (error) {
      t.ok(error instanceof InvalidArgumentError, `${args.join(' ')}: InvalidArgumentError`);
      t.match((error as Error).message, pattern);
    }
  };
  refuse(['--workers', '1,x'], /--workers.*"x"/);
  refuse(['--workers', '0'], /--workers/);
  refuse(['--duration', '-3'], /--duration/);
  refuse(['--repeat', '0'], /--repeat/);
  refuse(['--scenarios', 'read-mostly,bogus'], /--scenarios.*"bogus"/);
  refuse(['--targets', 'apache'], /--targets/);
  refuse(['--bogus'], /zeo bench.*bogus/);
  refuse(['nonsense'], /unknown benchmark "nonsense"/);
});

t.test('load only ever goes to 127.0.0.1 or localhost', async (t) => {
  t.throws(() => parseBenchArgs(['--url', 'http://example.com:8080']), /only targets 127\.0\.0\.1 or localhost/);
  t.throws(() => parseBenchArgs(['--url', 'http://10.0.0.5']), /only targets/);
  t.throws(() => parseBenchArgs(['--admin-url', 'https://127.0.0.1']), /only targets/);
  t.doesNotThrow(() => parseBenchArgs(['--url', 'http://127.0.0.1:1']));
});

t.test('storage, objects and invalidation get their flags as an options object', async (t) => {
  t.same(parseBenchArgs(['objects', '--objects', '500', '--runs', '3', '--storages', 'memory,file', '--quick']), {
    kind: 'other', what: 'objects', options: { objects: 500, runs: 3, storages: ['memory', 'file'], quick: true },
  });
  t.same(flagsToOptions(['--out-file', 'x.json']), { outFile: 'x.json' });
  t.same(flagsToOptions(['--out-file', 'null', '--fast', 'false']), { outFile: null, fast: false });
  t.throws(() => flagsToOptions(['stray']), InvalidArgumentError);
  t.match(parseBenchArgs(['--help']), { kind: 'help', text: /^usage: zeo bench \[site\|/ });
  t.match(parseBenchArgs(['objects', '--help']), { kind: 'help', text: /^usage: zeo bench objects \[options\]\n[^]*--storages LIST/ });
});

t.test('zeo bench objects runs the object benchmark through its module', async (t) => {
  const lines: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const log = console.log;
  console.log = (line: string) => void lines.push(String(line));
  t.teardown(() => {
    console.log = log;
    process.stdout.write = write;
  });
  const code = await runBenchCli(['objects', '--objects', '20', '--runs', '1', '--storages', 'memory', '--out-file', 'null']);
  console.log = log;
  t.equal(code, 0);
  t.match(lines.join('\n'), /object layer, 20 objects/);
});
