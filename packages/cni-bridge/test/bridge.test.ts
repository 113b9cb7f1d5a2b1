/**
 * The plugin for real: bundled from source, run as root inside private "host" namespaces (see
 * helpers/sandbox.ts), against container namespaces made per test, compared with Debian's
 * reference plugins. Skipped without root.
 */
import test, { type ExecutionContext } from 'ava';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCniErrorResult, parseCniResult, type CniResult } from '@rktnetes/schema';
import { assertNoLeaks, hasTool, isRoot, leakCheck, testIf, tmpDir } from '@rktnetes/testkit';
import { masqChainName } from '@rktnetes/cni-bridge';
import { DEBIAN_CNI, Sandbox, bridgeConf, removeBundle, type Invocation } from './helpers/sandbox';

const ready = isRoot() && hasTool('nsenter') && hasTool('iptables') && hasTool('busybox');
const rootTest = testIf(test, ready, 'needs root, nsenter, iptables and busybox');

test.after.always(() => removeBundle());

/**
 * Runs `body` with `n` fresh sandboxes, closes them whatever happens, then asserts that nothing
 * named after them (netns, mounts, veths, processes) is left on the machine.
 */
/** The sandboxes of a test; index 1 exists only when two were asked for. */
type Boxes = Sandbox[] & { 0: Sandbox; 1: Sandbox };

async function withSandboxes(t: ExecutionContext, n: number, body: (boxes: Boxes) => Promise<void>): Promise<void> {
  const boxes: Sandbox[] = [];
  const checks = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = new Sandbox();
      boxes.push(s);
      checks.push(await leakCheck({ match: s.prefix }));
      await s.open();
    }
    await body(boxes as Boxes);
  } finally {
    for (const s of boxes) await s.close();
  }
  for (const c of checks) await assertNoLeaks(t, c);
}

function sandboxTest(title: string, n: number, body: (t: ExecutionContext, boxes: Boxes) => Promise<void>): void {
  rootTest(title, (t) => withSandboxes(t, n, (boxes) => body(t, boxes)));
}

