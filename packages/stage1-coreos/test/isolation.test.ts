/**
 * What an app sees inside a stage1-coreos pod, reported by the testkit probe from the inside.
 * Privileged: runs real pods (as root), each followed by gc and a leak check.
 */
import test from 'ava';
import { readFileSync, readlinkSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CAPABILITIES } from '@rktnetes/schema';
import { capsToHex, findMount, hasBusybox, isRoot, parseProbeOutput, testIf } from '@rktnetes/testkit';
import { preparePod, runAndGc } from './helpers/pod';

const it = testIf(test, isRoot() && hasBusybox(), 'needs root and busybox-static');
/** everything this process may pass on (the machine may lack some, e.g. CAP_SYS_RESOURCE) */
const ALL_CAPS: string = /^CapBnd:\s*(\w+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';

it('an app runs as PID 2 under the init, in its own namespaces, with the default restrictions', async (t) => {
  const pod = await preparePod(t, [{ name: 'probe' }]);
  const r = await runAndGc(t, pod);
  t.is(r.code, 0, r.stderr);
  const p = parseProbeOutput(r.stdout);
  t.is(p.pid, 2);
  t.is(p.ppid, 1);
  t.is(p.hostname, `rkt-${pod.uuid}`);
  for (const ns of ['pid', 'uts', 'ipc', 'mnt', 'cgroup']) t.not(p.namespaces[ns], readlinkSync(`/proc/self/ns/${ns}`), `own ${ns} namespace`);
  t.is(p.namespaces.net, readlinkSync('/proc/self/ns/net'), '--net=host');
  t.is(p.caps.bounding.hex, capsToHex(DEFAULT_CAPABILITIES));
  t.is(p.caps.effective.hex, capsToHex(DEFAULT_CAPABILITIES));
  t.is(p.caps.inheritable.hex, '0000000000000000');
  t.false(p.noNewPrivs, 'root apps keep the no_new_privs of their isolator (none)');
  t.is(p.seccomp, 2);
  t.is(p.uid, 0);
  t.deepEqual(p.groups, [0]);
  t.is(p.cwd, '/');
  t.is(p.env.AC_APP_NAME, 'probe');
  t.is(p.env.PATH, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  t.is(findMount(p, '/proc')?.fstype, 'proc');
  t.deepEqual(findMount(p, '/sys')?.options.includes('ro'), true);
  t.is(findMount(p, '/dev')?.fstype, 'tmpfs');
  t.is(findMount(p, '/dev/pts')?.fstype, 'devpts');
  t.is(findMount(p, '/dev/shm')?.fstype, 'tmpfs');
  t.true(findMount(p, '/proc/sys')?.options.includes('ro'));
  t.true(findMount(p, '/proc/keys') !== undefined, '/proc/keys is masked');
  t.true(findMount(p, '/sys/firmware')?.options.includes('ro'));
  t.is(findMount(p, '/etc/hostname')?.target, '/etc/hostname');
  t.false(p.mounts.some((m) => m.target.includes(pod.uuid)), 'no host path is visible');
  for (const c of p.cgroups) t.is(c.path, '/probe', `cgroup ${c.controllers.join(',')} is the app's, seen through the cgroup namespace`);
  t.is(readFileSync(join(pod.stage1Root, 'rkt/status/probe'), 'utf8'), '0\n');
  t.is(readFileSync(join(pod.dir, 'subcgroup'), 'utf8').endsWith(`rkt-${pod.uuid}`), true);
  t.true(readFileSync(join(pod.stage1Root, 'rkt/env/probe'), 'utf8').includes('AC_APP_NAME=probe\n'));
});

it('masked and read-only kernel paths, and --disable-paths', async (t) => {
  const script = 'wc -c < /proc/keys; echo x > /proc/sysrq-trigger 2>&1 || echo sysrq-refused; ls /sys/firmware | wc -l; ls /dev | tr "\\n" " "';
  const pod = await preparePod(t, [{ name: 'sh', image: { exec: ['/bin/sh', '-c', script] } }]);
  const r = await runAndGc(t, pod);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.is(lines[0]?.trim(), '0');
  t.true(lines.some((l) => l.includes('sysrq-refused')), r.stdout);
  t.true(lines.some((l) => l.trim() === '0'));
  t.regex(r.stdout, /console|full null ptmx pts random shm stderr stdin stdout tty urandom zero/);

  const open = await preparePod(t, [{ name: 'probe' }]);
  const o = parseProbeOutput((await runAndGc(t, open, ['--net=host', '--disable-paths'])).stdout);
  t.is(findMount(o, '/proc/keys'), undefined);
  t.is(findMount(o, '/proc/sys'), undefined);
});

it('capabilities: retain set, remove set, and --disable-capabilities-restriction', async (t) => {
  const retain = await preparePod(t, [{ name: 'probe', image: { app: { isolators: [{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_ADMIN', 'CAP_KILL'] } }] } } }]);
  const pr = parseProbeOutput((await runAndGc(t, retain)).stdout);
  t.deepEqual(pr.caps.bounding.names, ['CAP_KILL', 'CAP_NET_ADMIN']);
  t.deepEqual(pr.caps.effective.names, ['CAP_KILL', 'CAP_NET_ADMIN']);

  const remove = await preparePod(t, [{ name: 'probe', image: { app: { isolators: [{ name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_CHOWN'] } }] } } }]);
  const pm = parseProbeOutput((await runAndGc(t, remove)).stdout);
  t.deepEqual(pm.caps.bounding.names, DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_CHOWN').sort((a, b) => capsToHex([a]).localeCompare(capsToHex([b]))));
  t.false(pm.caps.bounding.names.includes('CAP_CHOWN'));

  const all = await preparePod(t, [{ name: 'probe' }]);
  const pa = parseProbeOutput((await runAndGc(t, all, ['--net=host', '--disable-capabilities-restriction'])).stdout);
  t.is(pa.caps.bounding.hex, ALL_CAPS);
  t.is(pa.caps.effective.hex, ALL_CAPS);
});

it('a non-root app: ids from the image, supplementary groups, no effective caps, no_new_privs', async (t) => {
  const pod = await preparePod(t, [
    { name: 'probe', image: { app: { user: 'user', group: 'extra', supplementaryGIDs: [1002], workingDirectory: '/home/user', environment: [{ name: 'GREETING', value: 'hello world' }] } } },
  ]);
  const p = parseProbeOutput((await runAndGc(t, pod)).stdout);
  t.is(p.uid, 1000);
  t.is(p.euid, 1000);
  t.is(p.gid, 1001);
  t.deepEqual(p.groups, [1001, 1002]);
  t.is(p.cwd, '/home/user');
  t.is(p.env.GREETING, 'hello world');
  t.is(p.caps.effective.hex, '0000000000000000');
  t.is(p.caps.permitted.hex, '0000000000000000');
  t.is(p.caps.bounding.hex, capsToHex(DEFAULT_CAPABILITIES));
  t.true(p.noNewPrivs, 'forced with seccomp for non-root apps');
  t.is(p.seccomp, 2);

  const amb = await preparePod(t, [
    { name: 'probe', image: { app: { user: '1000', group: '1000', isolators: [{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_BIND_SERVICE'] } }] } } },
  ]);
  const pa = parseProbeOutput((await runAndGc(t, amb)).stdout);
  t.deepEqual(pa.caps.ambient.names, ['CAP_NET_BIND_SERVICE']);
  t.deepEqual(pa.caps.effective.names, ['CAP_NET_BIND_SERVICE']);
});

it('seccomp: the default filter refuses unshare, isolators kill or return their errno, --disable-seccomp', async (t) => {
  const cmd = '/bin/busybox unshare -U true 2>&1; echo rc=$?';
  const def = await preparePod(t, [{ name: 'sh', image: { exec: ['/bin/sh', '-c', cmd] } }]);
  const d = await runAndGc(t, def);
  t.regex(d.stdout, /Operation not permitted/);
  t.regex(d.stdout, /rc=1/);

  const off = await preparePod(t, [{ name: 'sh', image: { exec: ['/bin/sh', '-c', `${cmd}; grep Seccomp: /proc/self/status`] } }]);
  const o = await runAndGc(t, off, ['--net=host', '--disable-seccomp']);
  t.regex(o.stdout, /rc=0/);
  t.regex(o.stdout, /Seccomp:\s+0/);

  const kill = await preparePod(t, [{ name: 'sh', image: { exec: ['/bin/sh', '-c', cmd], app: { isolators: [{ name: 'os/linux/seccomp-retain-set', value: { set: ['@rkt/default-whitelist'] } }] } } }]);
  t.regex((await runAndGc(t, kill)).stdout, /rc=159/, 'SIGSYS without errno');

  const errno = await preparePod(t, [
    { name: 'sh', image: { exec: ['/bin/sh', '-c', 'mkdir /tmp/x 2>&1; echo rc=$?'], app: { isolators: [{ name: 'os/linux/seccomp-remove-set', value: { set: ['mkdir', 'mkdirat'], errno: 'EACCES' } }] } } },
  ]);
  const e = await runAndGc(t, errno);
  t.regex(e.stdout, /Permission denied/);
  t.regex(e.stdout, /rc=1/);
});

it('hostname, IPC and DNS options', async (t) => {
  const pod = await preparePod(t, [{ name: 'probe', image: { exec: ['/bin/sh', '-c', 'cat /etc/hosts /etc/hostname; /probe'] } }]);
  const r = await runAndGc(t, pod, ['--net=host', '--hostname=web-1', '--ipc=parent', '--dns-conf-mode=resolv=host,hosts=host']);
  const p = parseProbeOutput(r.stdout);
  t.is(p.hostname, 'web-1');
  t.is(p.namespaces.ipc, readlinkSync('/proc/self/ns/ipc'));
  t.true(r.stdout.startsWith(readFileSync('/etc/hosts', 'utf8')));
  t.regex(r.stdout, /^web-1$/m);

  const fallback = await preparePod(t, [{ name: 'sh', image: { exec: ['/bin/cat', '/etc/hosts'] } }]);
  const f = await runAndGc(t, fallback, ['--net=host', '--hostname=web-2']);
  t.regex(f.stdout, /^127\.0\.0\.1 localhost/m);
  t.regex(f.stdout, /^127\.0\.0\.1 web-2$/m);
});

it('volumes: a read-only host volume, an empty volume with its mode and owner, a read-only root', async (t) => {
  const host = mkdtempSync(join(tmpdir(), 'rktnetes-s1vol-'));
  t.teardown(() => rmSync(host, { recursive: true, force: true }));
  writeFileSync(join(host, 'greeting'), 'hi\n');
  const script = 'cat /data/greeting; touch /data/x 2>&1 || echo data-ro; stat -c "%a %u %g" /scratch; touch /scratch/ok && echo scratch-rw; touch /rootfile 2>&1 || echo root-ro';
  const pod = await preparePod(t, [{ name: 'sh', image: { exec: ['/bin/sh', '-c', script], app: { mountPoints: [{ name: 'data', path: '/data', readOnly: true }] } }, runtime: { readOnlyRootFS: true, mounts: [{ volume: 'scratch', path: '/scratch' }] } }], {
    volumes: [
      { name: 'data', kind: 'host', source: host },
      { name: 'scratch', kind: 'empty', mode: '0750', uid: 1000, gid: 1001 },
    ],
  });
  const r = await runAndGc(t, pod);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^hi$/m);
  t.regex(r.stdout, /data-ro/);
  t.regex(r.stdout, /^750 1000 1001$/m);
  t.regex(r.stdout, /scratch-rw/);
  t.regex(r.stdout, /root-ro/);
});

it('--net=none: a fresh network namespace with only loopback, up', async (t) => {
  const pod = await preparePod(t, [{ name: 'sh', image: { exec: ['/bin/sh', '-c', 'ip -o link; ping -c 1 -W 1 127.0.0.1 >/dev/null && echo lo-ok; /probe'] } }]);
  const r = await runAndGc(t, pod, ['--net=none']);
  const p = parseProbeOutput(r.stdout);
  t.not(p.namespaces.net, readlinkSync('/proc/self/ns/net'));
  const links = r.stdout.split('\n').filter((l) => /^\d+: /.test(l));
  t.is(links.length, 1, r.stdout);
  t.regex(links[0]!, /^1: lo: <LOOPBACK,UP,LOWER_UP>/);
  t.regex(r.stdout, /lo-ok/);
});
