// The applier's reset path and its log entry: when history cannot be followed, the caches are
// dropped and the entry names both TIDs in hex (0x and 16 digits), never in decimal.
import t from 'tap';
import { createLogger } from '../../../log.js';
import type { Invalidation, Tid } from '../../../storage/contract.js';
import { ClientCache } from '../../../storage/client/cache/memory-cache.js';
import { InvalidationApplier } from '../../../storage/client/invalidation-applier.js';

t.test('a commit reply out of the server\'s reach resets the caches and logs both TIDs in hex', async (t) => {
  const written: string[] = [];
  const log = createLogger({ stream: { write: (text) => void written.push(text) }, format: 'json', component: 'storage-client' });
  const cache = new ClientCache({ maxBytes: 1 << 20 });
  const lastTid: Tid = 0x0123456789abcdefn;
  const serverTid: Tid = 0x0123456789abcdf5n;
  cache.lastTid = lastTid;
  const resets: Tid[] = [];
  const applier = new InvalidationApplier({
    cache,
    fetchSince: async () => null,
    fetchLastTid: async () => serverTid,
    emit: (_: Invalidation) => {},
    emitReset: (tid) => void resets.push(tid),
    log,
  });
  applier.receiveCommitReply(serverTid, null);
  t.same(resets, [serverTid], 'the caches were reset at the server\'s TID');
  t.equal(cache.lastTid, serverTid);
  const entries = written.join('').split('\n').filter(Boolean).map((line) => JSON.parse(line));
  t.equal(entries.length, 1);
  const [entry] = entries;
  t.equal(entry.level, 'warn');
  t.equal(entry.msg, 'cannot follow invalidations from 0x0123456789abcdef; dropping the caches and restarting at 0x0123456789abcdf5');
  t.equal(entry.lastTid, '0x0123456789abcdef');
  t.equal(entry.serverTid, '0x0123456789abcdf5');
  t.notMatch(JSON.stringify(entry), String(lastTid), 'no TID in decimal');
});
