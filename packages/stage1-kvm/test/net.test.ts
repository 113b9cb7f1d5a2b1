/**
 * A VM pod's networking without root: what `--net` means, the guest interfaces read from the
 * pod namespace, the tap wiring, and setup/teardown driven through a fake command runner
 * (plugins, nsenter, ip, tc and iptables answer from a script; nothing is created).
 */
import test from 'ava';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseNetInfo } from '@rktnetes/common';
import { hasCode } from '@rktnetes/errors';
import type { CommandResult, CommandRunner } from '@rktnetes/pod-net';
import { recordingSys } from '@rktnetes/sys';
import { guestInterfaces, kvmNetworkMode, networkOf, releaseKvmNetwork, setupKvmNetwork, tapWiring, type KvmNetworkOptions } from '@rktnetes/stage1-kvm';
import { tmpDir, type Teardownable } from '@rktnetes/testkit';

const UUID = 'abcdef01-2345-4678-9abc-def012345678';
const info = (netName: string, ifName: string) => ({ netName, ifName, netConf: '', pluginPath: '', ip: '', args: '', mask: '' });

test('--net for a VM: host (and no --net) refused, none alone, anything else CNI', (t) => {
  for (const nets of [undefined, [], [{ name: 'host' }], [{ name: 'default' }, { name: 'host' }]]) {
    const e = t.throws(() => kvmNetworkMode(nets));
    t.true(hasCode(e, 'stage1-kvm.net.unsupported'));
    t.regex(e!.message, /cannot use the host network: a VM has its own kernel/);
  }
  t.is(kvmNetworkMode([{ name: 'none' }]), 'none');
  t.regex(t.throws(() => kvmNetworkMode([{ name: 'none' }, { name: 'default' }]))!.message, /cannot be combined/);
  for (const name of ['default', 'default-restricted', 'all', 'mynet']) t.is(kvmNetworkMode([{ name }]), 'cni');
});

