// One load step against a tiny real server: autocannon's numbers summarised, and every 5xx
// counted with the method of the request it answered (a failed POST cannot be retried).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { runLoad } from '../../bench/load.js';
import { SCENARIOS } from '../../bench/scenarios.js';

/** A tiny real HTTP server on a free loopback port, closed when the test ends. */
async function serve(t: Test, handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('5xx answers are counted by method; 2xx are not failures', async (t) => {
  const seen = { GET: 0, POST: 0 };
  const url = await serve(t, (request, response) => {
    request.resume();
    request.on('end', () => {
      const method = request.method as 'GET' | 'POST';
      seen[method]++;
      response.writeHead(method === 'POST' ? 503 : 200, { 'content-type': 'text/plain' });
      response.end('x');
    });
  });
  const load = await runLoad({ url, scenario: SCENARIOS['write-heavy'], durationSeconds: 1, connections: 4 });
  t.ok(load.completed > 20, `${load.completed} responses`);
  t.equal(load.serverErrors, load.statusCounts['503']);
  t.same(load.serverErrorsByMethod, { POST: load.statusCounts['503'] }, 'only POSTs failed');
  t.equal(load.statusCounts['200'], load.completed - load.serverErrors);
  t.equal(load.non2xx, load.serverErrors);
  t.equal(load.errors, 0);
  t.ok(seen.POST >= load.serverErrors && seen.GET >= load.statusCounts['200']!);
  t.ok(load.requestsPerSecond > 0 && load.durationSeconds >= 1);
});

t.test('an aborted step stops early with what it has', async (t) => {
  const url = await serve(t, (_request, response) => response.end('ok'));
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 700);
  const started = Date.now();
  const load = await runLoad({ url, scenario: SCENARIOS['large-pages'], durationSeconds: 30,
    connections: 2, signal: stop.signal });
  t.ok(Date.now() - started < 10_000, 'a 30 s step ended soon after the abort');
  t.ok(load.completed > 0);
});

t.test('a sweep with an amount stops after that many requests', async (t) => {
  const paths: string[] = [];
  const url = await serve(t, (request, response) => {
    paths.push(request.url!);
    response.end('ok');
  });
  const load = await runLoad({ url, scenario: 'sweep', amount: 2 * (100 + 2), durationSeconds: 20,
    connections: 4, productCount: 100 });
  t.equal(load.completed, 204);
  t.equal(new Set(paths).size, 102, 'every product and page was fetched');
});
