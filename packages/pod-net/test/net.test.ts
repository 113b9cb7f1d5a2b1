/**
 * Pod networking without root: network definitions and their selection, the plugin path and
 * environment, port forwarding rules, DNS, net-info.json, and setup/teardown driven through a
 * fake command runner (nothing is created in the kernel).
 */
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { hasCode } from '@rktnetes/errors';
import { parseNetInfo } from '@rktnetes/common';
import { parseCniNetConf, parseCniResult } from '@rktnetes/schema';
import { recordingSys } from '@rktnetes/sys';
import {
  type AsyncCommandRunner,
  type CommandOptions,
  type CommandResult,
  type CommandRunner,
  addressOf,
  failureText,
  findTool,
  forwardedPorts,
  formatResolvConf,
  fromPod,
  findPlugin,
  interfacesWithAddress,
  isDnsEmpty,
  loadNetDefinitions,
  netConfDirs,
  pluginDirs,
  pluginEnv,
  podNetDir,
  podRelative,
  readNetnsFile,
  portFwdChains,
  portFwdScript,
  portFwdTeardownScript,
  prefixToMask,
  runCommandAsync,
  runPlugin,
  selectNetworks,
  setupPodNetwork,
  startPodNetwork,
  teardownPodNetwork,
  type PodNetworkContext,
} from '@rktnetes/pod-net';

const UUID = '0a1b2c3d-1111-4222-8333-444455556666';

function tmp(t: { teardown(fn: () => void): void }, prefix = 'rktnetes-net-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function conf(dir: string, file: string, body: Record<string, unknown> | string): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, file);
  writeFileSync(p, typeof body === 'string' ? body : JSON.stringify(body));
  return p;
}

const silent = { warn: () => undefined, debug: () => undefined };

test('net.d directories: built-in, system, local — later ones override earlier ones by name', (t) => {
  const root = tmp(t);
  const [builtin, system, local] = netConfDirs({ stage1Root: join(root, 's1'), systemConfig: join(root, 'sys'), localConfig: join(root, 'loc') }) as [string, string, string];
  t.is(builtin, join(root, 's1/etc/rkt/net.d'));
  t.is(system, join(root, 'sys/net.d'));
  t.is(local, join(root, 'loc/net.d'));
  t.deepEqual(netConfDirs({ stage1Root: '/s1' }).slice(1), ['/usr/lib/rkt/net.d', '/etc/rkt/net.d']);

  conf(builtin, '99-default.conf', { name: 'default', type: 'cni-bridge', ipMasq: true });
  conf(builtin, '99-default-restricted.conf', { name: 'default-restricted', type: 'cni-bridge' });
  conf(system, '10-vendor.conf', { name: 'vendor', type: 'bridge' });
  conf(local, '50-default.conf', { name: 'default', type: 'ptp' });
  conf(local, '10-a.conf', { name: 'a', type: 'bridge' });
  conf(local, '20-a-again.conf', { name: 'a', type: 'macvlan' });
  conf(local, 'notes.txt', 'not a network');
  conf(local, '30-b.conflist', { name: 'b', plugins: [] });
  mkdirSync(join(local, 'dir.conf'));
  const warnings: string[] = [];
  const defs = loadNetDefinitions([builtin, system, local], { warn: (m) => warnings.push(m), debug: () => undefined });
  t.deepEqual([...defs.keys()].sort(), ['a', 'default', 'default-restricted', 'vendor']);
  t.is(defs.get('default')!.type, 'ptp', 'the local directory overrides the built-in default');
  t.false(defs.get('default')!.ipMasq);
  t.is(defs.get('a')!.type, 'bridge', 'the first file of a directory wins');
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /"a" is already defined .*10-a\.conf, ignoring .*20-a-again\.conf/);
  t.true(defs.get('default-restricted')!.bytes.toString().includes('cni-bridge'), 'the bytes are passed on as they are');
});

test('a broken network file fails with its path', (t) => {
  const dir = join(tmp(t), 'net.d');
  conf(dir, '10-bad.conf', '{ not json');
  const e = t.throws(() => loadNetDefinitions([dir], silent));
  t.true(hasCode(e, 'stage1.net.conf-invalid'));
  t.true(e!.message.includes('10-bad.conf'));
  conf(dir, '10-bad.conf', { name: 'x' });
  t.true(hasCode(t.throws(() => loadNetDefinitions([dir], silent)), 'stage1.net.conf-invalid'), 'type is required');
});