const ADDRS = JSON.stringify([
  { ifname: 'lo', address: '00:00:00:00:00:00', mtu: 65536, addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
  {
    ifname: 'eth0',
    address: '5A:0B:CC:00:00:01',
    mtu: 1450,
    addr_info: [
      { family: 'inet', local: '172.16.28.5', prefixlen: 24 },
      { family: 'inet6', local: 'fe80::1', prefixlen: 64 },
    ],
  },
  { ifname: 'eth1', address: '5a:0b:cc:00:00:02', mtu: 1500, addr_info: [{ family: 'inet', local: '10.1.1.2', prefixlen: 24 }] },
]);
const ROUTES = JSON.stringify([
  { dst: 'default', gateway: '172.16.28.1', dev: 'eth0' },
  { dst: '172.16.28.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '172.16.28.5' },
  // ptp: the kernel's subnet route replaced by a host route to the gateway and a route via it
  { dst: '10.1.1.0/24', gateway: '10.1.1.1', dev: 'eth1' },
  { dst: '10.1.1.1', dev: 'eth1', scope: 'link' },
  { dst: '10.99.0.0/16', dev: 'eth1', type: 'unreachable' },
]);

test('guest interfaces: MAC, MTU, IPv4 addresses and non-kernel routes of each pod interface', (t) => {
  const nics = guestInterfaces([info('default', 'eth0'), info('p2p', 'eth1')], ADDRS, ROUTES);
  t.deepEqual(nics, [
    {
      network: 'default',
      ifName: 'eth0',
      tap: 'tap-eth0',
      mac: '5a:0b:cc:00:00:01',
      mtu: 1450,
      addresses: [{ cidr: '172.16.28.5/24', prefixRoute: true }],
      routes: [{ dst: 'default', gateway: '172.16.28.1' }],
    },
    {
      network: 'p2p',
      ifName: 'eth1',
      tap: 'tap-eth1',
      mac: '5a:0b:cc:00:00:02',
      mtu: 1500,
      addresses: [{ cidr: '10.1.1.2/24', prefixRoute: false }],
      routes: [{ dst: '10.1.1.1' }, { dst: '10.1.1.0/24', gateway: '10.1.1.1' }],
    },
  ]);
  t.is(networkOf('10.1.2.3', 24), '10.1.2.0/24');
  t.is(networkOf('172.31.200.7', 16), '172.31.0.0/16');
  t.is(networkOf('10.1.2.3', 0), '0.0.0.0/0');
});

test('guest interfaces: a missing interface or one without an Ethernet address cannot be given to a VM', (t) => {
  const missing = t.throws(() => guestInterfaces([info('x', 'eth3')], ADDRS, ROUTES));
  t.true(hasCode(missing, 'stage1-kvm.net.inspect'));
  t.regex(missing!.message, /network x: the plugin left no interface eth3/);
  const tun = JSON.stringify([{ ifname: 'eth0', mtu: 1500, addr_info: [] }]);
  t.regex(t.throws(() => guestInterfaces([info('x', 'eth0')], tun, '[]'))!.message, /has no Ethernet address/);
  t.true(hasCode(t.throws(() => guestInterfaces([info('x', 'eth0')], 'nonsense', '[]')), 'stage1-kvm.net.inspect'));
});

test('tap wiring: a tap per interface with its MTU, redirected both ways by tc', (t) => {
  const nics = guestInterfaces([info('default', 'eth0')], ADDRS, ROUTES);
  const w = tapWiring(nics);
  t.is(w.ip, 'tuntap add dev tap-eth0 mode tap\nlink set dev tap-eth0 mtu 1450\nlink set dev tap-eth0 up\n');
  t.is(
    w.tc,
    [
      'qdisc add dev eth0 ingress',
      'filter add dev eth0 parent ffff: protocol all prio 1 u32 match u8 0 0 action mirred egress redirect dev tap-eth0',
      'qdisc add dev tap-eth0 ingress',
      'filter add dev tap-eth0 parent ffff: protocol all prio 1 u32 match u8 0 0 action mirred egress redirect dev eth0',
      '',
    ].join('\n'),
  );
  t.deepEqual(tapWiring([]), { ip: '', tc: '' });
});

/** A pod directory with an image's built-in network and plugin, and a fake world that records calls. */
async function fakeWorld(t: Teardownable, answer: (tool: string, args: readonly string[]) => Partial<CommandResult> | undefined = () => undefined) {
  const root = await tmpDir('kvm-net', t);
  const pod = join(root, 'pods/run', UUID);
  const s1 = join(pod, 'stage1/rootfs');
  mkdirSync(join(s1, 'usr/lib/rkt/plugins/net'), { recursive: true });
  writeFileSync(join(s1, 'usr/lib/rkt/plugins/net/fake-bridge'), '', { mode: 0o755 });
  mkdirSync(join(s1, 'etc/rkt/net.d'), { recursive: true });
  writeFileSync(join(s1, 'etc/rkt/net.d/99-default.conf'), JSON.stringify({ cniVersion: '1.0.0', name: 'default', type: 'fake-bridge', ipMasq: true }));
  const calls: string[] = [];
  const inputs: string[] = [];
  const run: CommandRunner = (file, args, o = {}) => {
    const tool = basename(file);
    const cni = o.env?.['CNI_COMMAND'];
    const inner = tool === 'nsenter' ? args.slice(args.indexOf('--') + 1).map((a, i) => (i === 0 ? basename(a) : a)) : [];
    const line = cni ? `${tool} ${cni} ${o.env!['CNI_IFNAME']}` : tool === 'nsenter' ? `nsenter ${args[0]} ${inner.join(' ')}` : `${tool} ${args.join(' ')}`;
    calls.push(line);
    if (o.input !== undefined && tool === 'nsenter') inputs.push(String(o.input));
    const own = answer(tool === 'nsenter' ? inner[0]! : tool, tool === 'nsenter' ? inner.slice(1) : args);
    if (own) return { status: 0, stdout: '', stderr: '', ...own };
    if (cni === 'ADD') {
      const stdout = JSON.stringify({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: o.env!['CNI_NETNS'] }], ips: [{ address: '172.16.28.5/24', gateway: '172.16.28.1', interface: 0 }], dns: { nameservers: ['172.16.28.1'] } });
      return { status: 0, stdout, stderr: '' };
    }
    if (tool === 'nsenter' && inner[1] === '-j') return { status: 0, stdout: `${ADDRS}\n${ROUTES}\n`, stderr: '' };
    return { status: 0, stdout: '', stderr: '' };
  };
  const sys = recordingSys();
  const options: KvmNetworkOptions = {
    pod,
    uuid: UUID,
    stage1Root: s1,
    args: { net: [{ name: 'default' }], localConfig: join(root, 'local'), debug: false },
    apps: [{ ports: [{ name: 'http', protocol: 'tcp', port: 80, count: 1, socketActivated: false }] }],
    lockFd: 9,
    sys,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    warn: () => undefined,
    debug: () => undefined,
    run,
    netnsDir: join(root, 'netns'),
  };
  return { root, pod, s1, sys, calls, inputs, options };
}

