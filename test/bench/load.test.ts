// One load step against a tiny real server: autocannon's numbers summarised, and every 5xx
// counted with the method of the request it answered (a failed POST cannot be retried).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { runLoad } from '../../bench/load.js';
import { SCENARIOS } from '../../bench/scenarios.js';

t.test('5xx answers are counted by method; 2xx are not failures', async (t) => {
  const seen = { GET: 0, POST: 0 };
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const method = request.method as 'GET' | 'POST';
      seen[method]++;
      response.writeHead(method === 'POST' ? 503 : 200, { 'content-type': 'text/plain' });
      response.end('x');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const { port } = server.address() as AddressInfo;
  const load = await runLoad({ url: `http://127.0.0.1:${port}`, scenario: SCENARIOS['write-heavy'], durationSeconds: 1, connections: 4 });
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
  const server = http.createServer((_request, response) => response.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const { port } = server.address() as AddressInfo;
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 700);
  const started = Date.now();
  const load = await runLoad({ url: `http://127.0.0.1:${port}`, scenario: SCENARIOS['large-pages'], durationSeconds: 30,
    connections: 2, signal: stop.signal });
  t.ok(Date.now() - started < 10_000, 'a 30 s step ended soon after the abort');
  t.ok(load.completed > 0);
});

t.test('a sweep with an amount stops after that many requests', async (t) => {
  const paths: string[] = [];
  const server = http.createServer((request, response) => {
    paths.push(request.url!);
    response.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const { port } = server.address() as AddressInfo;
  const load = await runLoad({ url: `http://127.0.0.1:${port}`, scenario: 'sweep', amount: 2 * (100 + 2), durationSeconds: 20,
    connections: 4, productCount: 100 });
  t.equal(load.completed, 204);
  t.equal(new Set(paths).size, 102, 'every product and page was fetched');
});