test('--net selects networks in file name order, with their args; all; missing names are an error', (t) => {
  const dir = join(tmp(t), 'net.d');
  conf(dir, '99-default.conf', { name: 'default', type: 'cni-bridge' });
  conf(dir, '20-blue.conf', { name: 'blue', type: 'bridge' });
  conf(dir, '10-red.conf', { name: 'red', type: 'ptp' });
  const defs = loadNetDefinitions([dir], silent);
  const names = (nets: ReturnType<typeof selectNetworks>) => nets.map((n) => `${n.def.name}:${n.args}`);
  t.deepEqual(names(selectNetworks([{ name: 'default' }, { name: 'red', args: 'IP=10.0.0.9' }], defs)), ['red:IP=10.0.0.9', 'default:']);
  t.deepEqual(names(selectNetworks([{ name: 'blue' }], defs)), ['blue:'], 'no default network is added to custom ones (rkt 1.28)');
  t.deepEqual(names(selectNetworks([{ name: 'all' }, { name: 'blue', args: 'A=1' }], defs)), ['red:', 'blue:A=1', 'default:']);
  const e = t.throws(() => selectNetworks([{ name: 'default' }, { name: 'nope' }, { name: 'gone' }], defs));
  t.true(hasCode(e, 'stage1.net.not-found'));
  t.is(e!.message, 'networks not found: nope, gone');
});

test('plugins: searched in the plugin path, symlinks followed, directories skipped', (t) => {
  const root = tmp(t);
  const dirs = pluginDirs({ stage1Root: join(root, 's1'), localConfig: join(root, 'loc'), systemConfig: join(root, 'sys') });
  t.deepEqual(dirs, [join(root, 'loc/net.d'), join(root, 'sys/plugins/net'), join(root, 's1/usr/lib/rkt/plugins/net'), '/usr/lib/cni', '/opt/cni/bin']);
  mkdirSync(join(root, 's1/usr/lib/rkt/plugins/net'), { recursive: true });
  writeFileSync(join(root, 's1/usr/lib/rkt/plugins/net/real.mjs'), '');
  symlinkSync('real.mjs', join(root, 's1/usr/lib/rkt/plugins/net/mine'));
  mkdirSync(join(root, 'loc/net.d/mine'), { recursive: true });
  t.is(findPlugin('mine', dirs), join(root, 's1/usr/lib/rkt/plugins/net/mine'));
  t.is(findPlugin('missing-plugin', dirs), undefined);
  t.is(findPlugin('../s1', dirs), undefined, 'a type is a file name');
});

test('plugin environment: CNI_* added, the pod lock variable removed', (t) => {
  const env = pluginEnv({
    command: 'ADD',
    network: 'default',
    plugin: '/p/cni-bridge',
    conf: '{}',
    containerId: UUID,
    netns: '/run/netns/x',
    ifName: 'eth0',
    args: 'IP=10.0.0.2',
    path: ['/a', '/b'],
    env: { PATH: '/bin', RKT_LOCK_FD: '3' },
    debug: true,
  });
  t.like(env, { PATH: '/bin', CNI_COMMAND: 'ADD', CNI_CONTAINERID: UUID, CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_ARGS: 'IP=10.0.0.2', CNI_PATH: '/a:/b', RKT_DEBUG: '1' });
  t.false('RKT_LOCK_FD' in env);
});

test('plugin results and errors', (t) => {
  const call = { command: 'ADD' as const, network: 'n1', plugin: '/p/x', conf: '{}', containerId: UUID, netns: '/ns', ifName: 'eth0', args: '', path: [], env: {} };
  const runner = (r: Partial<CommandResult>): CommandRunner => () => ({ status: 0, stdout: '', stderr: '', ...r });
  const ok = runPlugin(call, runner({ stdout: JSON.stringify({ cniVersion: '1.0.0', ips: [{ address: '10.1.0.5/16', gateway: '10.1.0.1' }] }) }));
  t.is(ok?.ips?.[0]?.address, '10.1.0.5/16');
  t.is(runPlugin(call, runner({ stdout: '' })), undefined);
  const e = t.throws(() => runPlugin(call, runner({ status: 1, stdout: JSON.stringify({ cniVersion: '1.0.0', code: 11, msg: 'requested IP address "10.1.0.5" is not available', details: 'taken' }) })));
  t.true(hasCode(e, 'stage1.net.plugin'));
  t.is(e!.message, 'adding network "n1": requested IP address "10.1.0.5" is not available; taken');
  t.true(hasCode(t.throws(() => runPlugin(call, runner({ status: 2, stdout: 'garbage' }))), 'stage1.net.plugin'));
  t.true(hasCode(t.throws(() => runPlugin(call, runner({ stdout: '{"cniVersion": 1}' }))), 'stage1.net.plugin-result'));
  t.is(runPlugin({ ...call, command: 'DEL' }, runner({ stdout: 'whatever' })), undefined);
});