/** Waits until `fn` returns true (the kernel frees a deleted namespace's links asynchronously). */
async function eventually(fn: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function ok(t: ExecutionContext, r: Invocation, what: string): void {
  t.is(r.code, 0, `${what}: ${r.stdout} ${r.stderr}`);
}

function result(r: Invocation): CniResult {
  return parseCniResult(r.stdout);
}

/** Addresses and routes seen inside a container namespace. */
async function containerView(s: Sandbox, netns: string, ifName = 'eth0'): Promise<{ addrs: string[]; routes: string[]; mtu: number }> {
  const a = await s.inContainer(netns, 'ip', ['-j', 'addr', 'show', 'dev', ifName]);
  const link = (JSON.parse(a.stdout) as Array<{ mtu: number; addr_info: Array<{ local: string; prefixlen: number; scope: string }> }>)[0];
  const r = await s.inContainer(netns, 'ip', ['-j', 'route', 'show']);
  const routes = (JSON.parse(r.stdout) as Array<{ dst: string; gateway?: string }>).map((x) => `${x.dst}${x.gateway ? ` via ${x.gateway}` : ''}`);
  return {
    addrs: (link?.addr_info ?? []).filter((x) => x.scope === 'global').map((x) => `${x.local}/${x.prefixlen}`),
    routes: routes.sort(),
    mtu: link?.mtu ?? 0,
  };
}

/** What is left of our doing in the sandbox host: veths, CNI chains, allocation files. */
async function leftovers(s: Sandbox, network: string): Promise<string[]> {
  const out = [...(await s.hostVeths()).map((v) => `veth ${v}`), ...(await s.natRules()).map((r) => `nat ${r}`)];
  let files: string[] = [];
  try {
    files = readdirSync(join(s.dataDir, network));
  } catch {
    // never created
  }
  out.push(...files.filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip.')).map((f) => `ipam ${f}`));
  return out;
}

for (const version of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
  sandboxTest(`ADD, CHECK and DEL round trip with cniVersion ${version}`, 1, async (t, [s]) => {
    const netns = await s.container('c');
    const conf = bridgeConf(s, { cniVersion: version, isDefaultGateway: true });
    const o = { containerId: 'ctr1', netns, ifName: 'eth0' };
    const add = await s.invoke('ADD', conf, o);
    ok(t, add, 'ADD');
    const res = add.json as Record<string, unknown>;
    t.is(res['cniVersion'], version);
    const r = result(add);
    t.deepEqual(
      r.interfaces?.map((i) => ({ name: i.name.replace(/^veth[0-9a-f]{8}$/, 'veth*'), sandbox: i.sandbox, mac: /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(i.mac ?? '') })),
      [
        { name: `br${s.id}`, sandbox: undefined, mac: true },
        { name: 'veth*', sandbox: undefined, mac: true },
        { name: 'eth0', sandbox: netns, mac: true },
      ],
    );
    const ip0 = version.startsWith('1.') ? { address: '10.99.0.2/24', gateway: '10.99.0.1', interface: 2 } : { address: '10.99.0.2/24', gateway: '10.99.0.1', interface: 2, version: '4' };
    t.deepEqual(res['ips'], [ip0]);
    t.deepEqual(r.routes, [{ dst: '0.0.0.0/0', gw: '10.99.0.1' }]);
    t.deepEqual(await containerView(s, netns), { addrs: ['10.99.0.2/24'], routes: ['10.99.0.0/24', 'default via 10.99.0.1'], mtu: 1500 });

    const check = await s.invoke('CHECK', { ...conf, prevResult: add.json }, o);
    if (!version.startsWith('0.3.')) ok(t, check, 'CHECK');
    else t.is(parseCniErrorResult(check.stdout).code, 1, 'CHECK needs 0.4.0');

    ok(t, await s.invoke('DEL', { ...conf, prevResult: add.json }, o), 'DEL');
    t.deepEqual(await leftovers(s, String(conf['name'])), []);
    const gone = await s.inContainer(netns, 'ip', ['link', 'show', 'dev', 'eth0']);
    t.not(gone.code, 0);
  });
}

sandboxTest('two containers reach each other and the gateway through the bridge', 1, async (t, [s]) => {
  const conf = bridgeConf(s, { isDefaultGateway: true });
  const a = await s.container('a');
  const b = await s.container('b');
  ok(t, await s.invoke('ADD', conf, { containerId: 'ctr-a', netns: a, ifName: 'eth0' }), 'ADD a');
  ok(t, await s.invoke('ADD', conf, { containerId: 'ctr-b', netns: b, ifName: 'eth0' }), 'ADD b');
  const ping = await s.inContainer(a, 'busybox', ['ping', '-c', '1', '-W', '3', '10.99.0.3']);
  t.is(ping.code, 0, ping.stdout + ping.stderr);
  const gw = await s.inContainer(b, 'busybox', ['ping', '-c', '1', '-W', '3', '10.99.0.1']);
  t.is(gw.code, 0, gw.stdout + gw.stderr);
  const brAddr = await s.inHost('ip', ['-o', '-4', 'addr', 'show', 'dev', `br${s.id}`]);
  t.regex(brAddr.stdout, /inet 10\.99\.0\.1\/24 brd 10\.99\.0\.255/);
  t.is((await s.inHost('cat', ['/proc/sys/net/ipv4/ip_forward'])).stdout.trim(), '1');
  ok(t, await s.invoke('DEL', conf, { containerId: 'ctr-a', netns: a, ifName: 'eth0' }), 'DEL a');
  ok(t, await s.invoke('DEL', conf, { containerId: 'ctr-b', netns: b, ifName: 'eth0' }), 'DEL b');
  t.deepEqual(await leftovers(s, String(conf['name'])), []);
});

sandboxTest('10 concurrent ADDs get 10 distinct addresses', 1, async (t, [s]) => {
  const conf = bridgeConf(s, { ipMasq: true });
  const nets = await Promise.all(Array.from({ length: 10 }, (_, i) => s.container(`p${i}`)));
  const adds = await Promise.all(nets.map((netns, i) => s.invoke('ADD', conf, { containerId: `ctr-${i}`, netns, ifName: 'eth0' })));
  adds.forEach((r, i) => ok(t, r, `ADD ${i}`));
  const addrs = adds.map((r) => result(r).ips?.[0]?.address);
  t.is(new Set(addrs).size, 10, addrs.join(' '));
  t.is((await s.hostVeths()).length, 10);
  t.is((await s.natRules()).filter((l) => l.startsWith('-N ')).length, 10);
  const dels = await Promise.all(nets.map((netns, i) => s.invoke('DEL', conf, { containerId: `ctr-${i}`, netns, ifName: 'eth0' })));
  dels.forEach((r, i) => ok(t, r, `DEL ${i}`));
  t.deepEqual(await leftovers(s, String(conf['name'])), []);
});

sandboxTest('DEL is idempotent: twice, without CNI_NETNS, and after the netns is gone', 1, async (t, [s]) => {
  const conf = bridgeConf(s, { ipMasq: true });
  const a = await s.container('a');
  ok(t, await s.invoke('ADD', conf, { containerId: 'ctr-a', netns: a, ifName: 'eth0' }), 'ADD');
  ok(t, await s.invoke('DEL', conf, { containerId: 'ctr-a', netns: a, ifName: 'eth0' }), 'DEL 1');
  ok(t, await s.invoke('DEL', conf, { containerId: 'ctr-a', netns: a, ifName: 'eth0' }), 'DEL 2');
  ok(t, await s.invoke('DEL', conf, { containerId: 'ctr-a', netns: null, ifName: 'eth0' }), 'DEL without netns');

  const b = await s.container('b');
  ok(t, await s.invoke('ADD', conf, { containerId: 'ctr-b', netns: b, ifName: 'eth0' }), 'ADD b');
  t.is((await s.natRules()).length, 4);
  await s.removeContainer(b);
  // the namespace (and with it the veth pair) is gone; addresses and rules are still released
  ok(t, await s.invoke('DEL', conf, { containerId: 'ctr-b', netns: b, ifName: 'eth0' }), 'DEL after netns removal');
  t.true(await eventually(async () => (await s.hostVeths()).length === 0), 'the kernel removes the host end with the namespace');
  t.deepEqual(await leftovers(s, String(conf['name'])), []);
});

sandboxTest('ipMasq rules are the reference plugin\'s and go away on DEL', 2, async (t, [ours, ref]) => {
  const name = 'masqnet';
  const conf = (s: Sandbox) => bridgeConf(s, { name, bridge: 'cnitest0', ipMasq: true });
  const a = await ours.container('a');
  const b = await ref.container('a');
  ok(t, await ours.invoke('ADD', conf(ours), { containerId: 'same-ctr', netns: a, ifName: 'eth0' }), 'ADD ours');
  ok(t, await ref.invoke('ADD', conf(ref), { containerId: 'same-ctr', netns: b, ifName: 'eth0', impl: 'debian' }), 'ADD debian');
  const chain = masqChainName(name, 'same-ctr');
  const rules = await ours.natRules();
  t.deepEqual(rules, await ref.natRules());
  t.true(rules.includes(`-N ${chain}`));
  t.is(rules.length, 4);
  // our DEL removes what Debian's plugin made, and the other way round
  ok(t, await ref.invoke('DEL', conf(ref), { containerId: 'same-ctr', netns: b, ifName: 'eth0' }), 'our DEL of Debian ADD');
  ok(t, await ours.invoke('DEL', conf(ours), { containerId: 'same-ctr', netns: a, ifName: 'eth0', impl: 'debian' }), 'Debian DEL of our ADD');
  t.deepEqual(await ours.natRules(), []);
  t.deepEqual(await ref.natRules(), []);
  t.deepEqual(await leftovers(ours, name), []);
  t.deepEqual(await leftovers(ref, name), []);
});

sandboxTest('CHECK finds what went missing', 1, async (t, [s]) => {
  const conf = bridgeConf(s, { ipMasq: true });
  const netns = await s.container('a');
  const o = { containerId: 'ctr-a', netns, ifName: 'eth0' };
  const add = await s.invoke('ADD', conf, o);
  ok(t, add, 'ADD');
  const check = async () => {
    const r = await s.invoke('CHECK', { ...conf, prevResult: add.json }, o);
    return r.code === 0 ? 'ok' : parseCniErrorResult(r.stdout).msg;
  };
  t.is(await check(), 'ok');
  const chain = masqChainName(String(conf['name']), 'ctr-a');
  await s.inHost('iptables', ['-w', '-t', 'nat', '-D', chain, '!', '-d', '224.0.0.0/4', '-m', 'comment', '--comment', `name: "${String(conf['name'])}" id: "ctr-a"`, '-j', 'MASQUERADE']);
  t.regex(await check(), /nat rule missing/);
  await s.inContainer(netns, 'ip', ['addr', 'del', '10.99.0.2/24', 'dev', 'eth0']);
  t.regex(await check(), /does not have address 10\.99\.0\.2\/24/);
  const wrongMac = structuredClone(add.json) as { interfaces: Array<{ mac: string }> };
  (wrongMac.interfaces[2] as { mac: string }).mac = '0a:00:00:00:00:01';
  const r = await s.invoke('CHECK', { ...conf, prevResult: wrongMac }, o);
  t.regex(parseCniErrorResult(r.stdout).msg, /has MAC/);
  const noPrev = await s.invoke('CHECK', conf, o);
  t.is(parseCniErrorResult(noPrev.stdout).code, 7);
  ok(t, await s.invoke('DEL', conf, o), 'DEL');
  t.deepEqual(await leftovers(s, String(conf['name'])), []);
});

sandboxTest('IPAM is delegated to Debian host-local for other types and unknown ipam fields', 1, async (t, [s]) => {
  const bin = await tmpDir('cni-path', t);
  // the delegate records the environment it gets, then is Debian's host-local
  writeFileSync(join(bin, 'other-ipam'), `#!/bin/sh\nenv > ${bin}/env.$CNI_COMMAND\nexec ${DEBIAN_CNI}/host-local\n`, { mode: 0o755 });
  const netns = await s.container('a');
  const conf = bridgeConf(s, { isDefaultGateway: true }, { type: 'other-ipam', routes: [{ dst: '10.200.0.0/16' }] });
  const o = { containerId: 'ctr-a', netns, ifName: 'eth0', cniPath: `/nonexistent:${bin}` };
  const add = await s.invoke('ADD', conf, o);
  ok(t, add, 'ADD');
  t.deepEqual(result(add).ips, [{ address: '10.99.0.2/24', gateway: '10.99.0.1', interface: 2 }]);
  t.deepEqual(result(add).routes, [{ dst: '10.200.0.0/16' }, { dst: '0.0.0.0/0', gw: '10.99.0.1' }]);
  t.deepEqual((await containerView(s, netns)).routes, ['10.200.0.0/16 via 10.99.0.1', '10.99.0.0/24', 'default via 10.99.0.1']);
  ok(t, await s.invoke('CHECK', { ...conf, prevResult: add.json }, o), 'CHECK');
  ok(t, await s.invoke('DEL', conf, o), 'DEL');
  t.deepEqual(await leftovers(s, String(conf['name'])), []);
  const seen = (cmd: string) => new Map(readFileSync(join(bin, `env.${cmd}`), 'utf8').split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  for (const cmd of ['ADD', 'CHECK', 'DEL']) {
    const e = seen(cmd);
    t.is(e.get('CNI_COMMAND'), cmd);
    t.is(e.get('CNI_CONTAINERID'), 'ctr-a');
    t.is(e.get('CNI_NETNS'), netns);
    t.is(e.get('CNI_PATH'), o.cniPath);
    t.is(e.get('NODE_EXTRA_CA_CERTS'), process.env['NODE_EXTRA_CA_CERTS'], 'the variable the shebang hides comes back');
    t.false(e.has('CNI_BRIDGE_CA_CERTS'));
  }

  // host-local with a field the built-in one does not know goes to the real plugin
  const unknown = bridgeConf(s, {}, { futureOption: true });
  const b = await s.container('b');
  const add2 = await s.invoke('ADD', unknown, { containerId: 'ctr-b', netns: b, ifName: 'eth0', debug: true });
  ok(t, add2, 'ADD with unknown ipam field');
  ok(t, await s.invoke('DEL', unknown, { containerId: 'ctr-b', netns: b, ifName: 'eth0' }), 'DEL');

  // an error result of the delegate comes back with its code; nothing is left behind
  const missing = await s.invoke('ADD', bridgeConf(s, {}, { type: 'no-such-ipam' }), { containerId: 'ctr-c', netns: b, ifName: 'eth0' });
  t.is(parseCniErrorResult(missing.stdout).code, 999);
  t.regex(parseCniErrorResult(missing.stdout).msg, /failed to find plugin "no-such-ipam"/);
  const refused = await s.invoke('ADD', bridgeConf(s, {}, { type: 'other-ipam', subnet: '10.99.0.0/31' }), { ...o, netns: b, containerId: 'ctr-d' });
  t.is(refused.code, 1);
  t.regex(parseCniErrorResult(refused.stdout).msg, /IPAM plugin other-ipam ADD/);
  t.deepEqual(await leftovers(s, String(conf['name'])), []);
});

/** A result with the random parts (veth name, MACs) replaced. */
function shape(r: CniResult): unknown {
  return {
    ...r,
    interfaces: r.interfaces?.map((i) => ({ ...i, name: i.name.replace(/^veth[0-9a-f]{8}$/, 'veth*'), mac: i.mac ? 'mac' : undefined })),
    dns: undefined,
  };
}

sandboxTest('interop: Debian\'s bridge and ours give equivalent results and accept each other\'s state', 2, async (t, [ours, ref]) => {
  const conf = (s: Sandbox) =>
    bridgeConf(s, { name: 'interop', bridge: 'cni-interop', isDefaultGateway: true, ipMasq: true, hairpinMode: true, mtu: 1400 }, { routes: [{ dst: '10.210.0.0/16', gw: '10.99.0.254' }] });
  // (routes name their gateway: Debian's CHECK fails even its own ADD for a route without one)
  const a = await ours.container('a');
  const b = await ref.container('a');
  const o = (netns: string) => ({ containerId: 'ctr-x', netns, ifName: 'eth0' });
  const addOurs = await ours.invoke('ADD', conf(ours), o(a));
  const addRef = await ref.invoke('ADD', conf(ref), { ...o(b), impl: 'debian' });
  ok(t, addOurs, 'ADD ours');
  ok(t, addRef, 'ADD debian');
  const strip = (x: unknown) => JSON.parse(JSON.stringify(x).replaceAll(b, a)) as unknown;
  t.deepEqual(strip(shape(result(addOurs))), strip(shape(result(addRef))));
  t.deepEqual(await containerView(ours, a), await containerView(ref, b));
  t.is((await containerView(ours, a)).mtu, 1400);
  t.deepEqual(await ours.natRules(), await ref.natRules());
  const hairpin = async (s: Sandbox, r: Invocation) => {
    const veth = result(r).interfaces?.[1]?.name ?? '';
    const d = await s.inHost('ip', ['-j', '-d', 'link', 'show', 'dev', veth]);
    return (JSON.parse(d.stdout) as Array<{ mtu: number; linkinfo: { info_slave_data: { hairpin: boolean } } }>).map((l) => [l.mtu, l.linkinfo.info_slave_data.hairpin]);
  };
  t.deepEqual(await hairpin(ours, addOurs), [[1400, true]]);
  t.deepEqual(await hairpin(ours, addOurs), await hairpin(ref, addRef));

  // each plugin's CHECK accepts the other's ADD
  ok(t, await ours.invoke('CHECK', { ...conf(ours), prevResult: addOurs.json }, { ...o(a), impl: 'debian' }), 'Debian CHECK of our ADD');
  ok(t, await ref.invoke('CHECK', { ...conf(ref), prevResult: addRef.json }, o(b)), 'our CHECK of Debian ADD');
  // and cleans up after it
  ok(t, await ours.invoke('DEL', { ...conf(ours), prevResult: addOurs.json }, { ...o(a), impl: 'debian' }), 'Debian DEL of our ADD');
  ok(t, await ref.invoke('DEL', { ...conf(ref), prevResult: addRef.json }, o(b)), 'our DEL of Debian ADD');
  t.deepEqual(await leftovers(ours, 'interop'), []);
  t.deepEqual(await leftovers(ref, 'interop'), []);
});

sandboxTest('promiscMode, layer 2 only, and MAC from CNI_ARGS', 1, async (t, [s]) => {
  const conf: Record<string, unknown> = { ...bridgeConf(s, { promiscMode: true, isGateway: false }), ipam: undefined };
  const netns = await s.container('a');
  const o = { containerId: 'ctr-a', netns, ifName: 'net1', cniArgs: 'IgnoreUnknown=1;MAC=0a:58:0a:63:00:63' };
  const add = await s.invoke('ADD', conf, o);
  ok(t, add, 'ADD');
  const r = result(add);
  t.is(r.ips, undefined);
  t.is(r.interfaces?.[2]?.mac, '0a:58:0a:63:00:63');
  const br = await s.inHost('ip', ['-j', 'link', 'show', 'dev', `br${s.id}`]);
  t.true((JSON.parse(br.stdout) as Array<{ flags: string[] }>)[0]?.flags.includes('PROMISC'));
  const link = await s.inContainer(netns, 'ip', ['-j', 'link', 'show', 'dev', 'net1']);
  t.true((JSON.parse(link.stdout) as Array<{ flags: string[] }>)[0]?.flags.includes('UP'));
  ok(t, await s.invoke('CHECK', { ...conf, prevResult: add.json }, o), 'CHECK');
  ok(t, await s.invoke('DEL', conf, o), 'DEL');
  t.deepEqual(await leftovers(s, String(conf['name'])), []);
});

sandboxTest('an ADD that fails undoes itself', 1, async (t, [s]) => {
  const conf = bridgeConf(s, { ipMasq: true });
  const netns = await s.container('a');
  // the interface name is taken in the container
  t.is((await s.inContainer(netns, 'ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0-peer'])).code, 0);
  const r = await s.invoke('ADD', conf, { containerId: 'ctr-a', netns, ifName: 'eth0' });
  t.is(r.code, 1);
  t.regex(parseCniErrorResult(r.stdout).msg, /container interface eth0 already exists/);
  t.deepEqual(await leftovers(s, String(conf['name'])), []);
  // the bridge name is taken by something that is not a bridge
  t.is((await s.inHost('ip', ['link', 'add', 'notabridge', 'type', 'veth', 'peer', 'name', 'nb-peer'])).code, 0);
  const r2 = await s.invoke('ADD', bridgeConf(s, { bridge: 'notabridge' }), { containerId: 'ctr-b', netns, ifName: 'eth1' });
  t.regex(parseCniErrorResult(r2.stdout).msg, /already exists but is not a bridge/);
  // a bridge that already has another IPv4 address
  const other = bridgeConf(s, {}, { subnet: '10.98.0.0/24' });
  const r3 = await s.invoke('ADD', { ...other, name: 'othernet' }, { containerId: 'ctr-c', netns, ifName: 'eth2' });
  ok(t, r3, 'ADD on 10.98');
  const r4 = await s.invoke('ADD', conf, { containerId: 'ctr-d', netns, ifName: 'eth3' });
  t.regex(parseCniErrorResult(r4.stdout).msg, /already has an IP address different from 10\.99\.0\.1\/24/);
  ok(t, await s.invoke('DEL', { ...other, name: 'othernet' }, { containerId: 'ctr-c', netns, ifName: 'eth2' }), 'DEL');
  const ours = (l: string[]) => l.filter((x) => x !== 'veth notabridge' && x !== 'veth nb-peer');
  t.deepEqual(ours(await leftovers(s, String(conf['name']))), []);
  t.deepEqual(ours(await leftovers(s, 'othernet')), []);
});

sandboxTest('chained after another plugin: the previous result is kept and extended', 1, async (t, [s]) => {
  const netns = await s.container('a');
  // what a previous plugin in the list made: an interface with an address and a route
  for (const args of [
    ['link', 'add', 'prev0', 'type', 'veth', 'peer', 'name', 'prev0-peer'],
    ['addr', 'add', '192.168.77.2/24', 'dev', 'prev0'],
    ['link', 'set', 'prev0', 'up'],
    ['link', 'set', 'prev0-peer', 'up'],
    ['route', 'add', '192.168.0.0/16', 'via', '192.168.77.1', 'dev', 'prev0'],
  ]) {
    t.is((await s.inContainer(netns, 'ip', args)).code, 0, args.join(' '));
  }
  const prevResult = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'prev0', sandbox: netns }],
    ips: [{ address: '192.168.77.2/24', interface: 0 }],
    routes: [{ dst: '192.168.0.0/16', gw: '192.168.77.1' }],
    dns: { nameservers: ['192.168.77.53'] },
  };
  const conf: Record<string, unknown> = { ...bridgeConf(s), prevResult };
  const o = { containerId: 'ctr-a', netns, ifName: 'eth0' };
  const add = await s.invoke('ADD', conf, o);
  ok(t, add, 'ADD');
  const r = result(add);
  t.deepEqual(r.interfaces?.map((i) => i.name.replace(/^veth.*/, 'veth*')), ['prev0', `br${s.id}`, 'veth*', 'eth0']);
  t.deepEqual(r.ips, [
    { address: '192.168.77.2/24', interface: 0 },
    { address: '10.99.0.2/24', gateway: '10.99.0.1', interface: 3 },
  ]);
  t.deepEqual(r.dns, { nameservers: ['192.168.77.53'] });
  ok(t, await s.invoke('CHECK', { ...bridgeConf(s), prevResult: add.json }, o), 'CHECK with the chained result');
  ok(t, await s.invoke('DEL', { ...bridgeConf(s), prevResult: add.json }, o), 'DEL');
  t.deepEqual(await leftovers(s, String(conf['name'])), []);
});

