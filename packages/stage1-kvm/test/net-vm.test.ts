/**
 * A VM pod on CNI networks, through the real CLI (stage0 + the kvm stage1 image) inside a
 * network sandbox: the built-in `default` network and two networks of `net.d` (Debian's bridge
 * and ptp plugins), port forwarding, DNS and hostname in the guest, `rkt status`, and stop + gc leaving
 * nothing behind; `--insecure-options=seccomp` leaves the app without a filter. Root, the guest
 * kernel, qemu, gcc and Debian's CNI plugins are needed. One VM boot (TCG is slow).
 */
import test from 'ava';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxImage, testIf } from '@rktnetes/testkit';
import { ensureKvmAci, vmSkipReason } from './helpers';
import { KvmNetSandbox, RKT, waitFor } from './net-sandbox';

const reason = vmSkipReason() ?? (existsSync('/usr/lib/cni/bridge') ? (existsSync(RKT) ? undefined : `stage0 is not built (${RKT})`) : "Debian's containernetworking-plugins are not installed");
const vmTest = testIf(test, reason === undefined, reason ?? '');

let aci = '';
test.before(async () => {
  if (reason === undefined) aci = await ensureKvmAci();
});

const WEB = [
  'mkdir -p /www && echo hello from the vm > /www/index.html',
  'ip -o -4 addr show | grep -o "eth[0-9] *inet [0-9./]*" | sed "s/ *inet / /"',
  'ip route | sed "s/ *$//"',
  'grep -v "^#" /etc/resolv.conf | grep .',
  'hostname',
  `awk '/^(NoNewPrivs|Seccomp):/ { s = s " " $1 $2 } END { print "web" s }' /proc/self/status`,
  'echo serving',
  'exec httpd -f -p 80 -h /www',
].join('; ');

vmTest.serial('a VM pod on default and net.d networks: reachable on its addresses and through --port; DNS, hostname, status; gc leaves nothing', async (t) => {
  const sb = await new KvmNetSandbox(aci).open();
  t.teardown(() => sb.close());
  const n = 20 + Math.floor(Math.random() * 200);
  const lan = `kvmlan${sb.id}`;
  // file name order decides the interfaces: 10-... is eth0, 20-... eth1, the built-in
  // 99-default.conf eth2
  sb.writeNet('10-lan.conf', {
    cniVersion: '0.4.0',
    name: lan,
    type: 'bridge',
    bridge: `kbr${sb.id}`,
    isGateway: true,
    dns: { nameservers: [`10.213.${n}.53`], search: ['pods.example'] },
    ipam: { type: 'host-local', subnet: `10.213.${n}.0/24` },
  });
  // ptp replaces the kernel's subnet route by one via the gateway: the guest must do the same
  const p2p = `kvmp2p${sb.id}`;
  sb.writeNet('20-p2p.conf', { cniVersion: '0.4.0', name: p2p, type: 'ptp', ipam: { type: 'host-local', subnet: `10.214.${n}.0/24` } });
  const image = join(sb.root, 'web.aci');
  writeFileSync(image, await busyboxImage({ name: 'example.com/kvm-web', exec: ['/bin/sh', '-c', WEB], app: { ports: [{ name: 'http', protocol: 'tcp', port: 80 }] }, busybox: { extraApplets: ['httpd'] } }));

  // the last --insecure-options counts: seccomp too, so the app runs without a filter
  const pod = await sb.startPod(image, ['--insecure-options=image,seccomp', `--net=${lan},default,${p2p}`, '--port=http:18080', '--hostname=kvm-net-pod']);
  await waitFor('the app to serve', () => (pod.output().includes('serving') ? true : undefined), 120_000).catch((e: Error) => {
    throw new Error(`${e.message}; rkt run printed: ${pod.output()}`);
  });

  const status = await sb.rkt(['status', pod.uuid]);
  t.is(status.code, 0, status.stderr);
  const m = new RegExp(`^networks=${lan}:ip4=(10\\.213\\.${n}\\.\\d+), ${p2p}:ip4=(10\\.214\\.${n}\\.\\d+), default:ip4=(172\\.16\\.28\\.\\d+)$`, 'm').exec(status.stdout);
  t.truthy(m, `rkt status shows the networks: ${status.stdout}`);
  const [, lanIP, p2pIP, defaultIP] = m ?? [];

  const out = pod.output();
  t.true(out.includes(`eth0 ${lanIP}/24\neth1 ${p2pIP}/24\neth2 ${defaultIP}/24\n`), `the guest has the CNI addresses on eth0, eth1 and eth2: ${out}`);
  t.regex(out, /^default via 172\.16\.28\.1 dev eth2$/m, 'the default network gives the default route');
  t.regex(out, new RegExp(`^10\\.214\\.${n}\\.0/24 via 10\\.214\\.${n}\\.1 dev eth1$`, 'm'), "ptp's routes, not the kernel's subnet route");
  t.notRegex(out, new RegExp(`^10\\.214\\.${n}\\.0/24 dev eth1`, 'm'));
  t.regex(out, new RegExp(`^search pods\\.example\\nnameserver 10\\.213\\.${n}\\.53$`, 'm'), "resolv.conf from the first network's DNS settings");
  t.regex(out, /^kvm-net-pod$/m);
  t.regex(out, /^web NoNewPrivs:0 Seccomp:0$/m, 'rkt run --insecure-options=seccomp: no filter in the guest');

  t.is(await sb.httpGet(`http://${defaultIP}/`), 'hello from the vm\n', 'the host reaches the pod on its default address');
  t.is(await sb.httpGet(`http://${lanIP}/`), 'hello from the vm\n', 'and on its addresses in the net.d networks');
  t.is(await sb.httpGet(`http://${p2pIP}/`), 'hello from the vm\n');
  t.is(await sb.httpGet('http://127.0.0.1:18080/'), 'hello from the vm\n', '--port forwards a host port to the guest');

  const stop = await sb.rkt(['stop', pod.uuid]);
  t.is(stop.code, 0, stop.stderr);
  const run = await pod.done;
  t.not(run.code, null);
  const gc = await sb.rkt(['gc', '--grace-period=0s']);
  t.is(gc.code, 0, gc.stderr);
  t.deepEqual(await sb.leftovers(), [], 'no qemu, veth, namespace, nat rule, lease or mount is left');
});

vmTest.serial('a VM cannot use the host network', async (t) => {
  const sb = await new KvmNetSandbox(aci).open();
  t.teardown(() => sb.close());
  const image = join(sb.root, 'true.aci');
  writeFileSync(image, await busyboxImage({ name: 'example.com/kvm-true', exec: ['/bin/true'] }));
  const r = await sb.rkt(['run', '--insecure-options=image', `--stage1-path=${aci}`, '--net=host', image]);
  t.is(r.code, 254);
  t.regex(r.stderr, /stage1-kvm cannot use the host network: a VM has its own kernel/);
  t.is((await sb.rkt(['gc', '--grace-period=0s'])).code, 0);
  t.deepEqual(await sb.leftovers(), []);
});
