import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import {
  CniErrorCodes,
  cniErrorResult,
  convertCniResult,
  isCidr,
  isCniErrorResult,
  isInterfaceName,
  isSupportedCniVersion,
  parseCniConfig,
  parseCniErrorResult,
  parseCniNetConf,
  parseCniNetConfList,
  parseCniResult,
  parseCniVersionResult,
  validateCniNetConf,
} from '@rktnetes/schema';

const bridgeConf = {
  cniVersion: '0.4.0',
  name: 'default',
  type: 'bridge',
  bridge: 'rkt-bridge0',
  isGateway: true,
  ipMasq: true,
  hairpinMode: true,
  ipam: {
    type: 'host-local',
    subnet: '172.16.28.0/24',
    gateway: '172.16.28.1',
    routes: [{ dst: '0.0.0.0/0' }],
  },
  dns: { nameservers: ['10.1.0.1'], search: ['example.com'] },
};

test('a bridge network config parses and keeps plugin fields', (t) => {
  const conf = parseCniNetConf(JSON.stringify({ ...bridgeConf, vlan: 10 }));
  t.is(conf.name, 'default');
  t.is(conf.type, 'bridge');
  t.true(conf.ipMasq);
  t.is(conf.ipam?.subnet, '172.16.28.0/24');
  t.deepEqual(conf.ipam?.routes, [{ dst: '0.0.0.0/0' }]);
  t.is(conf['vlan'], 10);
  t.deepEqual(validateCniNetConf(bridgeConf), []);
});

test('host-local ranges and an ipam-specific field', (t) => {
  const conf = parseCniNetConf({
    cniVersion: '1.0.0',
    name: 'ranges',
    type: 'ptp',
    ipam: {
      type: 'host-local',
      ranges: [[{ subnet: '10.1.0.0/16', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.200' }], [{ subnet: 'fd00::/64' }]],
      dataDir: '/var/lib/rkt/networks',
      resolvConf: '/etc/resolv.conf',
    },
  });
  t.is(conf.ipam?.ranges?.[1]?.[0]?.subnet, 'fd00::/64');
  t.is(conf.ipam?.['resolvConf'], '/etc/resolv.conf');
});

test('bad network configs name the field', (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ ...bridgeConf, name: '' }, 'name'],
    [{ ...bridgeConf, name: 'my net' }, 'name'],
    [{ ...bridgeConf, type: '../../bin/sh' }, 'type'],
    [{ ...bridgeConf, ipMasq: 'yes' }, 'ipMasq'],
    [{ ...bridgeConf, bridge: 'a-very-long-bridge-name' }, 'bridge'],
    [{ ...bridgeConf, cniVersion: 'latest' }, 'cniVersion'],
    [{ ...bridgeConf, ipam: { ...bridgeConf.ipam, subnet: '172.16.28.0' } }, 'ipam.subnet'],
    [{ ...bridgeConf, ipam: { ...bridgeConf.ipam, gateway: '172.16.28.300' } }, 'ipam.gateway'],
    [{ ...bridgeConf, ipam: { subnet: '10.0.0.0/8' } }, 'ipam.type'],
    [{ ...bridgeConf, ipam: { ...bridgeConf.ipam, routes: [{ gw: '10.0.0.1' }] } }, 'ipam.routes[0].dst'],
    [{ ...bridgeConf, dns: { nameservers: ['dns.example.com'] } }, 'dns.nameservers[0]'],
    [{ ...bridgeConf, capabilities: { portMappings: 'yes' } }, 'capabilities.portMappings'],
  ];
  for (const [conf, path] of cases) {
    t.deepEqual(
      validateCniNetConf(conf).map((i) => i.path),
      [path],
      path,
    );
  }
  const e = t.throws(() => parseCniNetConf({ ...bridgeConf, ipam: { type: 'host-local', subnet: 'x' } }));
  t.true(hasCode(e, 'schema.invalid'));
  t.regex(e?.message ?? '', /^invalid CNI network config: ipam\.subnet: /);
  t.true(hasCode(t.throws(() => parseCniNetConf('{')), 'schema.json'));
});