test('forwarded ports: matched by name or podPort, conflicts and unknown names refused', (t) => {
  const apps = [{ ports: [{ name: 'http', protocol: 'tcp', port: 80 }, { name: 'dns', protocol: 'UDP', port: 53 }] }, { ports: [{ name: 'admin', protocol: 'tcp', port: 9000 }] }];
  t.deepEqual(forwardedPorts([{ name: 'http', hostPort: 8080 }, { name: 'dns', hostPort: 5353, hostIP: '127.0.0.1' }], apps), [
    { name: 'http', protocol: 'tcp', podPort: 80, hostPort: 8080, hostIP: '0.0.0.0' },
    { name: 'dns', protocol: 'udp', podPort: 53, hostPort: 5353, hostIP: '127.0.0.1' },
  ]);
  t.deepEqual(forwardedPorts([{ name: 'x', hostPort: 1, podPort: { name: 'x', protocol: 'tcp', port: 2 } }], []), [{ name: 'x', protocol: 'tcp', podPort: 2, hostPort: 1, hostIP: '0.0.0.0' }]);
  t.deepEqual(forwardedPorts(undefined, apps), []);
  t.true(hasCode(t.throws(() => forwardedPorts([{ name: 'nope', hostPort: 1 }], apps)), 'stage1.net.port'));
  t.true(hasCode(t.throws(() => forwardedPorts([{ name: 'http', hostPort: 1 }], [...apps, { ports: [{ name: 'http', protocol: 'tcp', port: 81 }] }])), 'stage1.net.port'), 'ambiguous');
  const clash = t.throws(() => forwardedPorts([{ name: 'http', hostPort: 8080, hostIP: '10.0.0.1' }, { name: 'admin', hostPort: 8080 }], apps));
  t.regex(clash!.message, /tcp-0\.0\.0\.0:8080 already mapped to pod port 80/);
  t.notThrows(() => forwardedPorts([{ name: 'http', hostPort: 8080, hostIP: '10.0.0.1' }, { name: 'admin', hostPort: 8080, hostIP: '10.0.0.2' }], apps));
  t.notThrows(() => forwardedPorts([{ name: 'http', hostPort: 53 }, { name: 'dns', hostPort: 53 }], apps), 'tcp and udp do not clash');
  t.true(hasCode(t.throws(() => forwardedPorts([{ name: 'x', hostPort: 1, podPort: { name: 'x', protocol: 'sctp', port: 2 } }], [])), 'stage1.net.port'));
});