test('setup: pod-net joins the networks, then the interfaces are read and a tap is wired to each', async (t) => {
  const w = await fakeWorld(t);
  const ns = join(w.root, 'netns', `rkt-${UUID}`);
  const net = setupKvmNetwork(w.options);
  t.is(net.mode, 'cni');
  t.is(net.netns, ns);
  t.deepEqual(net.nics.map((n) => [n.ifName, n.tap, n.mac, n.mtu, n.addresses[0]?.cidr]), [['eth0', 'tap-eth0', '5a:0b:cc:00:00:01', 1450, '172.16.28.5/24']]);
  t.deepEqual(w.sys.callsOf('setCloexec'), [[9, true]], 'the pod lock is not passed to the plugins');
  const order = w.calls.map((c) => c.split(' ').slice(0, c.startsWith('nsenter') ? 4 : 2).join(' '));
  t.deepEqual(order, [`unshare --net=${ns}`, 'fake-bridge ADD', `nsenter --net=${ns} ip -j`, `nsenter --net=${ns} ip -batch`, `nsenter --net=${ns} tc -batch`]);
  t.deepEqual(w.inputs, ['addr show\nroute show table main\n', tapWiring(net.nics).ip, tapWiring(net.nics).tc]);
  t.like(parseNetInfo(readFileSync(join(w.pod, 'net-info.json'), 'utf8'))[0], { netName: 'default', ifName: 'eth0', ip: '172.16.28.5', mask: '255.255.255.0' }, 'rkt status shows it');
  t.is(readFileSync(join(w.s1, 'etc/rkt-resolv.conf'), 'utf8'), '# Generated by rkt from network default\n\nnameserver 172.16.28.1\n');
});

test('setup: none needs nothing and refuses forwarded ports', async (t) => {
  const w = await fakeWorld(t);
  t.deepEqual(setupKvmNetwork({ ...w.options, args: { net: [{ name: 'none' }], debug: false } }), { mode: 'none', nics: [] });
  const e = t.throws(() => setupKvmNetwork({ ...w.options, args: { net: [{ name: 'none' }], debug: false }, exposedPorts: [{ name: 'http', hostPort: 8080 }] }));
  t.true(hasCode(e, 'stage1.net.port'));
  t.deepEqual(w.calls, []);
  t.deepEqual(w.sys.calls, []);
});

test('setup: a tap that cannot be wired tears the networks down again', async (t) => {
  const w = await fakeWorld(t, (tool, args) => (tool === 'tc' && args[0] === '-batch' ? { status: 2, stderr: 'RTNETLINK answers: Operation not supported' } : undefined));
  const e = t.throws(() => setupKvmNetwork(w.options));
  t.true(hasCode(e, 'stage1-kvm.net.tap'));
  t.regex(e!.message, /cannot connect tap devices to the pod interfaces in .*: tc -batch -: RTNETLINK answers: Operation not supported/);
  t.true(w.calls.includes('fake-bridge DEL eth0'), 'DEL ran');
  t.false(existsSync(join(w.root, 'netns', `rkt-${UUID}`)), 'the namespace is gone');
  // and a later gc finds nothing left to do
  w.calls.length = 0;
  const opts = { pod: w.pod, uuid: UUID, stage1Root: w.s1, sys: w.sys, env: {}, debugEnabled: false, warn: () => undefined, debug: () => undefined, run: w.options.run!, netnsDir: join(w.root, 'netns') };
  t.deepEqual(releaseKvmNetwork(opts), []);
  t.false(w.calls.some((c) => c.includes(' DEL ')));
});
