// The storage server's gate and commit handling, over real sockets: keys, addresses, read-only
// grants, the handshake, a relay proving the key never crosses the wire, TLS, and the 2PC
// commit-lock timeout.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStorage } from '../../../storage/memory/storage.js';
import { startStorageServer, type StorageServerOptions } from '../../../storage/server/storage-server.js';
import { ClientStorage, type ClientStorageOptions } from '../../../storage/client/storage.js';
import { Connection } from '../../../storage/client/connection.js';
import { encodeFrame } from '../../../storage/protocol/framing.js';
import { encodeMessage } from '../../../storage/protocol/messages.js';
import { AccessDeniedError, ReadOnlyError, UnavailableError } from '../../../errors.js';
import { eventually } from '../conformance/support.js';

const bytes = (text: string) => new TextEncoder().encode(text);

async function serve(t: Test, options: Partial<StorageServerOptions> = {}) {
  const logs: string[] = [];
  const storage = new MemoryStorage();
  const server = await startStorageServer({ storages: { main: storage }, log: (m) => logs.push(m), ...options });
  t.teardown(() => server.close());
  return { server, storage, logs, address: `127.0.0.1:${server.address.port}` };
}

async function client(t: Test, options: ClientStorageOptions) {
  const storage = await ClientStorage.open({ log: () => undefined, unavailableTimeoutMs: 2000, ...options });
  t.teardown(() => storage.close());
  return storage;
}


t.test('the right key gets in; a wrong key or none is refused at once', async (t) => {
  const { address, logs } = await serve(t, { key: 'right-key' });
  const good = await client(t, { servers: [address], key: 'right-key' });
  const [oid] = await good.newOids();
  await good.commit({ stores: [{ oid: oid!, baseTid: 0n, data: bytes('x'), refs: [] }] });
  const started = Date.now();
  await t.rejects(ClientStorage.open({ servers: [address], key: 'wrong-key', log: () => undefined }), AccessDeniedError);
  await t.rejects(ClientStorage.open({ servers: [address], log: () => undefined }), { code: 'ZEO_ACCESS_DENIED', message: /refused/ });
  t.ok(Date.now() - started < 5000, 'refusals do not wait out unavailableTimeoutMs');
  t.ok(logs.some((l) => /refused 127\.0\.0\.1:\d+: access denied: wrong key/.test(l)), 'the refusal is logged with the address');
});

t.test('a client with a key refuses a server that cannot prove it', async (t) => {
  const { address } = await serve(t, { key: null });
  await t.rejects(ClientStorage.open({ servers: [address], key: 'secret', log: () => undefined }), {
    code: 'ZEO_ACCESS_DENIED',
  });
});

t.test('an address outside the allow list is refused and logged with the reason', async (t) => {
  const { address, logs, server } = await serve(t, { allow: ['10.0.0.0/8'] });
  await t.rejects(ClientStorage.open({ servers: [address], unavailableTimeoutMs: 500, log: () => undefined }), UnavailableError);
  t.ok(logs.some((l) => /refused connection from 127\.0\.0\.1:\d+: address not in the allow list \(10\.0\.0\.0\/8\)/.test(l)));
  t.ok(server.stats().refusedConnections >= 1);
});

t.test('read-only keys and addresses: writes get ReadOnlyError from the server itself', async (t) => {
  const { address, server } = await serve(t, { key: 'rw', readOnlyKeys: ['ro'] });
  const reader = await client(t, { servers: [address], key: 'ro' });
  t.equal(reader.isReadOnly, true);
  await t.rejects(reader.commit({ stores: [{ oid: 1n, baseTid: 0n, data: bytes('x'), refs: [] }] }), ReadOnlyError);
  // Bypass the client's own check: the server must refuse too.
  const raw = await Connection.open({ host: '127.0.0.1', port: server.address.port }, {
    storage: 'main', key: 'ro', isReadOnly: false, wantsPush: false, tls: null, connectTimeoutMs: 2000,
  });
  t.teardown(() => raw.close());
  await t.rejects(raw.request('commit', [{ stores: [{ oid: 1n, baseTid: 0n, data: bytes('x'), refs: [] }], readCurrent: [], meta: {} }, 0n]), ReadOnlyError);
  await t.rejects(raw.request('tpcBegin', [{}]), ReadOnlyError);
  t.equal(server.stats().storages.main!.commits, 0);

  const byAddress = await serve(t, { readOnlyAllow: ['127.0.0.0/8'] });
  const addressReader = await client(t, { servers: [byAddress.address] });
  t.equal(addressReader.isReadOnly, true, 'the address grant makes the connection read-only');
  await t.rejects(addressReader.commit({ stores: [{ oid: 1n, baseTid: 0n, data: bytes('x'), refs: [] }] }), ReadOnlyError);
});