test('port forwarding rules: rkt chains, jumps first, loopback and hairpin masquerading; teardown finds them', (t) => {
  t.deepEqual(portFwdChains(UUID), { dnat: 'RKT-PFWD-DNAT-0a1b2c3d', snat: 'RKT-PFWD-SNAT-0a1b2c3d' });
  const script = portFwdScript(UUID, [{ name: 'http', protocol: 'tcp', podPort: 80, hostPort: 8080, hostIP: '0.0.0.0' }, { name: 'dns', protocol: 'udp', podPort: 53, hostPort: 53, hostIP: '10.9.9.9' }], '172.16.28.7');
  const c = `-m comment --comment "rkt pod ${UUID}"`;
  t.is(
    script,
    [
      '*nat',
      ':RKT-PFWD-DNAT-0a1b2c3d - [0:0]',
      ':RKT-PFWD-SNAT-0a1b2c3d - [0:0]',
      `-A RKT-PFWD-DNAT-0a1b2c3d -p tcp -m tcp --dport 8080 ${c} -j DNAT --to-destination 172.16.28.7:80`,
      `-A RKT-PFWD-SNAT-0a1b2c3d -s 127.0.0.1/32 -d 172.16.28.7/32 -p tcp -m tcp --dport 80 ${c} -j MASQUERADE`,
      `-A RKT-PFWD-SNAT-0a1b2c3d -s 172.16.28.7/32 -d 172.16.28.7/32 -p tcp -m tcp --dport 80 ${c} -j MASQUERADE`,
      `-A RKT-PFWD-DNAT-0a1b2c3d -d 10.9.9.9/32 -p udp -m udp --dport 53 ${c} -j DNAT --to-destination 172.16.28.7:53`,
      `-A RKT-PFWD-SNAT-0a1b2c3d -s 127.0.0.1/32 -d 172.16.28.7/32 -p udp -m udp --dport 53 ${c} -j MASQUERADE`,
      `-A RKT-PFWD-SNAT-0a1b2c3d -s 172.16.28.7/32 -d 172.16.28.7/32 -p udp -m udp --dport 53 ${c} -j MASQUERADE`,
      `-I PREROUTING 1 -m addrtype --dst-type LOCAL ${c} -j RKT-PFWD-DNAT-0a1b2c3d`,
      `-I OUTPUT 1 -m addrtype --dst-type LOCAL ${c} -j RKT-PFWD-DNAT-0a1b2c3d`,
      `-I POSTROUTING 1 ${c} -j RKT-PFWD-SNAT-0a1b2c3d`,
      'COMMIT',
      '',
    ].join('\n'),
  );
  const listed = [
    '-P PREROUTING ACCEPT',
    '-N CNI-abc',
    '-N RKT-PFWD-DNAT-0a1b2c3d',
    '-N RKT-PFWD-SNAT-0a1b2c3d',
    '-N RKT-PFWD-DNAT-99999999',
    `-A PREROUTING -m addrtype --dst-type LOCAL ${c} -j RKT-PFWD-DNAT-0a1b2c3d`,
    '-A PREROUTING -m addrtype --dst-type LOCAL -j RKT-PFWD-DNAT-99999999',
    `-A OUTPUT -m addrtype --dst-type LOCAL ${c} -j RKT-PFWD-DNAT-0a1b2c3d`,
    `-A POSTROUTING ${c} -j RKT-PFWD-SNAT-0a1b2c3d`,
    '-A POSTROUTING -s 172.16.28.7/32 -j CNI-abc',
    `-A RKT-PFWD-DNAT-0a1b2c3d -p tcp -m tcp --dport 8080 ${c} -j DNAT --to-destination 172.16.28.7:80`,
  ].join('\n');
  t.is(
    portFwdTeardownScript(UUID, listed),
    [
      '*nat',
      ':RKT-PFWD-DNAT-0a1b2c3d - [0:0]',
      ':RKT-PFWD-SNAT-0a1b2c3d - [0:0]',
      `-D PREROUTING -m addrtype --dst-type LOCAL ${c} -j RKT-PFWD-DNAT-0a1b2c3d`,
      `-D OUTPUT -m addrtype --dst-type LOCAL ${c} -j RKT-PFWD-DNAT-0a1b2c3d`,
      `-D POSTROUTING ${c} -j RKT-PFWD-SNAT-0a1b2c3d`,
      '-X RKT-PFWD-DNAT-0a1b2c3d',
      '-X RKT-PFWD-SNAT-0a1b2c3d',
      'COMMIT',
      '',
    ].join('\n'),
  );
  t.is(portFwdTeardownScript(UUID, '-P PREROUTING ACCEPT\n-N CNI-abc\n'), undefined, 'nothing left: no script');
});

test('route_localnet candidates: interfaces holding the gateway address', (t) => {
  const json = JSON.stringify([
    { ifname: 'lo', addr_info: [{ local: '127.0.0.1' }] },
    { ifname: 'rkt-default', addr_info: [{ local: '172.16.28.1' }] },
    { ifname: 'veth1', addr_info: [{ local: '172.16.28.1' }] },
    { ifname: 'eth0', addr_info: [{ local: '10.0.0.5' }] },
  ]);
  t.deepEqual(interfacesWithAddress(json, '172.16.28.1'), ['rkt-default', 'veth1']);
  t.deepEqual(interfacesWithAddress('not json', '172.16.28.1'), []);
});

test('addresses: netmask from the prefix, the container interface preferred, legacy results', (t) => {
  t.is(prefixToMask(24), '255.255.255.0');
  t.is(prefixToMask(16), '255.255.0.0');
  t.is(prefixToMask(20), '255.255.240.0');
  t.is(prefixToMask(32), '255.255.255.255');
  t.is(prefixToMask(0), '0.0.0.0');
  const r = parseCniResult(
    JSON.stringify({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'br0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/ns' }],
      ips: [
        { address: 'fd00::5/64', interface: 2 },
        { address: '10.0.0.1/24', interface: 0 },
        { address: '10.0.0.5/24', gateway: '10.0.0.1', interface: 2 },
      ],
    }),
  );
  t.deepEqual(addressOf(r), { ip: '10.0.0.5', mask: '255.255.255.0', gateway: '10.0.0.1' });
  t.deepEqual(addressOf(parseCniResult(JSON.stringify({ cniVersion: '0.2.0', ip4: { ip: '10.2.0.9/16' } }))), { ip: '10.2.0.9', mask: '255.255.0.0' });
  t.is(addressOf(parseCniResult(JSON.stringify({ cniVersion: '1.0.0', ips: [{ address: 'fd00::5/64' }] }))), undefined);
});

