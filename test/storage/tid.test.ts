import t from 'tap';
import { fromHex, nextTid, tidFromDate, tidToDate, toHex } from '../../storage/tid.js';

t.test('TIDs strictly increase even when the clock steps back', async (t) => {
  const now = Date.UTC(2026, 10, 25);
  const first = nextTid(0n, now);
  const second = nextTid(first, now - 60_000);
  const third = nextTid(second, now);
  t.ok(second > first, 'a clock step back still gives a larger TID');
  t.ok(third > second);
  t.equal(tidToDate(first).getTime(), now, 'a TID says when it was committed');
});

t.test('many TIDs in one millisecond stay unique and ordered', async (t) => {
  let last = 0n;
  const seen = new Set<bigint>();
  let increasing = true;
  for (let i = 0; i < 100_000; i++) {
    const tid = nextTid(last, 1_700_000_000_000);
    if (tid <= last) increasing = false;
    seen.add(tid);
    last = tid;
  }
  t.ok(increasing, 'every TID is larger than the one before');
  t.equal(seen.size, 100_000);
  t.equal(tidFromDate(tidToDate(last)) <= last, true);
});

t.test('hex round trip and bad input', async (t) => {
  t.equal(fromHex(toHex(0x0123456789abcdefn)), 0x0123456789abcdefn);
  t.throws(() => fromHex('not hex'), { code: 'ZEO_INVALID_ARGUMENT' });
  t.throws(() => fromHex('12345678901234567'), { code: 'ZEO_INVALID_ARGUMENT' });
});
