import test from 'ava';
import {
  canonicalNet,
  compareIP,
  contains,
  formatCIDR,
  formatIP,
  lastOf,
  maskOf,
  networkOf,
  nextIP,
  parseCIDR,
  parseIP,
  prevIP,
} from '@rktnetes/cni-bridge';

const ip = (s: string) => {
  const v = parseIP(s);
  if (!v) throw new Error(`bad ip ${s}`);
  return v;
};

test('parses and formats IPv4', (t) => {
  t.deepEqual(parseIP('10.1.2.3'), { family: 4, value: 0x0a010203n });
  t.is(formatIP(ip('192.168.0.255')), '192.168.0.255');
  t.is(parseIP('10.1.2'), undefined);
  t.is(parseIP('10.1.2.256'), undefined);
  t.is(parseIP('10.1.2.3/24'), undefined);
});

test('formats IPv6 canonically (RFC 5952)', (t) => {
  const cases: Array<[string, string]> = [
    ['fd00:0:0:0:0:0:0:1', 'fd00::1'],
    ['FD00::0001', 'fd00::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['fe80::1:2', 'fe80::1:2'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
  ];
  for (const [input, want] of cases) t.is(formatIP(ip(input)), want, input);
});

test('IPv4-mapped IPv6 addresses are IPv4', (t) => {
  t.deepEqual(parseIP('::ffff:10.0.0.1'), { family: 4, value: 0x0a000001n });
  t.deepEqual(parseCIDR('::ffff:10.0.0.0/120'), { ip: ip('10.0.0.0'), prefix: 24 });
});

test('parses CIDRs and computes networks, last addresses and masks', (t) => {
  const n = parseCIDR('10.1.2.3/24');
  if (!n) return t.fail();
  t.is(formatIP(networkOf(n)), '10.1.2.0');
  t.is(formatIP(lastOf(n)), '10.1.2.255');
  t.is(formatCIDR(canonicalNet(n)), '10.1.2.0/24');
  t.is(maskOf(4, 24), 0xffffff00n);
  t.is(maskOf(4, 0), 0n);
  t.true(contains(n, ip('10.1.2.200')));
  t.false(contains(n, ip('10.1.3.1')));
  t.false(contains(n, ip('fd00::1')));
  const v6 = parseCIDR('fd00:1::5/64');
  if (!v6) return t.fail();
  t.is(formatIP(lastOf(v6)), 'fd00:1::ffff:ffff:ffff:ffff');
  t.is(parseCIDR('10.0.0.0/33'), undefined);
  t.is(parseCIDR('10.0.0.0'), undefined);
  t.is(parseCIDR('fd00::/129'), undefined);
  t.truthy(parseCIDR('0.0.0.0/0'));
  t.true(contains(parseCIDR('0.0.0.0/0') ?? n, ip('8.8.8.8')));
});

test('steps and orders addresses', (t) => {
  t.is(formatIP(nextIP(ip('10.0.0.255'))), '10.0.1.0');
  t.is(formatIP(prevIP(ip('10.0.1.0'))), '10.0.0.255');
  t.is(formatIP(nextIP(ip('255.255.255.255'))), '0.0.0.0');
  t.is(formatIP(nextIP(ip('fd00::ffff'))), 'fd00::1:0');
  t.true(compareIP(ip('10.0.0.1'), ip('10.0.0.2')) < 0);
  t.is(compareIP(ip('10.0.0.2'), ip('10.0.0.2')), 0);
});