test('conflists: plugins inherit name and version; single configs become lists', (t) => {
  const list = parseCniNetConfList({
    cniVersion: '1.0.0',
    name: 'chain',
    plugins: [{ type: 'bridge', bridge: 'br0', ipam: { type: 'host-local', subnet: '10.2.0.0/16' } }, { type: 'portmap', capabilities: { portMappings: true } }],
  });
  t.deepEqual(
    list.plugins.map((p) => [p.name, p.cniVersion, p.type]),
    [
      ['chain', '1.0.0', 'bridge'],
      ['chain', '1.0.0', 'portmap'],
    ],
  );
  t.throws(() => parseCniNetConfList({ name: 'x', plugins: [] }), { message: /plugins: must not be empty/ });
  const single = parseCniConfig(JSON.stringify(bridgeConf));
  t.is(single.name, 'default');
  t.is(single.plugins.length, 1);
  t.is(parseCniConfig(list).plugins.length, 2);
});

const result100 = {
  cniVersion: '1.0.0',
  interfaces: [
    { name: 'rkt.1-veth', mac: '0a:58:0a:01:00:01' },
    { name: 'eth0', mac: '0a:58:0a:01:00:02', sandbox: '/var/run/netns/x' },
  ],
  ips: [{ address: '10.1.0.2/24', gateway: '10.1.0.1', interface: 1 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }],
  dns: { nameservers: ['10.1.0.1'] },
};

test('1.0.0 and 0.4.0 results parse; conversions add or drop ips[].version', (t) => {
  const r = parseCniResult(JSON.stringify(result100));
  t.is(r.ips?.[0]?.interface, 1);
  const old = convertCniResult(r, '0.4.0');
  t.deepEqual((old as typeof r).ips?.[0], { address: '10.1.0.2/24', gateway: '10.1.0.1', interface: 1, version: '4' });
  const back = parseCniResult(old);
  t.is(back.cniVersion, '0.4.0');
  t.deepEqual(convertCniResult(back, '1.0.0'), r);
  t.throws(() => parseCniResult({ ...result100, ips: [{ address: '10.1.0.2/24', interface: 5 }] }), { message: /ips\[0\]\.interface/ });
  t.throws(() => parseCniResult({ ...result100, ips: [{ address: '10.1.0.2/24', version: '6' }] }), { message: /ips\[0\]\.version/ });
  t.throws(() => parseCniResult({ ...result100, interfaces: [{ name: 'eth0', mac: 'zz' }] }), { message: /interfaces\[0\]\.mac/ });
  t.throws(() => parseCniResult({ ips: [] }), { message: /cniVersion: is required/ });
});

test('0.2.0 results are converted both ways', (t) => {
  const legacy = { cniVersion: '0.2.0', ip4: { ip: '10.1.0.2/24', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0' }] }, dns: {} };
  const r = parseCniResult(legacy);
  t.deepEqual(r.ips, [{ address: '10.1.0.2/24', gateway: '10.1.0.1', version: '4' }]);
  t.deepEqual(r.routes, [{ dst: '0.0.0.0/0' }]);
  t.deepEqual(convertCniResult(r, '0.2.0'), legacy);
});

test('version and error results', (t) => {
  t.deepEqual(parseCniVersionResult('{"cniVersion":"1.0.0","supportedVersions":["0.3.1","0.4.0","1.0.0"]}').supportedVersions, [
    '0.3.1',
    '0.4.0',
    '1.0.0',
  ]);
  const err = cniErrorResult(CniErrorCodes.invalidNetworkConfig, 'bad subnet', 'ipam.subnet');
  t.deepEqual(err, { cniVersion: '1.0.0', code: 7, msg: 'bad subnet', details: 'ipam.subnet' });
  t.true(isCniErrorResult(err));
  t.false(isCniErrorResult(result100));
  t.deepEqual(parseCniErrorResult(JSON.stringify(err)), err);
  t.true(isSupportedCniVersion('0.3.1'));
  t.false(isSupportedCniVersion('2.0.0'));
});

test('address and interface name formats', (t) => {
  for (const s of ['10.0.0.0/8', '0.0.0.0/0', 'fd00::/64', '::/0', '10.1.2.3/32']) t.true(isCidr(s), s);
  for (const s of ['10.0.0.0', '10.0.0.0/33', 'fd00::/129', 'x/8', '10.0.0.0/-1', '']) t.false(isCidr(s), s);
  for (const s of ['eth0', 'rkt.1-veth', 'a'.repeat(15)]) t.true(isInterfaceName(s), s);
  for (const s of ['', '.', '..', 'a/b', 'a:b', 'a b', 'a'.repeat(16)]) t.false(isInterfaceName(s), s);
});
