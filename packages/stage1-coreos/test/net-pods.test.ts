/**
 * Pods on CNI networks, end to end through the real `rkt` CLI and the stage1-coreos image, each
 * test inside its own sandbox network namespace (test/helpers/net-sandbox.ts): the default
 * network, port forwarding, default-restricted, Debian's plugins next to ours, and gc leaving
 * nothing behind. Privileged.
 */
import test, { type ExecutionContext } from 'ava';
import { join } from 'node:path';
import { runCommandOk } from '@rktnetes/testkit';
import { DEBIAN_CNI, NetSandbox, canRunNetTests, waitFor } from './helpers/net-sandbox';

const it = canRunNetTests() ? test : test.skip;

async function sandbox(t: ExecutionContext): Promise<NetSandbox> {
  const s = await new NetSandbox().open();
  t.teardown(() => s.close());
  return s;
}

const HTTPD = {
  exec: ['/bin/sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www'],
  app: { ports: [{ name: 'http', protocol: 'tcp', port: 80 }] },
};
/** Runs `$SCRIPT` (given with --set-env) in a busybox shell. */
const SHELL = { exec: ['/bin/sh', '-c', 'eval "$SCRIPT"'] };

/** Stops a background pod, waits for it and collects all garbage; asserts nothing is left. */
async function stopAndGc(t: ExecutionContext, s: NetSandbox, uuids: string[], ipamDirs: string[] = []): Promise<void> {
  for (const u of uuids) t.is((await s.rkt(['stop', u])).code, 0);
  await waitFor('the pods to exit', async () => ((await s.rkt(['list', '--no-legend'])).stdout.includes('running') ? undefined : true));
  const gc = await s.gc();
  t.is(gc.code, 0, gc.stderr);
  t.deepEqual(await s.leftovers(ipamDirs), [], 'gc leaves no netns, veth, lease, iptables rule, mount or process');
}

it('two pods on the default network reach each other; list and status show the networks', async (t) => {
  const s = await sandbox(t);
  const server = await s.startPod(await s.image('httpd', HTTPD));
  const [net] = s.netInfo(server.uuid);
  t.like(net, { netName: 'default', ifName: 'eth0', mask: '255.255.255.0', netConf: 'net/99-default.conf', pluginPath: 'stage1/rootfs/usr/lib/rkt/plugins/net/cni-bridge' }, 'no --net means --net=default');
  t.regex(net!.ip, /^172\.16\.28\.\d+$/);
  await waitFor('httpd', () => s.httpGet(`http://${net!.ip}/`));

  // (busybox-static's wget crashes in getaddrinfo here; nc takes the address as it is)
  const client = await s.runPod(await s.image('shell', SHELL), ['--net=default', `--set-env=SCRIPT=printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${net!.ip} 80 && ping -c 1 -W 2 ${net!.ip} >/dev/null && echo PING-OK`]);
  t.is(client.code, 0, client.stderr);
  t.true(client.stdout.includes(`rkt-${server.uuid}`), client.stdout);
  t.true(client.stdout.includes('PING-OK'));
  const [cnet] = s.netInfo(client.uuid);
  t.not(cnet!.ip, net!.ip);

  const list = await s.rkt(['list', '--full', '--no-legend']);
  t.true(list.stdout.includes(`default:ip4=${net!.ip}`), list.stdout);
  t.true(list.stdout.includes(`default:ip4=${cnet!.ip}`), 'exited pods keep their networks in the listing');
  const status = await s.rkt(['status', server.uuid]);
  t.true(status.stdout.includes(`networks=default:ip4=${net!.ip}`), status.stdout);
  const json = JSON.parse((await s.rkt(['list', '--format=json'])).stdout) as Array<{ name: string; networks?: Array<{ netName: string; ip: string }> }>;
  t.like(json.find((p) => p.name === server.uuid)?.networks?.[0], { netName: 'default', ip: net!.ip });

  await stopAndGc(t, s, [server.uuid]);
});

it('--port forwards a host port from loopback, from the gateway and back to the pod itself (hairpin)', async (t) => {
  const s = await sandbox(t);
  const pod = await s.startPod(await s.image('httpd', HTTPD), ['--port=http:8081']);
  const ip = s.netInfo(pod.uuid)[0]!.ip;
  await waitFor('httpd', () => s.httpGet(`http://${ip}/`));
  const hostname = `rkt-${pod.uuid}\n`;
  t.is(await s.httpGet('http://127.0.0.1:8081/'), hostname, 'from the host loopback');
  t.is(await s.httpGet('http://172.16.28.1:8081/'), hostname, 'to the host address on the network');
  t.is(await s.httpGet('http://172.16.28.1:8081/', `/run/netns/rkt-${pod.uuid}`), hostname, 'the pod reaches itself through the host port');
  t.is(await s.httpGet('http://127.0.0.1:8082/', s.hostPath, 1000), undefined, 'other ports are not forwarded');
  const rules = await s.rules();
  t.true(rules.some((r) => r.includes(`RKT-PFWD-DNAT-${pod.uuid.slice(0, 8)}`)));
  t.true(rules.some((r) => r.includes('--dport 8081') && r.includes(`--to-destination ${ip}:80`)));
  const route = await s.inHost('sysctl', ['-n', 'net.ipv4.conf.rkt-default.route_localnet']);
  t.is(route.stdout.trim(), '1');
  await stopAndGc(t, s, [pod.uuid]);

  for (const net of ['host', 'none']) {
    const r = await s.rkt(s.runArgs(await s.image('httpd', HTTPD), [`--net=${net}`, '--port=http:8083']));
    t.is(r.code, 254);
    t.regex(r.stderr, new RegExp(`--port flag does not work with '${net}' networking`));
  }
});

