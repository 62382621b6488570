// The router over real worker threads and real sockets: spreading, header rules, body limit,
// retries of idempotent requests only, timeouts, handler failures.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { silentLogger } from '../../log.js';
import { startSite, type Site } from '../../proxy/site.js';
import { NO_STORAGE, testConfig } from './fixtures/site-config.js';

const scratch = mkdtempSync(join(tmpdir(), 'zeo-router-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));

async function site(t: { teardown(fn: () => unknown): void }, patch: Parameters<typeof testConfig>[0] = {}): Promise<Site> {
  const started = await startSite(testConfig(patch), { log: silentLogger, storageFactory: NO_STORAGE });
  t.teardown(() => started.close(2_000));
  return started;
}

/** Sends bytes as they are on a fresh connection; resolves with the whole answer once it stops. */
function rawRequest(url: string, head: string, body: Buffer = Buffer.alloc(0)): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    let received = '';
    let timer: NodeJS.Timeout;
    socket.on('data', (chunk) => {
      received += chunk.toString();
      const headEnd = received.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(received);
      if (headEnd >= 0 && length && Buffer.byteLength(received) - headEnd - 4 >= Number(length[1])) {
        clearTimeout(timer);
        socket.destroy();
        resolve(received);
      }
    });
    socket.on('error', reject);
    timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no complete answer: ' + received));
    }, 10_000);
    socket.write(Buffer.concat([Buffer.from(head), body]));
  });
}

async function getJson(url: string, init: Parameters<typeof request>[1] = {}) {
  const answer = await request(url, init);
  const text = await answer.body.text();
  return { status: answer.statusCode, headers: answer.headers, text, json: () => JSON.parse(text) as Record<string, any> };
}