test('DNS settings from a plugin become a resolv.conf in rkt layout', (t) => {
  t.true(isDnsEmpty(undefined));
  t.true(isDnsEmpty({}));
  t.true(isDnsEmpty({ nameservers: [], search: [] }));
  t.false(isDnsEmpty({ domain: 'example.org' }));
  t.is(
    formatResolvConf({ nameservers: ['10.0.0.53', '10.0.0.54'], search: ['a.example', 'b.example'], options: ['ndots:2'], domain: 'example.org' }, 'Generated by rkt from network n1'),
    '# Generated by rkt from network n1\n\nsearch a.example b.example\nnameserver 10.0.0.53\nnameserver 10.0.0.54\noptions ndots:2\ndomain example.org\n',
  );
});

test('net-info.json paths inside the pod are stored relative to it', (t) => {
  t.is(podRelative('/pods/run/u', '/pods/run/u/net/99-default.conf'), 'net/99-default.conf');
  t.is(podRelative('/pods/run/u', '/usr/lib/cni/bridge'), '/usr/lib/cni/bridge');
  t.is(fromPod('/pods/exited-garbage/u', 'net/99-default.conf'), '/pods/exited-garbage/u/net/99-default.conf');
  t.is(fromPod('/pods/exited-garbage/u', '/usr/lib/cni/bridge'), '/usr/lib/cni/bridge');
});

/** A fake world for setup/teardown: plugins and tools answer from a script, calls are recorded. */
function fakeWorld(t: { teardown(fn: () => void): void }, answer: (tool: string, env: NodeJS.ProcessEnv, opts: CommandOptions) => Partial<CommandResult> = () => ({})) {
  const root = tmp(t);
  const pod = join(root, 'pods/run', UUID);
  const s1 = join(pod, 'stage1/rootfs');
  const local = join(root, 'local');
  const pluginDir = join(s1, 'usr/lib/rkt/plugins/net');
  mkdirSync(pluginDir, { recursive: true });
  writeFileSync(join(pluginDir, 'fake-bridge'), '#!/bin/sh\n', { mode: 0o755 });
  conf(join(s1, 'etc/rkt/net.d'), '99-default.conf', { cniVersion: '1.0.0', name: 'default', type: 'fake-bridge', ipMasq: true });
  conf(join(local, 'net.d'), '10-side.conf', { cniVersion: '1.0.0', name: 'side', type: 'fake-bridge', dns: { nameservers: ['10.5.0.53'] } });
  const calls: Array<{ tool: string; args: readonly string[]; env: NodeJS.ProcessEnv; netInfo?: string }> = [];
  const run: CommandRunner = (file, args, opts = {}) => {
    const tool = basename(file);
    const env = opts.env ?? {};
    calls.push({ tool, args, env, ...(existsSync(join(pod, 'net-info.json')) ? { netInfo: readFileSync(join(pod, 'net-info.json'), 'utf8') } : {}) });
    if (tool === 'fake-bridge' && env['CNI_COMMAND'] === 'ADD') {
      const i = env['CNI_IFNAME'] === 'eth0' ? 5 : 6;
      const base = { status: 0, stderr: '', stdout: JSON.stringify({ cniVersion: '1.0.0', interfaces: [{ name: env['CNI_IFNAME'], sandbox: env['CNI_NETNS'] }], ips: [{ address: `10.${i}.0.2/24`, gateway: `10.${i}.0.1`, interface: 0 }], dns: i === 5 ? { nameservers: ['10.5.0.53'], search: ['side.example'] } : {} }) };
      return { ...base, ...answer(tool, env, opts) };
    }
    return { status: 0, stdout: '', stderr: '', ...answer(tool, env, opts) };
  };
  const sys = recordingSys();
  const warnings: string[] = [];
  const ctx: PodNetworkContext = { pod, uuid: UUID, stage1Root: s1, localConfig: local, systemConfig: join(root, 'system'), sys, run, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, debugEnabled: false, warn: (m) => warnings.push(m), debug: () => undefined, netnsDir: join(root, 'netns') };
  return { root, pod, s1, ctx, calls, sys, warnings };
}

