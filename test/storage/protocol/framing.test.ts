import t from 'tap';
import { encodeFrame, FrameReader } from '../../../storage/protocol/framing.js';
import { decodeMessage, encodeMessage, decodeError, encodeError, type ErrorMessage } from '../../../storage/protocol/messages.js';
import { ConflictError, NotFoundError, ReadOnlyError } from '../../../errors.js';

t.test('frames split at any byte boundary come out whole and in order', async (t) => {
  const bodies = [Buffer.from('a'), Buffer.alloc(70_000, 7), Buffer.from('last')];
  const stream = Buffer.concat(bodies.map((b) => encodeFrame(b)));
  for (const step of [1, 3, 4, 5, 1000, stream.length]) {
    const out: Buffer[] = [];
    const reader = new FrameReader(1 << 20, (body) => out.push(Buffer.from(body)));
    for (let i = 0; i < stream.length; i += step) reader.push(stream.subarray(i, i + step));
    t.same(out, bodies, `chunks of ${step} bytes`);
    t.equal(reader.bufferedBytes, 0);
  }
});

t.test('an oversized frame is refused from its header alone, before any body is buffered', async (t) => {
  const reader = new FrameReader(1024, () => t.fail('no frame expected'));
  const header = Buffer.alloc(4);
  header.writeUInt32BE(1025);
  t.throws(() => reader.push(header), { code: 'ZEO_PROTOCOL', message: /exceeds the limit of 1024/ });
  t.ok(reader.bufferedBytes <= 4, 'nothing beyond the header was kept');
  const trickle = new FrameReader(1 << 30, () => t.fail('no frame expected'));
  header.writeUInt32BE(1 << 30);
  trickle.push(header);
  for (let i = 0; i < 1000; i++) trickle.push(Buffer.from([i & 0xff]));
  t.ok(trickle.bufferedBytes <= 4096, `a 1 GiB announcement trickled byte by byte holds ${trickle.bufferedBytes} bytes, not 1 GiB`);
  const empty = new FrameReader(1024, () => undefined);
  t.throws(() => empty.push(Buffer.alloc(4)), { code: 'ZEO_PROTOCOL', message: /empty frame/ });
});

t.test('messages keep 64-bit TIDs and bytes; non-messages are rejected', async (t) => {
  const max = (1n << 64n) - 1n;
  const decoded = decodeMessage(encodeMessage({ t: 'inv', invalidation: { tid: max, prevTid: 0n, oids: [1n] } }));
  t.same(decoded, { t: 'inv', invalidation: { tid: max, prevTid: 0n, oids: [1n] } });
  t.throws(() => decodeMessage(encodeMessage(42)));
  t.throws(() => decodeMessage(Buffer.from([0x93, 1])));
});

t.test('errors cross the wire as the same class with their facts', async (t) => {
  const conflict = new ConflictError([{ oid: 5n, baseTid: 1n, currentTid: 2n, isReadConflict: false }]);
  const wire = decodeMessage(encodeMessage({ t: 'err', id: 1, error: encodeError(conflict) }));
  const back = decodeError((wire as ErrorMessage).error) as ConflictError;
  t.ok(back instanceof ConflictError);
  t.equal(back.oid, 5n);
  t.equal(back.currentTid, 2n);
  t.equal(back.message, conflict.message);
  t.ok(decodeError(encodeError(new ReadOnlyError('x'))) instanceof ReadOnlyError);
  const notFound = decodeError(encodeError(new NotFoundError(9n))) as NotFoundError;
  t.ok(notFound instanceof NotFoundError);
  t.equal(notFound.oid, 9n);
  t.match(decodeError(encodeError(new Error('boom'))).message, /storage server: boom/);
});