t.test('requests spread over every worker, with either balancing', async (t) => {
  for (const balancing of ['round-robin', 'least-busy'] as const) {
    const s = await site(t, { workers: { count: 3 }, router: { balancing } });
    const seen = new Map<number, number>();
    for (let i = 0; i < 30; i++) {
      const { json } = await getJson(s.url + '/whoami');
      const id = json().workerId as number;
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    t.equal(seen.size, 3, `${balancing}: all three workers answered`);
    t.ok(Math.min(...seen.values()) >= 3, `${balancing}: none starved (${[...seen.values()]})`);
  }
});

t.test('bodies arrive intact both ways; X-Forwarded-* added; hop-by-hop headers stripped', async (t) => {
  const s = await site(t);
  const bytes = Buffer.alloc(200_000, 'z');
  // A raw request: HTTP clients tidy the Connection header, and that is what is under test here.
  const raw = await rawRequest(
    s.url,
    `PUT /echo?x=1 HTTP/1.1\r\nHost: site\r\nX-Forwarded-For: 10.1.2.3\r\nConnection: keep-alive, X-Drop-Me\r\n` +
      `X-Drop-Me: 1\r\nX-Keep-Me: 2\r\nContent-Length: ${bytes.length}\r\n\r\n`,
    bytes,
  );
  t.match(raw, /^HTTP\/1.1 200/);
  const seen = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
  t.equal(seen.method, 'PUT');
  t.equal(seen.body.length, bytes.length, 'the whole body reached the app');
  t.match(seen.url, /\/echo\?x=1$/);
  t.equal(seen.headers['x-forwarded-for'], '10.1.2.3, 127.0.0.1', 'client address appended to the chain');
  t.equal(seen.headers['x-forwarded-proto'], 'http');
  t.equal(seen.headers['x-keep-me'], '2');
  t.notOk('x-drop-me' in seen.headers, 'a header named in Connection is not forwarded');

  const hop = await getJson(s.url + '/hop-by-hop');
  t.equal(hop.text, 'ok');
  t.equal(hop.headers['x-kept'], 'yes');
  t.notOk('x-private-hop' in hop.headers, "the app server's Connection-named header is stripped");
  t.not(hop.headers['keep-alive'], 'timeout=99', "the app server's keep-alive is not passed on");

  const cookies = await request(s.url + '/cookies');
  await cookies.body.text();
  t.same(cookies.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/'], 'repeated set-cookie stay separate');
});

t.test('a body over the limit gets 413, declared or streamed', async (t) => {
  const s = await site(t, { router: { bodyLimitBytes: 1000 } });
  const declared = await getJson(s.url + '/echo', { method: 'POST', body: Buffer.alloc(1001) });
  t.equal(declared.status, 413);
  t.match(declared.text, /limit is 1000 bytes/);
  async function* chunks() {
    for (let i = 0; i < 5; i++) yield Buffer.alloc(400);
  }
  const streamed = await getJson(s.url + '/echo', { method: 'POST', body: Readable.from(chunks()) });
  t.equal(streamed.status, 413, 'chunked body without content-length is cut at the limit too');
  const fits = await getJson(s.url + '/echo', { method: 'POST', body: Buffer.alloc(1000) });
  t.equal(fits.status, 200, 'exactly the limit passes');
});

t.test('a POST whose worker dies is answered 502 and never sent twice', async (t) => {
  const s = await site(t, { workers: { count: 3 } });
  const file = join(scratch, 'post-ran');
  const answer = await getJson(`${s.url}/_test/record-then-crash?file=${encodeURIComponent(file)}`, { method: 'POST' });
  t.equal(answer.status, 502);
  t.match(answer.text, /not sent again because it is not idempotent/);
  t.equal(readFileSync(file, 'utf8').trim().split('\n').length, 1, 'the handler ran exactly once');
});

t.test('a GET whose worker dies is sent to another worker and succeeds', async (t) => {
  const s = await site(t, { workers: { count: 3 } });
  const file = join(scratch, 'crash-once');
  const answer = await getJson(`${s.url}/_test/crash-once?file=${encodeURIComponent(file)}`);
  t.equal(answer.status, 200);
  const crashedOn = Number(readFileSync(file, 'utf8'));
  t.not(answer.json().workerId, crashedOn, 'answered by another worker than the one that died');
});

t.test('a PUT whose worker dies is sent again with its whole body', async (t) => {
  const s = await site(t, { workers: { count: 2 } });
  const file = join(scratch, 'crash-once-put');
  const answer = await getJson(`${s.url}/_test/crash-once?file=${encodeURIComponent(file)}`, { method: 'PUT', body: Buffer.alloc(50_000, 1) });
  t.equal(answer.status, 200);
  t.equal(answer.json().bodyBytes, 50_000, 'the retry carried the body (the first attempt got a copy)');
  t.not(answer.json().workerId, Number(readFileSync(file, 'utf8')));
});

t.test('no answer within requestTimeoutMs is a 504 with a clear body', async (t) => {
  const s = await site(t, { router: { requestTimeoutMs: 300 } });
  const answer = await getJson(s.url + '/slow?ms=1000');
  t.equal(answer.status, 504);
  t.match(answer.text, /did not answer within 300 ms/);
});

t.test('a handler that throws gives 500 with a short body; the worker keeps serving', async (t) => {
  const s = await site(t, { workers: { count: 1 } });
  const failed = await getJson(s.url + '/_test/error');
  t.equal(failed.status, 500);
  t.notMatch(failed.text, /on purpose/, 'the error text stays in the log, not in the response');
  t.equal((await getJson(s.url + '/whoami')).status, 200);
});

t.test('keep-alive connections are balanced per request, not per connection', async (t) => {
  const s = await site(t, { workers: { count: 2 }, router: { balancing: 'round-robin' } });
  const { port } = new URL(s.url);
  const socket = connect(Number(port), '127.0.0.1');
  t.teardown(() => socket.destroy());
  let received = '';
  socket.on('data', (chunk) => (received += chunk.toString()));
  for (let i = 0; i < 4; i++) socket.write(`GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n`);
  const deadline = Date.now() + 5000;
  while ((received.match(/workerId/g) ?? []).length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const ids = new Set([...received.matchAll(/"workerId":(\d+)/g)].map((m) => m[1]));
  t.equal(ids.size, 2, 'one connection reached both workers');
});

t.test('a site whose app module cannot be loaded fails to start, saying why', async (t) => {
  await t.rejects(
    startSite(testConfig({ app: { module: join(scratch, 'missing-app.js') } }), { log: silentLogger, storageFactory: NO_STORAGE }),
    /worker \d+ failed to start: .*missing-app\.js/,
  );
  await t.rejects(
    startSite(testConfig({ app: { module: NO_STORAGE } }), { log: silentLogger, storageFactory: NO_STORAGE }),
    /has no default export with a fetch\(request, ctx\) method/,
  );
});

t.test('the admin metrics count requests by method and status', async (t) => {
  const s = await site(t, { workers: { count: 1 } });
  for (let i = 0; i < 5; i++) await (await request(s.url + '/whoami')).body.text();
  await (await request(s.url + '/nowhere')).body.text();
  const metrics = await (await request(s.adminUrl + '/_zeo/metrics')).body.text();
  t.match(metrics, /zeo_requests_total\{method="GET",status="200"\} 5\n/);
  t.match(metrics, /zeo_requests_total\{method="GET",status="404"\} 1\n/);
  t.match(metrics, /zeo_workers 1\n/);
  t.match(metrics, /zeo_backend_served_total\{backend="worker-1"\} 6\n/);
  t.equal((await request(s.adminUrl + '/_zeo/nothing')).statusCode, 404);
});