it('default-restricted reaches its host side but nothing beyond; default gets out', async (t) => {
  const s = await sandbox(t);
  // an address of the sandbox host outside both pod networks
  t.is((await s.inHost('ip', ['addr', 'add', '10.123.0.1/32', 'dev', 'lo'])).code, 0);
  const probe = (gw: string) =>
    `--set-env=SCRIPT=ping -c 1 -W 1 ${gw} >/dev/null && echo GATEWAY-OK; ping -c 1 -W 1 10.123.0.1 >/dev/null 2>&1 && echo OUTSIDE-OK; ip route | grep -q ^default && echo DEFAULT-ROUTE; true`;
  const shell = await s.image('shell', SHELL);
  const restricted = await s.runPod(shell, ['--net=default-restricted', probe('172.31.0.1')]);
  t.is(restricted.code, 0, restricted.stderr);
  t.regex(s.netInfo(restricted.uuid)[0]!.ip, /^172\.31\.\d+\.\d+$/);
  t.is(restricted.stdout.trim(), 'GATEWAY-OK', 'no default route, nothing outside the network');
  const open = await s.runPod(shell, ['--net=default', probe('172.16.28.1')]);
  t.is(open.stdout.trim(), 'GATEWAY-OK\nOUTSIDE-OK\nDEFAULT-ROUTE');
  const gc = await s.gc();
  t.is(gc.code, 0, gc.stderr);
  t.deepEqual(await s.leftovers(), []);
});

it("Debian's ptp and macvlan networks next to a cni-bridge network, with CNI_ARGS", async (t) => {
  const s = await sandbox(t);
  const ipam = join(s.root, 'ipam');
  await s.hostVethPair('master0');
  s.writeNet('10-debptp.conf', { cniVersion: '1.0.0', name: 'debptp', type: 'ptp', ipMasq: true, ipam: { type: 'host-local', subnet: '10.201.0.0/24', dataDir: ipam } });
  s.writeNet('20-ours.conf', { cniVersion: '1.0.0', name: 'ours', type: 'cni-bridge', bridge: `br-${s.id}`, isGateway: true, ipam: { type: 'host-local', subnet: '10.202.0.0/24', dataDir: ipam } });
  s.writeNet('30-mac.conf', { cniVersion: '0.4.0', name: 'mac', type: 'macvlan', master: 'master0', mode: 'bridge', ipam: { type: 'host-local', subnet: '10.203.0.0/24', dataDir: ipam } });
  const r = await s.runPod(await s.image('shell', SHELL), ['--net=mac,ours,debptp:IP=10.201.0.42', '--set-env=SCRIPT=ip -4 -o addr show | grep eth | sed "s/ *inet / /" | cut -d" " -f2,3']);
  t.is(r.code, 0, r.stderr);
  const nets = s.netInfo(r.uuid);
  t.deepEqual(
    nets.map((n) => [n.netName, n.ifName, n.ip, n.args, n.pluginPath]),
    [
      ['debptp', 'eth0', '10.201.0.42', 'IP=10.201.0.42', join(DEBIAN_CNI, 'ptp')],
      ['ours', 'eth1', '10.202.0.2', '', 'stage1/rootfs/usr/lib/rkt/plugins/net/cni-bridge'],
      ['mac', 'eth2', '10.203.0.2', '', join(DEBIAN_CNI, 'macvlan')],
    ],
  );
  t.true(r.stdout.includes('eth0 10.201.0.42/24'), r.stdout);
  t.true(r.stdout.includes('eth1 10.202.0.2/24'));
  t.true(r.stdout.includes('eth2 10.203.0.2/24'));
  const gc = await s.gc();
  t.is(gc.code, 0, gc.stderr);
  t.deepEqual(await s.leftovers([ipam]), []);
  t.deepEqual((await runCommandOk('ls', [join(ipam, 'debptp')])).stdout.split('\n').filter((f) => f.startsWith('10.')), [], 'Debian host-local released the address');
});

it('unknown networks, missing plugins and plugin errors fail the pod cleanly', async (t) => {
  const s = await sandbox(t);
  const shell = await s.image('shell', SHELL);
  const missing = await s.runPod(shell, ['--net=default,nosuch', '--set-env=SCRIPT=true']);
  t.is(missing.code, 254);
  t.regex(missing.stderr, /networks not found: nosuch/);
  s.writeNet('40-ghost.conf', { cniVersion: '1.0.0', name: 'ghost', type: 'no-such-plugin' });
  const ghost = await s.runPod(shell, ['--net=ghost', '--set-env=SCRIPT=true']);
  t.regex(ghost.stderr, /network "ghost": could not find plugin "no-such-plugin"/);
  // the second pod asks for an address the first one holds
  const holder = await s.startPod(await s.image('httpd', HTTPD), ['--net=default:IP=172.16.28.200']);
  const taken = await s.runPod(shell, ['--net=default:IP=172.16.28.200', '--set-env=SCRIPT=true']);
  t.is(taken.code, 254);
  t.regex(taken.stderr, /adding network "default": .*172\.16\.28\.200/);
  t.deepEqual(s.podNetns([taken.uuid]), [], 'the failed pod released its namespace at once');
  await stopAndGc(t, s, [holder.uuid]);
});