test('setup: files are written before ADD, networks join in file order, DNS from the first network that has some', (t) => {
  const w = fakeWorld(t);
  const net = setupPodNetwork(w.ctx, { nets: [{ name: 'default' }, { name: 'side', args: 'IP=10.5.0.2' }], ports: [], cniDns: true });
  const ns = join(w.root, 'netns', `rkt-${UUID}`);
  t.is(net.netns, ns);
  t.is(readFileSync(join(w.pod, 'netns'), 'utf8'), ns);
  t.deepEqual(
    w.calls.map((c) => `${c.tool} ${c.env['CNI_COMMAND'] ?? c.args.join(' ')}`),
    [`unshare --net=${ns} -- ${w.calls[0]!.args[2]} link set lo up`, 'fake-bridge ADD', 'fake-bridge ADD'],
  );
  const add1 = w.calls[1]!;
  t.like(add1.env, { CNI_CONTAINERID: UUID, CNI_NETNS: ns, CNI_IFNAME: 'eth0', CNI_ARGS: 'IP=10.5.0.2' });
  t.true(add1.env['CNI_PATH']!.startsWith(`${join(w.root, 'local/net.d')}:${join(w.root, 'system/plugins/net')}:${join(w.s1, 'usr/lib/rkt/plugins/net')}`));
  const before = parseNetInfo(add1.netInfo!);
  t.deepEqual(
    before.map((n) => [n.netName, n.ifName, n.ip, n.netConf, n.pluginPath]),
    [
      ['side', 'eth0', '', 'net/10-side.conf', 'stage1/rootfs/usr/lib/rkt/plugins/net/fake-bridge'],
      ['default', 'eth1', '', 'net/99-default.conf', 'stage1/rootfs/usr/lib/rkt/plugins/net/fake-bridge'],
    ],
    'net-info.json lists every network before the first ADD',
  );
  t.true(existsSync(join(podNetDir(w.pod), '10-side.conf')));
  const after = parseNetInfo(readFileSync(join(w.pod, 'net-info.json'), 'utf8'));
  t.deepEqual(after.map((n) => `${n.netName}=${n.ip}/${n.mask}`), ['side=10.5.0.2/255.255.255.0', 'default=10.6.0.2/255.255.255.0']);
  t.deepEqual(net.nets, after);
  t.is(net.hostIP, '10.6.0.1', 'the forwarding network is the first masqueraded one');
  t.is(readFileSync(join(w.s1, 'etc/rkt-resolv.conf'), 'utf8'), '# Generated by rkt from network side\n\nsearch side.example\nnameserver 10.5.0.53\n');
  t.deepEqual(w.sys.callsOf('mount').length, 2, 'the netns directory is made a shared mount point');
});

test('setup without CNI DNS (--dns given) keeps resolv.conf untouched', (t) => {
  const w = fakeWorld(t);
  setupPodNetwork(w.ctx, { nets: [{ name: 'side' }], ports: [], cniDns: false });
  t.false(existsSync(join(w.s1, 'etc/rkt-resolv.conf')));
});

test('setup refuses unknown networks and missing plugins before creating anything', (t) => {
  const w = fakeWorld(t);
  t.true(hasCode(t.throws(() => setupPodNetwork(w.ctx, { nets: [{ name: 'default' }, { name: 'nope' }], ports: [], cniDns: true })), 'stage1.net.not-found'));
  conf(join(w.root, 'local/net.d'), '30-ghost.conf', { name: 'ghost', type: 'no-such-plugin' });
  const e = t.throws(() => setupPodNetwork(w.ctx, { nets: [{ name: 'ghost' }], ports: [], cniDns: true }));
  t.true(hasCode(e, 'stage1.net.plugin-missing'));
  t.regex(e!.message, /network "ghost": could not find plugin "no-such-plugin"/);
  t.deepEqual(w.calls, []);
  t.false(existsSync(join(w.pod, 'netns')));
  t.false(existsSync(join(w.pod, 'net-info.json')));
});

test('a failing ADD tears down what was set up and reports the plugin error', (t) => {
  const w = fakeWorld(t, (tool, env) => (tool === 'fake-bridge' && env['CNI_COMMAND'] === 'ADD' && env['CNI_IFNAME'] === 'eth1' ? { status: 1, stdout: JSON.stringify({ cniVersion: '1.0.0', code: 7, msg: 'no more addresses' }) } : {}));
  const e = t.throws(() => setupPodNetwork(w.ctx, { nets: [{ name: 'default' }, { name: 'side' }], ports: [], cniDns: true }));
  t.true(hasCode(e, 'stage1.net.plugin'));
  t.is(e!.message, 'adding network "default": no more addresses');
  const dels = w.calls.filter((c) => c.env['CNI_COMMAND'] === 'DEL').map((c) => c.env['CNI_IFNAME']);
  t.deepEqual(dels, ['eth1', 'eth0'], 'DEL for every network, last first');
  t.true(w.calls.some((c) => c.tool === 'iptables' && c.args.includes('-S')), 'port forwarding chains are looked for');
  t.false(existsSync(join(podNetDir(w.pod), '99-default.conf')), 'the configuration copies are gone once DELeted');
  t.deepEqual(w.sys.callsOf('umount2'), [[join(w.root, 'netns', `rkt-${UUID}`), 2]]);
  t.false(existsSync(join(w.root, 'netns', `rkt-${UUID}`)));
});

