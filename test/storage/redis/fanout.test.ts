// Against the real Redis at 127.0.0.1:6379, each test on its own random channel. Outages are
// made with a TCP relay in front of Redis that the test cuts and restores (never the shared
// Redis itself).

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import type { Invalidation } from '../../../storage/contract.js';
import { redactRedisUrl } from '../../../storage/redis/connection.js';
import { decodeInvalidation, encodeInvalidation, invalidationChannel } from '../../../storage/redis/messages.js';
import { RedisInvalidationPublisher } from '../../../storage/redis/publisher.js';
import { RedisInvalidationSubscriber } from '../../../storage/redis/subscriber.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const prefix = `zeo-test-${randomBytes(6).toString('hex')}:`;
let channelCount = 0;
const newChannel = () => invalidationChannel(prefix, `storage${++channelCount}`);

/** Polls until `predicate` holds; fails after a generous timeout (the machine is shared). */
async function waitFor(what: string, predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A subscriber that records what it gets and every connection change. */
function recordingSubscriber(url: string, channel: string, healthCheckMs?: number) {
  const received: Invalidation[] = [];
  const connectionChanges: boolean[] = [];
  const logs: string[] = [];
  const subscriber = new RedisInvalidationSubscriber({
    url,
    channel,
    onInvalidation: (inv) => received.push(inv),
    onConnectionChange: (isConnected) => connectionChanges.push(isConnected),
    log: (message) => logs.push(message),
    healthCheckMs,
  });
  return { subscriber, received, connectionChanges, logs };
}

function chain(count: number, startTid: bigint): Invalidation[] {
  const out: Invalidation[] = [];
  let prevTid = startTid;
  for (let i = 1; i <= count; i++) {
    const tid = startTid + BigInt(i);
    out.push({ tid, prevTid, oids: [BigInt(i), BigInt(i) * 1000n] });
    prevTid = tid;
  }
  return out;
}

/**
 * A TCP relay to Redis that can be cut (sockets destroyed, port closed) and restored, or frozen
 * (connections stay open, bytes are held back, as in a stalled network) and thawed.
 */
async function startRelay() {
  const sockets = new Set<net.Socket>();
  let held: (() => void)[] | null = null;
  const server = net.createServer((client) => {
    const upstream = net.connect(6379, '127.0.0.1');
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      sockets.add(a);
      a.on('data', (chunk) => (held ? held.push(() => b.write(chunk)) : b.write(chunk)));
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;
  const cut = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    cut,
    restore: () => listen(port),
    freeze: () => {
      held = [];
    },
    thaw: () => {
      const release = held ?? [];
      held = null;
      for (const write of release) write();
    },
    stop: async () => {
      if (server.listening) await cut();
    },
  };
}

type Relay = Awaited<ReturnType<typeof startRelay>>;

/**
 * A subscriber and a publisher on a fresh channel, each straight to Redis or through `relay`,
 * both connected when this resolves and closed (with the relay) when the test ends.
 */
async function connectedPair(
  t: Test,
  options: { relay?: Relay; subscriberViaRelay?: boolean; publisherViaRelay?: boolean; publishTimeoutMs?: number; healthCheckMs?: number } = {},
) {
  const { relay } = options;
  const channel = newChannel();
  const sub = recordingSubscriber(options.subscriberViaRelay ? relay!.url : REDIS_URL, channel, options.healthCheckMs);
  const publisherLogs: string[] = [];
  const publisher = new RedisInvalidationPublisher({
    url: options.publisherViaRelay ? relay!.url : REDIS_URL,
    channel,
    publishTimeoutMs: options.publishTimeoutMs,
    log: (m) => publisherLogs.push(m),
  });
  t.teardown(async () => {
    relay?.thaw();
    await Promise.all([sub.subscriber.close(), publisher.close()]);
    await relay?.stop();
  });
  await waitFor('subscription', () => sub.subscriber.isConnected);
  await waitFor('publisher connection', () => publisher.isConnected);
  return { sub, publisher, publisherLogs };
}

t.test('the channel is named after the prefix and the storage', async (t) => {
  t.equal(invalidationChannel('zeo:', 'main'), 'zeo:invalidations:main');
  t.throws(() => invalidationChannel('zeo:', ''), { code: 'ZEO_INVALID_ARGUMENT' });
});

t.test('a Redis URL is shown without its password', async (t) => {
  t.equal(redactRedisUrl('redis://user:pa55@10.0.0.1:6380/2'), 'redis://user:***@10.0.0.1:6380/2');
  t.equal(redactRedisUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
  t.notMatch(redactRedisUrl('not a url pa55'), /pa55/, 'an unparsable URL is not echoed');
});

t.test('the wire format keeps 64-bit TIDs and OIDs exact and rejects garbage', async (t) => {
  const max = (1n << 64n) - 1n;
  const inv = { tid: max, prevTid: (1n << 63n) + 1n, oids: [0n, 1n, max, 0x1234_5678_9abc_def0n] };
  t.same(decodeInvalidation(encodeInvalidation(inv)), inv);
  t.equal(decodeInvalidation(Buffer.from('not msgpack at all, just text')), null);
  t.equal(decodeInvalidation(encodeInvalidation({ tid: 1n, prevTid: 0n, oids: [] }).subarray(0, 3)), null);
  t.throws(() => encodeInvalidation({ tid: -1n, prevTid: 0n, oids: [] }), { code: 'ZEO_INVALID_ARGUMENT' });
  t.throws(() => encodeInvalidation({ tid: 1n, prevTid: 0n, oids: [1 as never] }), {
    code: 'ZEO_INVALID_ARGUMENT',
  });
});

t.test('invalidations arrive in order with 64-bit values intact', async (t) => {
  const { sub, publisher, publisherLogs } = await connectedPair(t);
  t.same(sub.connectionChanges, [true], 'the owner is told once subscribed');

  const bigStart = (1n << 64n) - 1000n; // TIDs near the top of the 64-bit range
  const sent = chain(300, bigStart);
  for (const inv of sent) publisher.publish(inv);
  await waitFor('all 300 messages', () => sub.received.length >= sent.length);
  t.same(sub.received, sent, 'every invalidation, in publish order, bigints exact');
  t.same(publisherLogs, [], 'nothing to complain about');
});

t.test('a malformed message or a throwing handler does not stop delivery', async (t) => {
  const channel = newChannel();
  const received: Invalidation[] = [];
  const logs: string[] = [];
  let isFirst = true;
  const subscriber = new RedisInvalidationSubscriber({
    url: REDIS_URL,
    channel,
    onInvalidation: (inv) => {
      received.push(inv);
      if (isFirst) {
        isFirst = false;
        throw new Error('handler bug');
      }
    },
    log: (m) => logs.push(m),
  });
  const raw = new Redis(REDIS_URL);
  t.teardown(async () => {
    await subscriber.close();
    await raw.quit();
  });
  await waitFor('subscription', () => subscriber.isConnected);
  const [a, b] = chain(2, 100n);
  await raw.publish(channel, encodeInvalidation(a!));
  await raw.publish(channel, Buffer.from([0xc1, 0xff, 0x00]));
  await raw.publish(channel, 'plain text');
  await raw.publish(channel, encodeInvalidation(b!));
  await waitFor('the second valid message', () => received.length >= 2);
  t.same(received, [a, b]);
  t.equal(logs.filter((m) => m.includes('handler failed')).length, 1, 'the handler error is logged');
  t.equal(logs.filter((m) => m.includes('malformed')).length, 2, 'each bad message is logged and skipped');
});

t.test('a publisher pointed at no Redis drops messages, never throws, logs once', async (t) => {
  const logs: string[] = [];
  const publisher = new RedisInvalidationPublisher({
    url: 'redis://zeo:s3cret@127.0.0.1:1',
    channel: newChannel(),
    log: (m) => logs.push(m),
  });
  t.teardown(() => publisher.close());
  const started = performance.now();
  for (const inv of chain(1000, 0n)) publisher.publish(inv);
  const elapsed = performance.now() - started;
  t.equal(publisher.isConnected, false);
  t.ok(elapsed < 1000, `1000 publishes returned at once (${elapsed.toFixed(1)} ms), nothing waits for Redis`);
  // Let several reconnect attempts fail, then check the outage was logged exactly once.
  await waitFor('an outage log', () => logs.length > 0);
  await new Promise((resolve) => setTimeout(resolve, 400));
  publisher.publish({ tid: 5000n, prevTid: 4999n, oids: [] });
  t.equal(logs.length, 1, 'one log line for the whole outage');
  t.match(logs[0], /redis down/);
  t.notMatch(logs[0], /s3cret/, 'the password stays out of logs');
});

t.test('an outage: subscriber reports it, publisher drops and logs, both recover', async (t) => {
  const relay = await startRelay();
  const { sub, publisher, publisherLogs } = await connectedPair(t, { relay, subscriberViaRelay: true, publisherViaRelay: true });
  const [first, lost, afterOutage] = chain(3, 1n << 62n);
  publisher.publish(first!);
  await waitFor('the first message', () => sub.received.length === 1);

  await relay.cut();
  await waitFor('the subscriber to notice', () => !sub.subscriber.isConnected);
  await waitFor('the publisher to notice', () => !publisher.isConnected);
  t.same(sub.connectionChanges, [true, false], 'the owner hears about the loss');
  publisher.publish(lost!);
  publisher.publish(lost!);
  t.equal(publisherLogs.filter((m) => m.includes('redis down')).length, 1, '"redis down" once');

  await relay.restore();
  await waitFor('resubscription', () => sub.subscriber.isConnected);
  await waitFor('the publisher to reconnect', () => publisher.isConnected);
  t.same(sub.connectionChanges, [true, false, true], 'the owner hears about the reconnect');
  t.match(publisherLogs.at(-1), /redis back/);
  t.match(sub.logs[0], /redis down/);
  t.match(sub.logs.at(-1), /redis back/);

  publisher.publish(afterOutage!);
  await waitFor('the message after the outage', () => sub.received.length >= 2);
  t.same(sub.received, [first, afterOutage], 'the message published in the outage was dropped, not queued');
});

t.test('a connected Redis that stops answering counts as down until it answers again', async (t) => {
  const relay = await startRelay();
  // The subscriber goes straight to Redis: it sees what reaches Redis.
  const { sub, publisher, publisherLogs: logs } = await connectedPair(t, { relay, publisherViaRelay: true, publishTimeoutMs: 200 });
  const [stalled, after] = chain(2, 500n);
  relay.freeze();
  const started = performance.now();
  publisher.publish(stalled!);
  t.ok(performance.now() - started < 100, 'publish returns at once even when Redis stalls');
  await waitFor('the unanswered publish to count as an outage', () => logs.length > 0);
  t.match(logs[0], /redis down .*timed out/i);
  t.equal(publisher.isConnected, false, 'isConnected says publishes are not getting through');

  relay.thaw();
  publisher.publish(after!);
  await waitFor('the publisher to recover', () => publisher.isConnected);
  t.match(logs.at(-1), /redis back .*1 invalidations were dropped/, 'recovery is logged with the drop count');
  await waitFor('the message after the stall', () => sub.received.some((inv) => inv.tid === after!.tid));
  t.equal(logs.length, 2, 'one line down, one line back');
});

t.test('a subscriber whose link stalls notices by PING, reports it, and recovers', async (t) => {
  const relay = await startRelay();
  const { sub, publisher } = await connectedPair(t, { relay, subscriberViaRelay: true, healthCheckMs: 200 });
  relay.freeze();
  await waitFor('the subscriber to notice the stall', () => !sub.subscriber.isConnected);
  t.same(sub.connectionChanges, [true, false], 'the owner hears that Redis is gone');
  t.match(sub.logs[0], /redis down .*PING/);
  relay.thaw();
  await waitFor('resubscription', () => sub.subscriber.isConnected);
  t.same(sub.connectionChanges.at(-1), true, 'and that it is back');
  const [inv] = chain(1, 900n);
  publisher.publish(inv!);
  await waitFor('delivery after the stall', () => sub.received.some((i) => i.tid === inv!.tid));
  t.pass('messages flow again');
});

t.test('closed clients leave nothing open: the process exits by itself', async (t) => {
  const moduleUrl = (name: string) => new URL(`../../../storage/redis/${name}.js`, import.meta.url).href;
  const script = `
    import { RedisInvalidationPublisher } from ${JSON.stringify(moduleUrl('publisher'))};
    import { RedisInvalidationSubscriber } from ${JSON.stringify(moduleUrl('subscriber'))};
    const channel = ${JSON.stringify(newChannel())};
    let got = 0;
    const log = () => {};
    const subscriber = new RedisInvalidationSubscriber({ url: ${JSON.stringify(REDIS_URL)}, channel, log,
      onInvalidation: () => { got++; } });
    const publisher = new RedisInvalidationPublisher({ url: ${JSON.stringify(REDIS_URL)}, channel, log });
    const unreachable = new RedisInvalidationPublisher({ url: 'redis://127.0.0.1:1', channel, log });
    while (!subscriber.isConnected || !publisher.isConnected) await new Promise((r) => setTimeout(r, 10));
    publisher.publish({ tid: 2n, prevTid: 1n, oids: [3n] });
    unreachable.publish({ tid: 2n, prevTid: 1n, oids: [3n] });
    while (got === 0) await new Promise((r) => setTimeout(r, 10));
    await Promise.all([subscriber.close(), publisher.close(), unreachable.close()]);
    await subscriber.close(); // idempotent
    console.log('closed ' + got);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('.', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await exited;
  clearTimeout(timer);
  t.equal(code, 0, `the child exited on its own (output: ${output.trim()})`);
  t.match(output, /closed 1/);
});