t.test('the key never crosses the wire (bytes captured by a relay)', async (t) => {
  const key = 'the-secret-key-0123456789';
  const { server } = await serve(t, { key });
  const captured: Buffer[] = [];
  const sockets = new Set<Socket>();
  const relay = createServer((inbound) => {
    const outbound = connect(server.address.port, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => undefined);
    }
    inbound.on('data', (chunk: Buffer) => {
      captured.push(chunk);
      outbound.write(chunk);
    });
    outbound.on('data', (chunk: Buffer) => {
      captured.push(chunk);
      inbound.write(chunk);
    });
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    // Stop accepting first: the client would otherwise reconnect through the relay forever.
    const done = new Promise<void>((resolve) => relay.close(() => resolve()));
    for (const s of sockets) s.destroy();
    return done;
  });
  const port = (relay.address() as { port: number }).port;
  const storage = await client(t, { servers: [`127.0.0.1:${port}`], key });
  const [oid] = await storage.newOids();
  await storage.commit({ stores: [{ oid: oid!, baseTid: 0n, data: bytes('payload-marker'), refs: [] }] });
  const wire = Buffer.concat(captured);
  t.ok(wire.includes('payload-marker'), 'the relay did see the traffic');
  t.ok(wire.includes('auth'), 'including the handshake');
  t.notOk(wire.includes(key), 'the key itself never appears');
  t.notOk(wire.includes(Buffer.from(key).toString('base64')), 'nor in base64');
  t.notOk(wire.includes(Buffer.from(key).toString('hex')), 'nor in hex');
});

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
    // Read (and discard) what the server sends, or its close is never noticed.
    socket.resume();
  });
}

const closed = (socket: Socket) => new Promise<void>((resolve) => socket.once('close', () => resolve()));

t.test('nothing but the handshake frame is read before the handshake succeeds', async (t) => {
  const { server, storage, logs } = await serve(t, { key: 'k', handshakeTimeoutMs: 300 });
  // A request instead of auth: closed, and not executed.
  const eager = await rawSocket(server.address.port);
  eager.on('error', () => undefined);
  const request = { t: 'req', id: 1, op: 'commit', args: [{ stores: [{ oid: 1n, baseTid: 0n, data: bytes('x'), refs: [] }], readCurrent: [], meta: {} }, 0n] };
  eager.write(encodeFrame(encodeMessage(request)));
  await closed(eager);
  t.equal(await storage.lastTransaction(), 0n, 'the request was not executed');
  t.ok(logs.some((l) => /expected auth, got req/.test(l)));
  // A big frame before the handshake: refused from its header (handshake frames are small).
  const big = await rawSocket(server.address.port);
  big.on('error', () => undefined);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(1_000_000);
  big.write(header);
  await closed(big);
  // Silence: closed after the handshake timeout.
  const silent = await rawSocket(server.address.port);
  const started = Date.now();
  await closed(silent);
  t.ok(Date.now() - started >= 250, 'closed by the handshake timeout');
  t.ok(logs.some((l) => /no handshake within 300 ms/.test(l)));
});

/** A self-signed certificate for 127.0.0.1 in a temp folder removed after the test. */
function selfSignedCertificate(t: Test): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'zeo-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  return { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
}