test('teardown works from the pod files alone, again and again, and reports plugin failures', (t) => {
  const w = fakeWorld(t);
  setupPodNetwork(w.ctx, { nets: [{ name: 'default' }], ports: [], cniDns: true });
  // gc finds the pod elsewhere: paths in net-info.json are relative to the pod
  const moved = join(w.root, 'pods/exited-garbage', UUID);
  mkdirSync(join(w.root, 'pods/exited-garbage'), { recursive: true });
  renameSync(w.pod, moved);
  w.calls.length = 0;
  const problems = teardownPodNetwork({ ...w.ctx, pod: moved, stage1Root: join(moved, 'stage1/rootfs'), env: {} });
  t.deepEqual(problems, []);
  const del = w.calls.find((c) => c.env['CNI_COMMAND'] === 'DEL');
  t.like(del?.env, { CNI_CONTAINERID: UUID, CNI_IFNAME: 'eth0', CNI_NETNS: '' }, 'the namespace is not mounted (fake): DEL without it');
  t.is(del?.tool, 'fake-bridge');
  w.calls.length = 0;
  t.deepEqual(teardownPodNetwork({ ...w.ctx, pod: moved }), []);
  t.false(w.calls.some((c) => c.env['CNI_COMMAND'] === 'DEL'), 'a second teardown runs no DEL');

  const failing = fakeWorld(t, (tool, env) => (env['CNI_COMMAND'] === 'DEL' ? { status: 1, stdout: '{"cniVersion":"1.0.0","code":999,"msg":"bridge busy"}' } : {}));
  setupPodNetwork(failing.ctx, { nets: [{ name: 'default' }], ports: [], cniDns: true });
  t.deepEqual(teardownPodNetwork(failing.ctx), ['removing network "default": bridge busy']);
  t.true(existsSync(join(podNetDir(failing.pod), '99-default.conf')), 'kept for the next gc');
});

test('teardown of a pod that never had a network does nothing', (t) => {
  const w = fakeWorld(t);
  t.deepEqual(teardownPodNetwork(w.ctx), []);
  t.deepEqual(w.calls, []);
});

test('tools: found in PATH or the fallback directories; a missing one names its Debian package', (t) => {
  t.is(basename(findTool('ip', { PATH: '' })), 'ip', 'found in /usr/sbin or /sbin without PATH');
  for (const [tool, pkg] of [['no-such-tool-x', 'util-linux'], ['iptables-no-such', 'iptables']] as const) {
    const e = t.throws(() => findTool(tool, { PATH: '' }));
    t.true(hasCode(e, 'stage1.net.tool-missing'));
    t.regex(e!.message, new RegExp(`cannot find ${tool} in PATH \\(Debian package ${pkg}\\)`));
  }
  t.is(failureText({ status: 1, stdout: '', stderr: 'RTNETLINK answers: File exists\n\nsecond\n' }), 'RTNETLINK answers: File exists; second');
  t.is(failureText({ status: null, stdout: '', stderr: '' }), 'killed by a signal');
  t.is(failureText({ status: 3, stdout: '', stderr: '' }), 'exit status 3');
});

test('the netns file: the namespace path run recorded, or nothing', (t) => {
  const pod = tmp(t);
  t.is(readNetnsFile(pod), undefined);
  writeFileSync(join(pod, 'netns'), '/run/netns/rkt-x\n');
  t.is(readNetnsFile(pod), '/run/netns/rkt-x');
  writeFileSync(join(pod, 'netns'), '');
  t.is(readNetnsFile(pod), undefined);
});

/** The fake world's runner in the background form: plugins read their stdin file, calls are recorded when started. */
function asyncRunner(w: ReturnType<typeof fakeWorld>): { runAsync: AsyncCommandRunner; stdins: string[] } {
  const stdins: string[] = [];
  const runAsync: AsyncCommandRunner = (file, args, opts = {}) => {
    const input = opts.inputFile === undefined ? '' : readFileSync(opts.inputFile, 'utf8');
    stdins.push(input);
    const { inputFile: _, ...rest } = opts;
    return Promise.resolve(w.ctx.run(file, args, { ...rest, input }));
  };
  return { runAsync, stdins };
}

