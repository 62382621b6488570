// The one logger (log.ts): JSON lines that parse, pretty lines on a terminal, TIDs and OIDs in
// hex, the `log` option's shapes, and the process logger following the config.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { InvalidArgumentError } from '../errors.js';
import { createLogger, hex, processWarnings, toLogger, type Logger } from '../log.js';

function captured(isTTY = false): { stream: { write(text: string): void; isTTY: boolean }; lines: () => string[] } {
  const chunks: string[] = [];
  return { stream: { write: (text) => void chunks.push(text), isTTY }, lines: () => chunks.join('').split('\n').filter(Boolean) };
}

t.test('JSON lines: level, time, pid, component, msg and the fields; bigints in hex', async (t) => {
  const out = captured();
  const log = createLogger({ stream: out.stream, format: 'json', component: 'storage-server' });
  const tid = 0x03f1a2b3c4d5e6f7n;
  log.info('serving "main"', { lastTid: tid, oids: [1n, 255n], nested: { tid: 16n }, peer: '127.0.0.1:4000' });
  log.warn('no fields');
  log.error('failed', { error: Object.assign(new TypeError('boom'), { code: 'ZEO_X' }) });
  const entries = out.lines().map((line) => JSON.parse(line));
  t.equal(entries.length, 3, 'one line per entry, each parses');
  const [first, second, third] = entries;
  t.match(first, { level: 'info', component: 'storage-server', msg: 'serving "main"', pid: process.pid, peer: '127.0.0.1:4000' });
  t.ok(!Number.isNaN(Date.parse(first.time)), 'an ISO time');
  t.equal(first.lastTid, '0x03f1a2b3c4d5e6f7', 'a TID in hex, 0x and 16 digits');
  t.same(first.oids, ['0x0000000000000001', '0x00000000000000ff']);
  t.same(first.nested, { tid: '0x0000000000000010' });
  t.equal(second.level, 'warn');
  t.match(third.error, { type: 'TypeError', code: 'ZEO_X', message: 'boom' });
  t.equal(hex(255n), '0x00000000000000ff');
});

t.test('pretty lines on a terminal, JSON otherwise; the format and level can be forced', async (t) => {
  const terminal = captured(true);
  createLogger({ stream: terminal.stream, component: 'router', format: 'auto' }).warn('worker taken out', { worker: 2, tid: 1n });
  const [line] = terminal.lines();
  t.notMatch(line!, /^\{/, 'not JSON');
  t.match(line!.replace(/\x1b\[[0-9;]*m/g, ''), /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: router: worker taken out \{"worker":2,"tid":"0x0000000000000001"\}$/);
  const pipe = captured(false);
  createLogger({ stream: pipe.stream, format: 'auto' }).info('x');
  t.doesNotThrow(() => JSON.parse(pipe.lines()[0]!), 'JSON when not a terminal');
  const forced = captured(false);
  createLogger({ stream: forced.stream, format: 'pretty' }).info('readable');
  t.match(forced.lines()[0], /INFO: readable$/, 'pretty when asked, with no colours off a terminal');
  const quiet = captured(false);
  const warnOnly = createLogger({ stream: quiet.stream, format: 'json', level: 'warn' });
  warnOnly.info('dropped');
  warnOnly.warn('kept');
  t.same(quiet.lines().map((l) => JSON.parse(l).msg), ['kept']);
});

t.test('a log option: a Logger as is, a function given each message, else the fallback', async (t) => {
  const lines: string[] = [];
  const fromFunction = toLogger((line) => lines.push(line), 'redis');
  fromFunction.warn('redis down at redis://127.0.0.1:1', { channel: 'zeo:invalidations:main' });
  t.same(lines, ['redis down at redis://127.0.0.1:1']);
  const given: Logger = { info() {}, warn() {}, error() {} };
  t.equal(toLogger(given, 'x'), given);
  t.equal(toLogger(undefined, 'x', () => given), given);
  t.throws(() => toLogger(42 as never, 'x'), InvalidArgumentError);
  t.throws(() => toLogger({ info() {} } as never, 'x'), { code: 'ZEO_INVALID_ARGUMENT', message: /Logger/ });
});

t.test('processWarnings: a library-level warning with its code', async (t) => {
  const seen = new Promise<Error & { code?: string }>((resolve) => process.once('warning', resolve));
  processWarnings.warn('data.fs: cut off 12 bytes', { code: 'ZEO_TORN_TAIL' });
  const warning = await seen;
  t.equal(warning.name, 'ZeoWarning');
  t.equal(warning.code, 'ZEO_TORN_TAIL');
  t.equal(warning.message, 'data.fs: cut off 12 bytes');
});

t.test('the process logger writes to stderr and follows configureProcessLog, even for loggers handed out before', async (t) => {
  const logModule = fileURLToPath(new URL('../log.js', import.meta.url));
  const script = `
    const { processLogger, configureProcessLog } = await import(${JSON.stringify(logModule)});
    const log = processLogger('storage-client');
    log.info('first', { tid: 5n });
    configureProcessLog({ format: 'pretty' });
    log.info('second');
    configureProcessLog({ format: 'json', level: 'error' });
    log.warn('dropped');
    log.error('third');`;
  const stderr = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], (error, _stdout, text) => (error ? reject(error) : resolve(text)));
  });
  const [first, second, third, extra] = stderr.split('\n').filter(Boolean);
  t.match(JSON.parse(first!), { level: 'info', component: 'storage-client', msg: 'first', tid: '0x0000000000000005' });
  t.match(second, /INFO: storage-client: second$/);
  t.match(JSON.parse(third!), { level: 'error', msg: 'third' });
  t.equal(extra, undefined, 'the warn below the level was dropped');
});
