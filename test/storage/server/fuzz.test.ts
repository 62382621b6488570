// Hostile and broken peers against a real storage server: random bytes, truncated frames,
// oversized frame headers, well-framed nonsense, before and after the handshake, from many
// connections at once, while a well-behaved ClientStorage keeps committing and reading. Each bad
// connection may only get itself closed; the good client never notices; memory stays bounded.
import t from 'tap';
import { randomBytes, randomInt } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { MemoryStorage } from '../../../storage/memory/storage.js';
import { startStorageServer } from '../../../storage/server/storage-server.js';
import { ClientStorage } from '../../../storage/client/storage.js';
import { encodeFrame } from '../../../storage/protocol/framing.js';
import { encodeMessage, NONCE_BYTES } from '../../../storage/protocol/messages.js';

const MAX_FRAME = 64 * 1024;

function randomValue(depth = 0): unknown {
  switch (randomInt(depth > 2 ? 7 : 9)) {
    case 0: return randomInt(1 << 30) - (1 << 29);
    case 1: return BigInt.asUintN(64, BigInt('0x' + randomBytes(8).toString('hex')));
    case 2: return randomBytes(randomInt(64));
    case 3: return randomBytes(randomInt(8)).toString('hex');
    case 4: return null;
    case 5: return Math.random() < 0.5;
    case 6: return -1n;
    case 7: return Array.from({ length: randomInt(4) }, () => randomValue(depth + 1));
    default: return Object.fromEntries(Array.from({ length: randomInt(4) }, () => [['oid', 'stores', 'baseTid', 'data', 'refs', 'meta', 'x'][randomInt(7)]!, randomValue(depth + 1)]));
  }
}

const ops = ['load', 'loadBefore', 'loadMany', 'history', 'iterate', 'newOids', 'commit', 'tpcBegin', 'tpcVote', 'tpcFinish', 'tpcAbort', 'invalidationsSince', 'setPush', 'stats', 'ping', 'nope', 'constructor', '__proto__'];

/** One hostile connection; resolves when the server has closed it (or after a bound). */
function attack(port: number, kind: number): Promise<void> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.resume();
    const done = setTimeout(() => socket.destroy(), 3000);
    socket.on('close', () => {
      clearTimeout(done);
      resolve();
    });
    const auth = () => encodeFrame(encodeMessage({ t: 'auth', version: 1, storage: 'main', nonce: randomBytes(NONCE_BYTES), proof: null, isReadOnly: false, wantsPush: true }));
    const header = (n: number) => {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(n);
      return h;
    };
    socket.on('connect', () => {
      switch (kind) {
        case 0: // random bytes
          socket.write(randomBytes(randomInt(1, 4096)));
          break;
        case 1: // an oversized frame announced before the handshake
          socket.write(header(0xffff_fff0));
          break;
        case 2: // an oversized frame after the handshake, body never sent
          socket.write(Buffer.concat([auth(), header(MAX_FRAME + 1)]));
          break;
        case 3: // a truncated frame, then the peer goes away
          socket.write(Buffer.concat([auth(), header(1000), randomBytes(500)]));
          setTimeout(() => socket.destroy(), 20);
          break;
        case 4: // well-framed garbage after the handshake
          socket.write(Buffer.concat([auth(), encodeFrame(randomBytes(randomInt(1, 200)))]));
          break;
        case 5: { // well-formed requests with nonsense arguments, then a broken one
          const frames = [auth()];
          for (let i = 0; i < 50; i++) {
            frames.push(encodeFrame(encodeMessage({ t: 'req', id: i, op: ops[randomInt(ops.length)], args: Array.from({ length: randomInt(4) }, () => randomValue()) })));
          }
          frames.push(encodeFrame(encodeMessage({ t: 'req', id: 'x', op: 1 })));
          socket.write(Buffer.concat(frames));
          break;
        }
        case 6: // messages of the wrong kind
          socket.write(Buffer.concat([auth(), encodeFrame(encodeMessage({ t: 'welcome', proof: null }))]));
          break;
        default: // an empty frame
          socket.write(Buffer.concat([auth(), header(0)]));
      }
    });
  });
}

t.test('hostile connections only close themselves; a good client keeps working; memory stays bounded', async (t) => {
  const logs: string[] = [];
  const storage = new MemoryStorage();
  const server = await startStorageServer({ storages: { main: storage }, maxFrameBytes: MAX_FRAME, handshakeTimeoutMs: 1000, log: (m) => logs.push(m) });
  t.teardown(() => server.close());
  const good = await ClientStorage.open({ servers: [`127.0.0.1:${server.address.port}`], log: () => undefined });
  t.teardown(() => good.close());
  const [oid] = await good.newOids();
  let tid = (await good.commit({ stores: [{ oid: oid!, baseTid: 0n, data: new Uint8Array([0]), refs: [] }] })).tid;

  const heapBefore = process.memoryUsage().heapUsed;
  let isAttacking = true;
  let goodCommits = 0;
  const goodWork = (async () => {
    while (isAttacking) {
      tid = (await good.commit({ stores: [{ oid: oid!, baseTid: tid, data: new Uint8Array([goodCommits % 256]), refs: [] }] })).tid;
      goodCommits++;
      const loaded = await good.load(oid!);
      if (loaded.tid !== tid) throw new Error('the good client read something stale');
    }
  })();
  const rounds = 8;
  const perRound = 40;
  for (let round = 0; round < rounds; round++) {
    await Promise.all(Array.from({ length: perRound }, (_, i) => attack(server.address.port, (round * perRound + i) % 8)));
  }
  isAttacking = false;
  await goodWork;

  t.ok(goodCommits > 10, `the good client committed throughout (${goodCommits} commits)`);
  t.equal(good.stats().isConnected, true, 'and was never disconnected');
  t.equal((await storage.load(oid!)).tid, tid, 'its last commit is the current revision');
  const stats = server.stats();
  t.ok(stats.closedForProtocolErrors >= rounds * perRound * 0.5, `bad connections were closed for protocol errors (${stats.closedForProtocolErrors})`);
  for (let i = 0; i < 100 && server.stats().connections > 1; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(server.stats().connections, 1, 'only the good connection is left');
  t.ok(logs.some((l) => /closing connection from 127\.0\.0\.1:\d+: protocol error: frame of 4294967280 bytes exceeds the limit/.test(l)), 'an oversized announcement is refused from its header');
  const internal = logs.filter((l) => /failed inside the server/.test(l));
  t.same(internal, [], 'no request crashed inside the server (every bad argument was a typed error)');
  const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
  t.ok(heapGrowth < 64 * 1024 * 1024, `heap grew by ${(heapGrowth / 1e6).toFixed(1)} MB, far below the 4 GB that was announced`);
});