test('setup in the background: files and the first ADD before it returns, the same outcome as setupPodNetwork', async (t) => {
  const sync = fakeWorld(t);
  const expected = setupPodNetwork(sync.ctx, { nets: [{ name: 'default' }, { name: 'side' }], ports: [], cniDns: true });
  const w = fakeWorld(t);
  const { runAsync, stdins } = asyncRunner(w);
  const pending = startPodNetwork(w.ctx, { nets: [{ name: 'default' }, { name: 'side' }], ports: [], cniDns: true }, runAsync);
  t.deepEqual(
    w.calls.map((c) => `${c.tool} ${c.env['CNI_COMMAND'] ?? 'unshare'}`),
    ['unshare unshare', 'fake-bridge ADD'],
    'the namespace is made and the first plugin started before it returns',
  );
  t.is(parseNetInfo(w.calls[1]!.netInfo!).length, 2, 'net-info.json lists every network before the first ADD');
  t.is(stdins[0], readFileSync(join(podNetDir(w.pod), '10-side.conf'), 'utf8'), "the plugin's stdin is its configuration copy");
  const net = await pending;
  t.deepEqual(w.calls.map((c) => `${c.tool} ${c.env['CNI_IFNAME'] ?? ''}`), sync.calls.map((c) => `${c.tool} ${c.env['CNI_IFNAME'] ?? ''}`));
  t.deepEqual({ ...net, netns: basename(net.netns) }, { ...expected, netns: basename(expected.netns) });
  t.is(readFileSync(join(w.pod, 'net-info.json'), 'utf8'), readFileSync(join(sync.pod, 'net-info.json'), 'utf8'));
  t.is(readFileSync(join(w.s1, 'etc/rkt-resolv.conf'), 'utf8'), readFileSync(join(sync.s1, 'etc/rkt-resolv.conf'), 'utf8'));
});

test('setup in the background: unknown networks throw before anything exists, a failing ADD rejects after the cleanup', async (t) => {
  const w = fakeWorld(t, (tool, env) => (tool === 'fake-bridge' && env['CNI_COMMAND'] === 'ADD' && env['CNI_IFNAME'] === 'eth1' ? { status: 1, stdout: JSON.stringify({ cniVersion: '1.0.0', code: 7, msg: 'no more addresses' }) } : {}));
  const { runAsync } = asyncRunner(w);
  t.true(hasCode(t.throws(() => startPodNetwork(w.ctx, { nets: [{ name: 'nope' }], ports: [], cniDns: true }, runAsync)), 'stage1.net.not-found'));
  t.deepEqual(w.calls, []);
  t.false(existsSync(join(w.pod, 'netns')));
  const e = await t.throwsAsync(startPodNetwork(w.ctx, { nets: [{ name: 'default' }, { name: 'side' }], ports: [], cniDns: true }, runAsync));
  t.true(hasCode(e, 'stage1.net.plugin'));
  t.is(e!.message, 'adding network "default": no more addresses');
  t.deepEqual(w.calls.filter((c) => c.env['CNI_COMMAND'] === 'DEL').map((c) => c.env['CNI_IFNAME']), ['eth1', 'eth0'], 'DEL for every network, last first');
  t.false(existsSync(join(w.root, 'netns', `rkt-${UUID}`)));
});

test('programs in the background: stdin from a file, stdout and status; one that cannot start; a timeout', async (t) => {
  const dir = tmp(t);
  const input = join(dir, 'in');
  writeFileSync(input, '{"a": 1}\n');
  const cat = runCommandAsync('/bin/cat', [], { inputFile: input });
  t.deepEqual(await cat, { status: 0, stdout: '{"a": 1}\n', stderr: '' });
  t.deepEqual(await runCommandAsync('/bin/sh', ['-c', 'cat; echo oops >&2; exit 3']), { status: 3, stdout: '', stderr: 'oops\n' }, 'no input file: empty stdin');
  const missing = await runCommandAsync(join(dir, 'nope'), []);
  t.is(missing.status, null);
  t.regex(failureText(missing), /ENOENT/);
  const unreadable = await runCommandAsync('/bin/cat', [], { inputFile: join(dir, 'no-input') });
  t.is(unreadable.status, null);
  t.truthy(unreadable.error);
  const slow = await runCommandAsync('/bin/sleep', ['5'], { timeoutMs: 50 });
  t.is(slow.status, null);
  t.regex(failureText(slow), /timed out/);
});

test("the stage1 images' built-in networks are rkt's, with cni-bridge", async (t) => {
  // @ts-expect-error a build script in JavaScript, without types
  const { BUILTIN_NETWORKS } = (await import('../scripts/stage1-image.mjs')) as { BUILTIN_NETWORKS: Record<string, string> };
  const confs = Object.entries(BUILTIN_NETWORKS).map(([file, text]) => [file, parseCniNetConf(text)] as const);
  t.deepEqual(
    confs.map(([file, c]) => [file, c.name, c.type, c.ipMasq === true, (c as { ipam?: { subnet?: string } }).ipam?.subnet]),
    [
      ['99-default.conf', 'default', 'cni-bridge', true, '172.16.28.0/24'],
      ['99-default-restricted.conf', 'default-restricted', 'cni-bridge', false, '172.31.0.0/16'],
    ],
  );
});
