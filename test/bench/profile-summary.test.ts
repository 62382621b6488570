// Summarising a V8 CPU profile: self time per function and per place (pure, on a made-up profile).
import t from 'tap';
import { placeOf, summariseProfile, formatProfileSummary, type CpuProfile } from '../../bench/profile-summary.js';

const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });

t.test('self time is summed per function and per place; idle is not busy', async (t) => {
  const profile: CpuProfile = {
    startTime: 0,
    endTime: 10_000,
    nodes: [
      { id: 1, callFrame: frame('(root)') },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('route', 'file:///work/main/dist/proxy/router.js', 84) },
      { id: 4, callFrame: frame('pack', 'file:///work/main/node_modules/msgpackr/pack.js', 471) },
      { id: 5, callFrame: frame('writev') },
    ],
    // Each sample lasts until the next one: 1000 µs each here.
    samples: [2, 2, 3, 3, 3, 4, 5, 2, 3, 3],
    timeDeltas: [0, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
  };
  const summary = summariseProfile(profile, 10);
  t.equal(summary.totalMs, 9, 'the last sample has no duration');
  t.equal(summary.busyShare, 0.667, '3 of 9 ms idle');
  t.same(summary.places.map((p) => [p.place, p.selfMs]), [['proxy/router.ts', 4], ['(idle)', 3], ['npm:msgpackr', 1], ['(native)', 1]]);
  t.same(summary.functions[0], { name: 'route :85', place: 'proxy/router.ts', selfMs: 4, share: 44.4 });
  t.match(formatProfileSummary('router', summary), /^router: 9 ms sampled, 67% busy\n  by place:\n\s+44\.4%  proxy\/router\.ts/);
});

t.test('places: packages, node internals, project files', async (t) => {
  t.equal(placeOf('file:///x/node_modules/@scope/pkg/a.js', 'f'), 'npm:@scope/pkg');
  t.equal(placeOf('node:internal/streams/writable', 'f'), 'node internals');
  t.equal(placeOf('file:///work/main/dist/storage/client/connection.js', 'f'), 'storage/client/connection.ts');
  t.equal(placeOf('', '(garbage collector)'), '(garbage collector)');
  t.equal(placeOf('', 'writev'), '(native)');
});