t.test('TLS: a client trusting the certificate works; the key still proves itself', async (t) => {
  const tls = selfSignedCertificate(t);
  const { address, logs, server } = await serve(t, { key: 'k', tls });
  const storage = await client(t, { servers: [address], key: 'k', tls: { ca: tls.cert } });
  const [oid] = await storage.newOids();
  const { tid } = await storage.commit({ stores: [{ oid: oid!, baseTid: 0n, data: bytes('secret'), refs: [] }] });
  t.equal((await storage.load(oid!)).tid, tid);
  await t.rejects(ClientStorage.open({ servers: [address], key: 'k', unavailableTimeoutMs: 300, connectTimeoutMs: 300, log: () => undefined }), UnavailableError, 'plain TCP to a TLS server fails');
  await t.rejects(ClientStorage.open({ servers: [address], key: 'k', tls: { ca: null }, unavailableTimeoutMs: 300, connectTimeoutMs: 300, log: () => undefined }), UnavailableError, 'an untrusted certificate fails');
  await eventually('the abandoned handshake logged', () => logs.some((l) => /127\.0\.0\.1:\d+ closed the connection during the TLS handshake/.test(l)));
  const plain = await rawSocket(server.address.port);
  plain.write('not TLS at all\r\n');
  await closed(plain);
  await eventually('the failed handshake logged', () => logs.some((l) => /closing connection from 127\.0\.0\.1:\d+: TLS handshake failed: /.test(l)));
  t.pass('handshakes abandoned by the client and failed ones are logged with the peer');
  t.notOk(logs.some((l) => /undefined/.test(l)), 'every log line names the peer');
});

t.test('TLS: the allow list is applied before the handshake; a peer that never starts one is closed in time', async (t) => {
  const { server, logs } = await serve(t, { allow: ['127.0.0.1/32'], tls: selfSignedCertificate(t), handshakeTimeoutMs: 300 });
  // 127.0.0.2 is a loopback address too, but not in the allow list.
  const tcp = connect({ host: '127.0.0.1', port: server.address.port, localAddress: '127.0.0.2' });
  tcp.on('error', () => undefined);
  const outsider = tlsConnect({ socket: tcp, rejectUnauthorized: false });
  let isSecure = false;
  outsider.on('secureConnect', () => (isSecure = true));
  outsider.on('error', () => undefined);
  await closed(outsider);
  t.notOk(isSecure, 'a disallowed address gets no TLS handshake (no certificate, no byte)');
  t.ok(logs.some((l) => /refused connection from 127\.0\.0\.2:\d+: address not in the allow list/.test(l)));
  t.equal(server.stats().refusedConnections, 1);

  const silent = await rawSocket(server.address.port);
  const started = Date.now();
  await closed(silent);
  const lived = Date.now() - started;
  t.ok(lived >= 250 && lived < 3000, `a silent peer is closed by the handshake timeout (after ${lived} ms)`);
  await eventually('the timeout logged', () => logs.some((l) => /closing connection from 127\.0\.0\.1:\d+: no TLS handshake within 300 ms/.test(l)));
  t.equal(server.stats().closedForProtocolErrors, 1, 'and counted as closed for a protocol error');
  t.equal(server.stats().connections, 0);
});

t.test('a client that voted and went quiet loses the commit lock after commitLockTimeoutMs', async (t) => {
  const { server, address, logs } = await serve(t, { commitLockTimeoutMs: 300 });
  const quiet = await client(t, { servers: [address] });
  const other = await client(t, { servers: [address] });
  const [a, b] = await quiet.newOids(2);
  const txn = await quiet.tpcBegin();
  txn.store(a!, 0n, bytes('held'), []);
  await txn.vote();
  const started = Date.now();
  const result = await other.commit({ stores: [{ oid: b!, baseTid: 0n, data: bytes('other'), refs: [] }] });
  t.ok(Date.now() - started >= 250, 'the other commit waited for the lock');
  t.ok(result.tid > 0n);
  await t.rejects(txn.finish(), { code: 'ZEO_TRANSACTION_STATE', message: /did not finish within 300 ms/ });
  t.ok(logs.some((l) => /aborting transaction \d+ of 127\.0\.0\.1:\d+: voted but not finished/.test(l)));
  await t.rejects(other.load(a!), { code: 'ZEO_NOT_FOUND' }, 'the aborted transaction left no trace');
  t.equal(server.stats().storages.main!.commits, 1);
});

