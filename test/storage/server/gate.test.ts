import t from 'tap';
import { addressBytes, Gate } from '../../../storage/server/gate.js';

t.test('IPv4 rules match IPv4 and IPv4-mapped IPv6 peers', async (t) => {
  const gate = new Gate({ allow: ['10.0.0.0/8', '192.168.1.7'], readOnlyAllow: [] });
  t.same(gate.check('10.1.2.3'), { isAllowed: true, isReadOnly: false });
  t.same(gate.check('::ffff:10.200.0.1'), { isAllowed: true, isReadOnly: false });
  t.same(gate.check('192.168.1.7'), { isAllowed: true, isReadOnly: false });
  t.equal(gate.check('192.168.1.8').isAllowed, false);
  t.equal(gate.check('127.0.0.1').isAllowed, false);
  t.equal(gate.check('::1').isAllowed, false);
  t.equal(gate.check('11.0.0.1').isAllowed, false);
  const refused = gate.check('127.0.0.1');
  t.match(!refused.isAllowed && refused.reason, /not in the allow list \(10\.0\.0\.0\/8, 192\.168\.1\.7\)/);
});

t.test('IPv6 rules, compressed forms and prefixes off a byte boundary', async (t) => {
  const gate = new Gate({ allow: ['::1/128', 'fd00:ab::/33'], readOnlyAllow: [] });
  t.equal(gate.check('::1').isAllowed, true);
  t.equal(gate.check('0:0:0:0:0:0:0:1').isAllowed, true);
  t.equal(gate.check('fd00:ab:7fff::9').isAllowed, true, 'inside /33');
  t.equal(gate.check('fd00:ab:8000::9').isAllowed, false, 'bit 33 differs');
  t.equal(gate.check('127.0.0.1').isAllowed, false);
  t.same(addressBytes('::ffff:1.2.3.4'), addressBytes('1.2.3.4'));
  t.equal(addressBytes('not an address'), null);
});

t.test('read-only addresses are admitted read-only; empty allow admits all', async (t) => {
  const gate = new Gate({ allow: ['10.0.0.0/8'], readOnlyAllow: ['127.0.0.0/8'] });
  t.same(gate.check('127.0.0.1'), { isAllowed: true, isReadOnly: true });
  t.same(gate.check('10.0.0.1'), { isAllowed: true, isReadOnly: false });
  t.same(new Gate({ allow: [], readOnlyAllow: [] }).check('8.8.8.8'), { isAllowed: true, isReadOnly: false });
  t.equal(new Gate({ allow: [], readOnlyAllow: [] }).check(undefined).isAllowed, false);
});

t.test('a bad CIDR is a ConfigError naming the key', async (t) => {
  t.throws(() => new Gate({ allow: ['10.0.0.0/33'], readOnlyAllow: [] }), { code: 'ZEO_CONFIG_INVALID', key: 'storageServer.allow[0]' });
  t.throws(() => new Gate({ allow: [], readOnlyAllow: ['ten'] }), { code: 'ZEO_CONFIG_INVALID', key: 'storageServer.readOnlyAllow[0]' });
  t.throws(() => new Gate({ allow: ['1.2.3.4/8/9'], readOnlyAllow: [] }), { code: 'ZEO_CONFIG_INVALID' });
});