sandboxTest('dual stack: an IPv4 and an IPv6 address, both routed via the bridge', 1, async (t, [s]) => {
  const conf = bridgeConf(s, { isDefaultGateway: true, ipMasq: true }, { subnet: undefined, ranges: [[{ subnet: '10.97.0.0/24' }], [{ subnet: 'fd00:97::/64' }]] });
  const a = await s.container('a');
  const b = await s.container('b');
  const add = await s.invoke('ADD', conf, { containerId: 'ctr-a', netns: a, ifName: 'eth0' });
  ok(t, add, 'ADD');
  ok(t, await s.invoke('ADD', conf, { containerId: 'ctr-b', netns: b, ifName: 'eth0' }), 'ADD b');
  t.deepEqual(result(add).routes, [
    { dst: '0.0.0.0/0', gw: '10.97.0.1' },
    { dst: '::/0', gw: 'fd00:97::1' },
  ]);
  t.deepEqual((await containerView(s, a)).addrs, ['10.97.0.2/24', 'fd00:97::2/64']);
  const ping6 = await s.inContainer(a, 'busybox', ['ping', '-6', '-c', '1', '-W', '3', 'fd00:97::3']);
  t.is(ping6.code, 0, ping6.stdout + ping6.stderr);
  t.is((await s.natRules(6)).length, 8, 'two chains of two rules, two jumps');
  ok(t, await s.invoke('CHECK', { ...conf, prevResult: add.json }, { containerId: 'ctr-a', netns: a, ifName: 'eth0' }), 'CHECK');
  ok(t, await s.invoke('DEL', conf, { containerId: 'ctr-a', netns: a, ifName: 'eth0' }), 'DEL a');
  ok(t, await s.invoke('DEL', conf, { containerId: 'ctr-b', netns: b, ifName: 'eth0' }), 'DEL b');
  t.deepEqual(await s.natRules(6), []);
  t.deepEqual(await leftovers(s, String(conf['name'])), []);
});

