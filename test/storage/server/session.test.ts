// One connection on the storage server (storage/server/session.ts), driven by hand over a real
// socket: a refused handshake runs nothing of what came with it and gives its counts back; a
// refused protocol version says what was wrong; malformed requests get a typed
// InvalidArgumentError over the wire and no log line; failures inside the server are logged
// with a stack once, then summarized, never a stack per request.

import t, { type Test } from 'tap';
import { createHmac, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { MemoryStorage } from '../../../storage/memory/storage.js';
import { startStorageServer, type StorageServerOptions } from '../../../storage/server/storage-server.js';
import { Connection } from '../../../storage/client/connection.js';
import type { LoadResult, Oid } from '../../../storage/contract.js';
import { encodeFrame, FrameReader } from '../../../storage/protocol/framing.js';
import { decodeMessage, encodeMessage, NONCE_BYTES, type WireMessage } from '../../../storage/protocol/messages.js';
import { eventually } from '../conformance/support.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const frame = (message: unknown) => encodeFrame(encodeMessage(message));

async function serve(t: Test, options: Partial<StorageServerOptions> = {}, storage = new MemoryStorage()) {
  const logs: string[] = [];
  const server = await startStorageServer({ storages: { main: storage }, log: (m) => logs.push(m), ...options });
  t.teardown(() => server.close());
  return { server, storage, logs };
}

/** A raw socket that collects every message the server sends, and resolves `closed` at the end. */
function peer(port: number) {
  const socket: Socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const messages: WireMessage[] = [];
  const reader = new FrameReader(1 << 20, (body) => messages.push(decodeMessage(body)));
  socket.on('data', (chunk: Buffer) => reader.push(chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, messages, closed };
}

const rawConnection = async (t: Test, port: number) => {
  const connection = await Connection.open({ host: '127.0.0.1', port }, {
    storage: 'main', key: null, isReadOnly: false, wantsPush: false, tls: null, connectTimeoutMs: 2000,
  });
  t.teardown(() => connection.close());
  return connection;
};

t.test('a refused handshake runs nothing that came after it in the same write, and gives its counts back', async (t) => {
  const key = 'secret-key';
  const { server, storage } = await serve(t, { key });
  const { socket, messages, closed } = peer(server.address.port);
  await eventually('the hello', () => messages.length > 0);
  const hello = messages[0] as { t: 'hello'; nonce: Uint8Array };
  const nonce = randomBytes(NONCE_BYTES);
  const rightProof = createHmac('sha256', key).update(hello.nonce).update(nonce).digest();
  const auth = (proof: Uint8Array) => ({ t: 'auth', version: 1, storage: 'main', nonce, proof, isReadOnly: false, wantsPush: true });
  const commit = { t: 'req', id: 1, op: 'commit', args: [{ stores: [{ oid: 5n, baseTid: 0n, data: bytes('by a refused peer'), refs: [] }] }, 0n] };
  socket.write(Buffer.concat([frame(auth(randomBytes(32))), frame(auth(rightProof)), frame(commit)]));
  await closed;
  t.same(messages.map((m) => m.t), ['hello', 'refused'], 'the refusal is the last thing the peer hears');
  t.equal(await storage.lastTransaction(), 0n, 'the commit that followed the refusal was not executed');
  await t.rejects(storage.load(5n), { code: 'ZEO_NOT_FOUND' });
  const stats = server.stats();
  t.equal(stats.refusedConnections, 1);
  t.equal(stats.connections, 0, 'no connection is left counted');
  t.equal(stats.storages.main!.connections, 0, 'nor on the storage');
  t.equal(stats.storages.main!.commits, 0);
});

t.test('a refused protocol version says what was wrong with it', async (t) => {
  const { server } = await serve(t);
  const refusal = async (version: unknown) => {
    const { socket, messages, closed } = peer(server.address.port);
    await eventually('the hello', () => messages.length > 0);
    socket.write(frame({ t: 'auth', version, storage: 'main', nonce: randomBytes(NONCE_BYTES), proof: null, isReadOnly: false, wantsPush: false }));
    await closed;
    return (messages[1] as { t: string; error: { code: string; message: string } }).error;
  };
  t.match(await refusal('1'), { code: 'ZEO_PROTOCOL', message: /the protocol version must be a number, got the string "1" \(this server speaks version 1\)/ });
  t.match(await refusal(undefined), { message: /must be a number, got none/ });
  t.match(await refusal(2), { message: /protocol version 2 is not supported \(this server speaks version 1; upgrade the server\)/ });
  t.match(await refusal(0), { message: /protocol version 0 is not supported \(this server speaks version 1; upgrade the client\)/ });
});

t.test('malformed commits get InvalidArgumentError over the wire, and nothing in the log', async (t) => {
  const { server, storage, logs } = await serve(t);
  const connection = await rawConnection(t, server.address.port);
  const good = { oid: 1n, baseTid: 0n, data: bytes('x'), refs: [] };
  const requests: Array<[string, unknown]> = [
    ['stores [null]', { stores: [null] }],
    ['stores [undefined]', { stores: [undefined] }],
    ['stores [5]', { stores: [5] }],
    ['stores "x"', { stores: 'x' }],
    ['a store with a string OID', { stores: [{ ...good, oid: '1' }] }],
    ['readCurrent [null]', { stores: [good], readCurrent: [null] }],
    ['readCurrent 5', { stores: [good], readCurrent: 5 }],
    ['meta "x"', { stores: [good], meta: 'x' }],
    ['no request at all', null],
  ];
  for (const [what, request] of requests) {
    await t.rejects(connection.request('commit', [request, 0n]), { code: 'ZEO_INVALID_ARGUMENT', name: 'InvalidArgumentError' }, what);
  }
  const txnId = await connection.request<number>('tpcBegin', [{}]);
  await t.rejects(connection.request('tpcVote', [txnId, [null], []]), { code: 'ZEO_INVALID_ARGUMENT' }, 'tpcVote with a null store');
  t.equal(await storage.lastTransaction(), 0n, 'nothing was committed');
  t.same(logs, [], 'a client\'s bad argument is its own business: no log line');
  t.ok(connection.isOpen, 'and the connection stays up');
});

/** A storage whose reads fail with an untyped error, as a bug would. */
class BrokenStorage extends MemoryStorage {
  override async load(_oid: Oid): Promise<LoadResult> {
    throw new TypeError('a bug in the storage');
  }
}

t.test('failures inside the server are logged with a stack once, then summarized, not once per request', async (t) => {
  const { server, logs } = await serve(t, {}, new BrokenStorage());
  const connection = await rawConnection(t, server.address.port);
  const failures = await Promise.all(Array.from({ length: 200 }, () => connection.request('load', [1n]).then(() => null, (e: Error) => e)));
  t.ok(failures.every((e) => e !== null && /a bug in the storage/.test(e.message)), 'each request got its error back');
  t.equal(logs.length, 1, 'one log line for the first');
  t.match(logs[0], /load from 127\.0\.0\.1:\d+ failed inside the server: TypeError: a bug in the storage\n\s+at /);
  connection.close();
  await server.close();
  t.equal(logs.length, 2, 'and one summary of the rest');
  t.match(logs[1], /199 more requests failed inside the server in the last 10 s \(the last: load from 127\.0\.0\.1:\d+: a bug in the storage\)/);
  t.notOk(/\n\s+at /.test(logs[1]!), 'without a stack');
});