t.test('a client that vanishes after voting releases the lock at once', async (t) => {
  const { address, server } = await serve(t, { commitLockTimeoutMs: 60_000 });
  // A bare connection, dropped without a word after its vote: the process died.
  const vanishing = await Connection.open({ host: '127.0.0.1', port: server.address.port }, {
    storage: 'main', key: null, isReadOnly: false, wantsPush: false, tls: null, connectTimeoutMs: 2000,
  });
  const other = await client(t, { servers: [address] });
  const [a, b] = await other.newOids(2);
  const txnId = await vanishing.request<number>('tpcBegin', [{}]);
  await vanishing.request('tpcVote', [txnId, [{ oid: a!, baseTid: 0n, data: bytes('x'), refs: [] }], []]);
  vanishing.close();
  const started = Date.now();
  await other.commit({ stores: [{ oid: b!, baseTid: 0n, data: bytes('y'), refs: [] }] });
  t.ok(Date.now() - started < 5000, 'no wait for the 60 s lock timeout');
  await t.rejects(other.load(a!), { code: 'ZEO_NOT_FOUND' });
});

t.test('2PC over the wire: conflicts come back as ConflictError with their facts', async (t) => {
  const { address } = await serve(t);
  const one = await client(t, { servers: [address] });
  const two = await client(t, { servers: [address] });
  const [oid] = await one.newOids();
  const first = await one.commit({ stores: [{ oid: oid!, baseTid: 0n, data: bytes('1'), refs: [] }] });
  await two.sync(first.tid);
  const second = await one.commit({ stores: [{ oid: oid!, baseTid: first.tid, data: bytes('2'), refs: [] }] });
  const txn = await two.tpcBegin();
  txn.store(oid!, first.tid, bytes('stale'), []);
  const error = await txn.vote().then(() => null, (e: unknown) => e);
  t.match(error, { code: 'ZEO_CONFLICT', oid: oid!, baseTid: first.tid, currentTid: second.tid, isReadConflict: false });
  t.equal((error as Error).constructor.name, 'ConflictError');
  await txn.abort();
  const stats = await two.serverStats();
  t.equal(stats.storages.main!.conflicts, 1, 'the server counted the conflict');
  t.equal(stats.storages.main!.commits, 2);
  t.equal(stats.storages.main!.queueLength, 2, 'both commits are in the invalidation queue');
  t.equal(stats.storages.main!.lastTid, second.tid);
  const retry = await two.tpcBegin({ description: 'retry' });
  retry.store(oid!, second.tid, bytes('3'), []);
  await retry.vote();
  const done = await retry.finish();
  t.equal(await two.lastTransaction(), done.tid);
  t.equal(new TextDecoder().decode((await one.loadBefore(oid!, done.tid + 1n))!.data), '3');
});

t.test('one server, several named storages: separate data and invalidations; an unknown name is refused', async (t) => {
  const main = new MemoryStorage();
  const other = new MemoryStorage();
  const logs: string[] = [];
  const server = await startStorageServer({ storages: { main, other }, log: (m) => logs.push(m) });
  t.teardown(() => server.close());
  const address = `127.0.0.1:${server.address.port}`;
  const onMain = await client(t, { servers: [address], storage: 'main' });
  const onOther = await client(t, { servers: [address], storage: 'other' });
  const heardOnOther: bigint[] = [];
  onOther.onInvalidation((i) => heardOnOther.push(i.tid));
  const [oid] = await onMain.newOids();
  const { tid } = await onMain.commit({ stores: [{ oid: oid!, baseTid: 0n, data: bytes('main only'), refs: [] }] });
  t.equal(await main.lastTransaction(), tid);
  t.equal(await other.lastTransaction(), 0n, 'the other storage is untouched');
  await t.rejects(onOther.load(oid!), { code: 'ZEO_NOT_FOUND' });
  await new Promise((r) => setTimeout(r, 100));
  t.same(heardOnOther, [], 'no invalidation crossed over');
  t.equal(server.stats().storages.other!.connections, 1);
  await t.rejects(ClientStorage.open({ servers: [address], storage: 'nope', unavailableTimeoutMs: 300, log: () => undefined }), {
    code: 'ZEO_UNAVAILABLE',
    message: /no storage named "nope" here \(served: main, other\)/,
  });
});