sandboxTest('without koffi the IPAM lock falls back to flock(1) and stays exclusive', 1, async (t, [s]) => {
  const conf = bridgeConf(s);
  const nets = await Promise.all(Array.from({ length: 5 }, (_, i) => s.container(`k${i}`)));
  const adds = await Promise.all(nets.map((netns, i) => s.invoke('ADD', conf, { containerId: `ctr-${i}`, netns, ifName: 'eth0', noKoffi: true })));
  adds.forEach((r, i) => ok(t, r, `ADD ${i}`));
  t.is(new Set(adds.map((r) => result(r).ips?.[0]?.address)).size, 5);
  await Promise.all(nets.map((netns, i) => s.invoke('DEL', conf, { containerId: `ctr-${i}`, netns, ifName: 'eth0', noKoffi: true })));
  t.deepEqual(await leftovers(s, String(conf['name'])), []);
});

sandboxTest('GC (1.1.0) drops what belongs to no valid attachment; STATUS reports exhaustion', 1, async (t, [s]) => {
  const conf = bridgeConf(s, { cniVersion: '1.1.0', ipMasq: true }, { subnet: '10.96.0.0/29' });
  const nets = await Promise.all([0, 1, 2].map((i) => s.container(`g${i}`)));
  for (const [i, netns] of nets.entries()) ok(t, await s.invoke('ADD', conf, { containerId: `ctr-${i}`, netns, ifName: 'eth0' }), `ADD ${i}`);
  t.is((await s.natRules()).filter((l) => l.startsWith('-N ')).length, 3);
  const gc = await s.invoke('GC', { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'ctr-0', ifname: 'eth0' }] }, {});
  ok(t, gc, 'GC');
  t.deepEqual(
    (await s.natRules()).filter((l) => l.startsWith('-N ')),
    [`-N ${masqChainName(String(conf['name']), 'ctr-0')}`],
  );
  t.deepEqual(
    readdirSync(join(s.dataDir, String(conf['name']))).filter((f) => f.startsWith('10.')),
    ['10.96.0.2'],
  );
  // /29 has .2-.6: with three more ADDs it is full
  ok(t, await s.invoke('STATUS', conf, {}), 'STATUS');
  const more = await Promise.all([3, 4, 5, 6].map((i) => s.container(`g${i}`)));
  for (const [i, netns] of more.slice(0, 4).entries()) ok(t, await s.invoke('ADD', conf, { containerId: `ctr-x${i}`, netns, ifName: 'eth0' }), `ADD x${i}`);
  const status = await s.invoke('STATUS', conf, {});
  t.is(status.code, 1);
  t.is(parseCniErrorResult(status.stdout).code, 50);
  for (const [i, netns] of nets.entries()) ok(t, await s.invoke('DEL', conf, { containerId: `ctr-${i}`, netns, ifName: 'eth0' }), `DEL ${i}`);
  for (const [i, netns] of more.entries()) ok(t, await s.invoke('DEL', conf, { containerId: `ctr-x${i}`, netns, ifName: 'eth0' }), `DEL x${i}`);
  t.deepEqual(await leftovers(s, String(conf['name'])), []);
});
