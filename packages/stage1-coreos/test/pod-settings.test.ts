/**
 * Pod-level settings of stage1-coreos: namespaced sysctls (the `os/unix/sysctl` pod isolator),
 * the cgroup parent and pid namespace pod annotations, per-app pid namespaces, volume mount
 * propagation, and the reaping of processes orphaned in the pod. The unit checks run anywhere;
 * the pods (root) are checked from the inside and followed by gc and a leak check.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasCode } from '@rktnetes/errors';
import { parsePodManifest } from '@rktnetes/schema';
import {
  checkBindPropagation,
  formatAppSpec,
  formatInitSpec,
  mountOf,
  planPodCgroups,
  podSettings,
  sharedGraftArgv,
  withCgroupParent,
  type Hierarchy,
} from '@rktnetes/stage1-coreos';
import { MNT_DETACH, MS_BIND, MS_REC, MS_SHARED, MS_PRIVATE, realSys, type MountInfo } from '@rktnetes/sys';
import { assertNoLeaks, hasBusybox, isRoot, leakCheck, testIf, tmpDir } from '@rktnetes/testkit';
import { addAndStart, crossing, MUTABLE_POD, stageApp, startMutable } from './helpers/mutable';
import { preparePod, readPid, runAndGc, runEntrypoint, sampleInitApp, startPod, waitFor, type TestPod } from './helpers/pod';

const it = testIf(test, isRoot() && hasBusybox(), 'needs root and busybox-static');

// ------------------------------------------------------------------------------ unit checks

const app = sampleInitApp();

test('the init spec carries the pid mode, the sysctls and the apps\' pid namespaces', (t) => {
  const text = formatInitSpec({
    debug: false,
    lockFd: 3,
    stage1Root: '/s1',
    hostname: 'h',
    network: { mode: 'none' },
    ipc: 'private',
    pid: 'host',
    sysctls: [
      { path: 'kernel/shm_rmid_forced', value: '1' },
      { path: 'kernel/sem', value: '250 32000 32 128' },
    ],
    interactive: false,
    stopTimeoutSeconds: 10,
    cgroupJoins: [],
    cgroupMoves: [],
    cgroupWrites: [],
    apps: [{ ...app, pidNamespace: 'private' }],
  });
  const lines = text.split('\n');
  t.true(lines.includes('pid host'));
  t.true(lines.includes('sysctl kernel/shm_rmid_forced 1'));
  t.true(lines.includes('sysctl kernel/sem 250\\s32000\\s32\\s128'));
  t.true(lines.includes('pidns private'));
  t.false(formatAppSpec(app).includes('pidns'), 'the pod namespace is the default');
  t.false(formatInitSpec({ debug: false, lockFd: 3, stage1Root: '/s1', hostname: 'h', network: { mode: 'host' }, ipc: 'private', interactive: false, stopTimeoutSeconds: 1, cgroupJoins: [], cgroupMoves: [], cgroupWrites: [], apps: [] }).includes('\npid '));
});

const manifest = (m: Record<string, unknown>) => parsePodManifest({ acKind: 'PodManifest', acVersion: '0.8.11', apps: [], ...m });

test('pod settings: sysctls from the pod isolator, checked against the pod\'s namespaces; cgroup parent and pid annotations', (t) => {
  const warnings: string[] = [];
  const s = podSettings(
    manifest({
      isolators: [
        { name: 'os/unix/sysctl', value: { 'kernel.shm_rmid_forced': '1', 'net.ipv4.ip_unprivileged_port_start': '0' } },
        { name: 'resource/memory', value: { limit: '1G' } },
      ],
      annotations: [
        { name: 'rktnetes.io/stage1/cgroup-parent', value: 'kubepods/pod1/' },
        { name: 'rktnetes.io/stage1/pid-namespace', value: 'host' },
      ],
    }),
    { net: [{ name: 'default' }] },
    (w) => warnings.push(w),
  );
  t.deepEqual(s, {
    sysctls: [
      { path: 'kernel/shm_rmid_forced', value: '1' },
      { path: 'net/ipv4/ip_unprivileged_port_start', value: '0' },
    ],
    cgroupParent: '/kubepods/pod1',
    pid: 'host',
  });
  t.deepEqual(warnings, ['pod isolator resource/memory is not supported by stage1-coreos, ignoring it']);
  t.deepEqual(podSettings(manifest({}), {}, () => undefined), { sysctls: [], pid: 'private' });
  const sysctl = (values: Record<string, string>, args: { net?: Array<{ name: string }>; ipc?: 'parent' }) => () =>
    podSettings(manifest({ isolators: [{ name: 'os/unix/sysctl', value: values }] }), args, () => undefined);
  t.true(hasCode(t.throws(sysctl({ 'net.ipv4.ip_forward': '1' }, {})), 'stage1.sysctl.invalid'), 'no --net is the host network');
  t.true(hasCode(t.throws(sysctl({ 'net.ipv4.ip_forward': '1' }, { net: [{ name: 'host' }] })), 'stage1.sysctl.invalid'));
  t.true(hasCode(t.throws(sysctl({ 'kernel.msgmax': '1' }, { net: [{ name: 'none' }], ipc: 'parent' })), 'stage1.sysctl.invalid'));
  t.true(hasCode(t.throws(sysctl({ 'vm.swappiness': '1' }, { net: [{ name: 'none' }] })), 'stage1.sysctl.invalid'));
  t.true(hasCode(t.throws(() => podSettings(manifest({ annotations: [{ name: 'rktnetes.io/stage1/pid-namespace', value: 'pod' }] }), {}, () => undefined)), 'stage1.annotation.invalid'));
});

test('a cgroup parent moves the pod cgroups and creates the directories down to it', (t) => {
  const hs: Hierarchy[] = [
    { version: 1, controllers: ['memory'], mountPoint: '/sys/fs/cgroup/memory', selfPath: '/user/x', base: '/sys/fs/cgroup/memory/user/x' },
    { version: 2, controllers: ['cpu', 'memory', 'pids'], mountPoint: '/sys/fs/cgroup', selfPath: '/user/x', base: '/sys/fs/cgroup/user/x' },
  ];
  const moved = withCgroupParent(hs, '/kubepods/pod1', () => ['cpu', 'memory', 'io']);
  t.deepEqual(
    moved.map((h) => [h.base, h.selfPath, h.ancestors]),
    [
      ['/sys/fs/cgroup/memory/kubepods/pod1', '/kubepods/pod1', ['/sys/fs/cgroup/memory', '/sys/fs/cgroup/memory/kubepods', '/sys/fs/cgroup/memory/kubepods/pod1']],
      ['/sys/fs/cgroup/kubepods/pod1', '/kubepods/pod1', ['/sys/fs/cgroup', '/sys/fs/cgroup/kubepods', '/sys/fs/cgroup/kubepods/pod1']],
    ],
  );
  const plan = planPodCgroups(moved.slice(0, 1), 'u', [{ name: 'a', resources: {} }], { restrictDevices: false });
  t.deepEqual(plan.dirs, ['/sys/fs/cgroup/memory/kubepods', '/sys/fs/cgroup/memory/kubepods/pod1', '/sys/fs/cgroup/memory/kubepods/pod1/rkt-u', '/sys/fs/cgroup/memory/kubepods/pod1/rkt-u/a']);
  t.is(plan.subcgroup, 'kubepods/pod1/rkt-u');
  // cgroup v2 only: the controllers are enabled from the root down
  const unified = planPodCgroups(moved.slice(1), 'u', [], { restrictDevices: false });
  t.deepEqual(
    unified.writes.map((w) => `${w.path}=${w.value}`),
    [
      '/sys/fs/cgroup/cgroup.subtree_control=+cpu +memory',
      '/sys/fs/cgroup/kubepods/cgroup.subtree_control=+cpu +memory',
      '/sys/fs/cgroup/kubepods/pod1/cgroup.subtree_control=+cpu +memory',
      '/sys/fs/cgroup/kubepods/pod1/rkt-u/cgroup.subtree_control=+cpu +memory',
    ],
  );
  t.deepEqual(withCgroupParent(hs.slice(0, 1), '').map((h) => [h.base, h.selfPath]), [['/sys/fs/cgroup/memory', '/']]);
});

const mi = (id: number, mountPoint: string, optional: string[]): MountInfo => ({
  id,
  parentId: 1,
  major: 0,
  minor: 0,
  root: '/',
  mountPoint,
  options: [],
  optional,
  fsType: 'ext4',
  source: 'x',
  superOptions: [],
});

test('propagation needs a shared (rshared) or shared or slave (rslave) source mount', (t) => {
  const mounts = [mi(1, '/', []), mi(2, '/srv', ['shared:7']), mi(3, '/srv/slave', ['master:7']), mi(4, '/srv/priv', [])];
  t.is(mountOf('/srv/a/b', mounts)?.id, 2);
  t.is(mountOf('/srvx', mounts)?.id, 1);
  t.is(mountOf('/srv/slave', mounts)?.id, 3);
  const check = (source: string, propagation: 'rshared' | 'rslave' | 'rprivate') => () => checkBindPropagation([{ source, path: '/v', propagation }], mounts);
  t.notThrows(check('/srv/a', 'rshared'));
  t.notThrows(check('/srv/a', 'rslave'));
  t.notThrows(check('/srv/slave/x', 'rslave'));
  t.notThrows(check('/srv/priv', 'rprivate'));
  const e = t.throws(check('/srv/slave/x', 'rshared'));
  t.true(hasCode(e, 'stage1.volume.propagation'));
  t.regex(e!.message, /\/srv\/slave\/x is on mount \/srv\/slave, which is not a shared mount/);
  t.true(hasCode(t.throws(check('/srv/priv/y', 'rslave')), 'stage1.volume.propagation'));
});

test('the graft of rshared volumes names targets in the root of the process', (t) => {
  t.deepEqual(sharedGraftArgv(42, [{ source: '/srv/a', target: '/pod/stage1/rootfs/opt/stage2/web/rootfs/data', readOnly: false }], '/pod/stage1/rootfs', false), [
    'graft',
    '42',
    '--source-ns=3',
    '/srv/a',
    '/opt/stage2/web/rootfs/data',
  ]);
  t.deepEqual(sharedGraftArgv(7, [{ source: '/x', target: '/y/z', readOnly: true }], '/', true), ['graft', '7', '--source-ns=3', '--read-only', '/x', '/y/z']);
});

// ------------------------------------------------------------------------------ real pods

/** The lines an app wrote to stdout, from its log `rkt/log/<app>` (CRI format). */
function appOutput(pod: TestPod, app: string): string[] {
  const file = join(pod.stage1Root, 'rkt/log', app);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => / stdout F /.test(l))
    .map((l) => l.replace(/^\S+ stdout F /, ''));
}

/** The value of `key=value` in an app's output. */
const valueOf = (lines: readonly string[], key: string) => lines.find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1);

it('namespaced sysctls are set in the pod before the apps start, the host keeps its values', async (t) => {
  const keys = ['kernel/shm_rmid_forced', 'fs/mqueue/msg_max', 'kernel/msgmax', 'net/ipv4/ip_unprivileged_port_start'];
  const host = keys.map((k) => readFileSync(`/proc/sys/${k}`, 'utf8'));
  const script = `for k in ${keys.join(' ')}; do echo "$k=$(cat /proc/sys/$k)"; done; echo 0 > /proc/sys/kernel/shm_rmid_forced 2>/dev/null || echo ro=yes`;
  const pod = await preparePod(t, [{ name: 'sh', image: { exec: ['/bin/sh', '-c', script] } }], {
    isolators: [{ name: 'os/unix/sysctl', value: { 'kernel.shm_rmid_forced': '1', 'fs.mqueue.msg_max': '100', 'kernel.msgmax': '12345', 'net.ipv4.ip_unprivileged_port_start': '80' } }],
  });
  const r = await runAndGc(t, pod, ['--net=none']);
  t.is(r.code, 0, r.stderr);
  const out = r.stdout.trim().split('\n');
  t.is(valueOf(out, 'kernel/shm_rmid_forced'), '1');
  t.is(valueOf(out, 'fs/mqueue/msg_max'), '100');
  t.is(valueOf(out, 'kernel/msgmax'), '12345');
  t.is(valueOf(out, 'net/ipv4/ip_unprivileged_port_start'), '80');
  t.is(valueOf(out, 'ro'), 'yes', '/proc/sys stays read-only for the app');
  t.deepEqual(
    keys.map((k) => readFileSync(`/proc/sys/${k}`, 'utf8')),
    host,
    'the host keeps its values',
  );
});

it('host-wide sysctls and net sysctls with the host network are refused before anything is set up', async (t) => {
  for (const [values, args, why] of [
    [{ 'kernel.panic': '5' }, ['--net=none'], /kernel\.panic: not a namespaced sysctl/],
    [{ 'net.ipv4.ip_forward': '1' }, ['--net=host'], /host network namespace/],
    [{ 'kernel.shmmax': '1' }, ['--net=none', '--ipc=parent'], /host IPC namespace/],
  ] as const) {
    const pod = await preparePod(t, [{ name: 'sh', image: { exec: ['/bin/true'] } }], { isolators: [{ name: 'os/unix/sysctl', value: values }] });
    const r = await runAndGc(t, pod, [...args]);
    t.is(r.code, 254);
    t.regex(r.stderr, why);
    t.false(existsSync(join(pod.dir, 'runtime-config')), 'nothing was created');
  }
});

it('an app with a pid namespace of its own is its PID 1 with its own /proc; the others share the pod\'s', async (t) => {
  const own = ': marker-own; sleep 1; echo pid=$$; echo cmd=$(tr "\\0" " " < /proc/1/cmdline); echo procs=$(ls /proc | grep -c "^[0-9]"); echo keys=$(wc -c < /proc/keys); echo sys=$(grep " /proc/sys " /proc/mounts | cut -d" " -f4 | cut -d, -f1); sleep 3; exit 0';
  const shared = 'sleep 2; echo pid=$$; echo one=$(tr "\\0" " " < /proc/1/cmdline); echo seen=$(ps -o args | grep -c "[m]arker-own"); sleep 1';
  const pod = await preparePod(t, [
    { name: 'own', image: { exec: ['/bin/sh', '-c', own] }, runtime: { annotations: [{ name: 'rktnetes.io/stage2/pid-namespace', value: 'private' }] } },
    { name: 'shared', image: { exec: ['/bin/sh', '-c', shared] } },
  ]);
  const r = await runAndGc(t, pod, ['--net=none']);
  t.is(r.code, 0, r.stderr);
  const o = appOutput(pod, 'own');
  t.is(valueOf(o, 'pid'), '1', o.join('\n'));
  t.regex(valueOf(o, 'cmd') ?? '', /^\/bin\/sh -c : marker-own/);
  // sh, the command substitution's subshell, ls and grep: nothing of the pod's
  t.true(Number(valueOf(o, 'procs')) <= 4, `only the app's processes: ${valueOf(o, 'procs')}`);
  t.is(valueOf(o, 'keys'), '0', '/proc/keys is masked in the new /proc too');
  t.is(valueOf(o, 'sys'), 'ro', '/proc/sys is read-only in the new /proc too');
  const s = appOutput(pod, 'shared');
  t.not(valueOf(s, 'pid'), '1');
  t.notRegex(valueOf(s, 'one') ?? '', /\/bin\/sh/, 'PID 1 of the pod is the init');
  t.true(Number(valueOf(s, 'seen')) >= 1, 'the pod\'s namespace holds the other app\'s processes (a child namespace)');
  t.true(readFileSync(join(pod.stage1Root, 'rkt/init.spec'), 'utf8').includes('\npidns private\n'));
});

/** Removes the cgroup directories below `/sys/fs/cgroup/<hierarchy>/<top>`, deepest first. */
function removeCgroupTree(top: string): void {
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const walk = (d: string): void => {
      if (!existsSync(d)) return;
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
      rmdirSync(d);
    };
    try {
      walk(join('/sys/fs/cgroup', h, top));
    } catch {
      // not a hierarchy
    }
  }
}

it('the cgroup parent annotation puts the pod cgroups below it, creating it', async (t) => {
  const top = `rktnetes-test-${process.pid}`;
  t.teardown(() => removeCgroupTree(top));
  const pod = await preparePod(t, [{ name: 'sh', image: { exec: ['/bin/sh', '-c', 'cat /proc/self/cgroup'] } }], {
    annotations: [{ name: 'rktnetes.io/stage1/cgroup-parent', value: `/${top}/inner` }],
  });
  const check = await leakCheck({ match: pod.uuid, cgroupRoots: ['/sys/fs/cgroup'], iptables: false, veth: false });
  const run = startPod(pod, ['--net=none']);
  const r = await run.done;
  t.is(r.code, 0, r.stderr);
  t.is(readFileSync(join(pod.dir, 'subcgroup'), 'utf8'), `${top}/inner/rkt-${pod.uuid}`);
  const recorded = (JSON.parse(readFileSync(join(pod.dir, 'runtime-config'), 'utf8')) as { cgroups: string[] }).cgroups;
  t.true(recorded.length > 0);
  for (const d of recorded) t.regex(d, new RegExp(`^/sys/fs/cgroup/[^/]+/${top}/inner/rkt-${pod.uuid}$`));
  t.true(existsSync(`/sys/fs/cgroup/memory/${top}/inner/rkt-${pod.uuid}/sh`), 'the app cgroup is below the parent');
  t.is((await runEntrypoint(pod, 'gc', [pod.uuid])).code, 0);
  await assertNoLeaks(t, check);
  t.true(existsSync(`/sys/fs/cgroup/memory/${top}/inner`), 'the parent stays (it is the caller\'s)');
});

it('a pod in the host pid namespace: apps have host pids, PID 1 reaps their orphans, stop signals only the pod', async (t) => {
  const pod = await preparePod(t, [{ name: 'sh', image: { exec: ['/bin/sh', '-c', 'echo pid=$$; (sleep 300 &); exec sleep 300'] } }], {
    annotations: [{ name: 'rktnetes.io/stage1/pid-namespace', value: 'host' }],
  });
  const check = await leakCheck({ match: pod.uuid, cgroupRoots: ['/sys/fs/cgroup'], iptables: false, veth: false });
  const run = startPod(pod, ['--net=none']);
  t.teardown(() => run.child.kill('SIGKILL'));
  const pid1 = await waitFor('pid file', () => readPid(pod));
  const appPid = Number(await waitFor('app output', () => valueOf(appOutput(pod, 'sh'), 'pid')));
  t.is(readlinkSync(`/proc/${appPid}/ns/pid`), readlinkSync('/proc/self/ns/pid'), 'the app is in our pid namespace');
  t.is(readlinkSync(`/proc/${pid1}/ns/pid`), readlinkSync('/proc/self/ns/pid'));
  // the orphaned `sleep 300` (its subshell exited) is PID 1's child, not the host's
  const orphan = await waitFor('orphan', () => {
    const kids = readFileSync(`/proc/${pid1}/task/${pid1}/children`, 'utf8').trim().split(/\s+/).map(Number);
    return kids.find((k) => k !== appPid);
  });
  t.regex(readFileSync(`/proc/${orphan}/cmdline`, 'utf8'), /^sleep.300/);
  const stop = await runEntrypoint(pod, 'stop', [pod.uuid]);
  t.is(stop.code, 0, stop.stderr);
  const r = await run.done;
  t.true(r.code === 143 || r.code === 0, `pod status ${r.code}: ${r.stderr}`);
  t.false(existsSync(`/proc/${orphan}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${orphan}/status`, 'utf8')), 'the orphan went with the pod');
  t.true(existsSync('/proc/1'), 'the host survived');
  t.is((await runEntrypoint(pod, 'gc', [pod.uuid])).code, 0);
  await assertNoLeaks(t, check);
});

// ------------------------------------------------------------------------------ mutable pods

/** `enter --appname`: a command run as the app runs. */
const enterApp = (pod: TestPod, app: string, command: string[]) => runEntrypoint(pod, 'enter', [`--pid=${readPid(pod)}`, `--appname=${app}`, '--', ...command]);

it('mutable pods: an added app with a pid namespace of its own, and commands exec\'d in it', async (t) => {
  const pod = await preparePod(t, [], MUTABLE_POD);
  const check = await leakCheck({ match: pod.uuid, cgroupRoots: ['/sys/fs/cgroup'], iptables: false, veth: false });
  const { run } = startMutable(t, pod, ['--net=none']);
  await waitFor('pid file', () => readPid(pod));
  await addAndStart(t, pod, { name: 'own', annotations: [{ name: 'rktnetes.io/stage2/pid-namespace', value: 'private' }] }, { exec: ['/bin/sh', '-c', 'trap "exit 0" TERM; : marker; while :; do sleep 1; done'] });
  await addAndStart(t, pod, { name: 'other' }, { exec: ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'] });
  const e = await enterApp(pod, 'own', ['/bin/sh', '-c', 'echo $$; tr "\\0" " " < /proc/1/cmdline; echo; ls /proc | grep -c "^[0-9]"']);
  t.is(e.code, 0, e.stderr);
  const [pid, cmd, procs] = e.stdout.trim().split('\n');
  t.not(pid, '1', 'the command is not the namespace\'s init');
  t.regex(cmd ?? '', /: marker/, 'PID 1 is the app');
  t.true(Number(procs) <= 6, `the app's namespace holds the app and the command only: ${procs}`);
  const o = await enterApp(pod, 'other', ['/bin/sh', '-c', 'ps -o args | grep -c "[:] marker"']);
  t.is(o.stdout.trim(), '1', 'the pod\'s namespace sees the app');
  t.is((await crossing(pod, 'app_stop', ['--debug=false', '--app=own'])).code, 0, 'a trap makes SIGTERM reach the namespace\'s init');
  t.is(readFileSync(join(pod.stage1Root, 'rkt/status/own'), 'utf8'), '0\n');
  t.is((await runEntrypoint(pod, 'stop', [pod.uuid])).code, 0);
  t.is((await run.done).code, 0);
  t.is((await runEntrypoint(pod, 'gc', [pod.uuid])).code, 0);
  await assertNoLeaks(t, check);
});

/** Processes in the pid namespace `ns` (a /proc/<pid>/ns/pid link) whose command name is `comm`, zombies included. */
function processesIn(ns: string, comm: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/pid`) === ns && readFileSync(`/proc/${e}/stat`, 'utf8').includes(`(${comm})`)) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

it('what an exec\'d command leaves when it is killed is reparented to PID 1 of the pod and reaped', async (t) => {
  const pod = await preparePod(t, [], MUTABLE_POD);
  const { run } = startMutable(t, pod, ['--net=none']);
  const pid1 = await waitFor('pid file', () => readPid(pod));
  await addAndStart(t, pod, { name: 'app' }, { exec: ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'] });
  const ns = readlinkSync(`/proc/${pid1}/ns/pid`);
  // as ExecSync's timeout does: the whole process group of the exec is killed
  const exec = spawn(join(pod.stage1Root, 'enter'), [`--pid=${pid1}`, '--appname=app', '--', '/bin/sh', '-c', 'yes > /dev/null; echo not reached'], { cwd: pod.dir, stdio: 'ignore', detached: true });
  const [yes] = await waitFor('yes', () => (processesIn(ns, 'yes').length ? processesIn(ns, 'yes') : undefined));
  // the command's parent chain stays in the pod: yes -> sh -> the init's middle process, whose parent is `init exec`
  const ppid = (pid: number) => Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  const middle = ppid(ppid(yes!));
  t.is(readlinkSync(`/proc/${middle}/ns/pid`), ns, 'the command\'s parent is in the pod');
  process.kill(-exec.pid!, 'SIGKILL');
  // yes and sh (zombies included) are gone: PID 1 reaped them; only the app's sh is left
  await waitFor('reaped', () => (processesIn(ns, 'yes').length === 0 && processesIn(ns, 'sh').length === 1 ? true : undefined), 5000);
  t.pass();

  t.is((await runEntrypoint(pod, 'stop', [pod.uuid])).code, 0);
  t.is((await run.done).code, 0);
});

it('volume propagation: rprivate receives nothing, rslave the host\'s mounts, rshared both ways', async (t) => {
  const sys = realSys();
  const host = await tmpDir('s1coreos-prop', t);
  const mounted: string[] = [];
  t.teardown(() => {
    for (const m of mounted.reverse()) {
      try {
        sys.umount2(m, MNT_DETACH);
      } catch {
        // already gone
      }
    }
  });
  const flag = join(host, 'flagdir');
  mkdirSync(flag);
  writeFileSync(join(flag, 'flag'), 'x');
  const kinds = { rprivate: MS_PRIVATE, rslave: MS_SHARED, rshared: MS_SHARED } as const;
  for (const [k, prop] of Object.entries(kinds)) {
    const src = join(host, k);
    mkdirSync(join(src, 'sub'), { recursive: true });
    mkdirSync(join(src, 'back'), { recursive: true });
    sys.mount(src, src, null, MS_BIND | MS_REC);
    mounted.push(src);
    sys.mount(null, src, null, prop | MS_REC);
  }
  const pod = await preparePod(t, [], MUTABLE_POD);
  const check = await leakCheck({ match: pod.uuid, cgroupRoots: ['/sys/fs/cgroup'], iptables: false, veth: false });
  const { run } = startMutable(t, pod, ['--net=none', '--disable-seccomp', '--disable-capabilities-restriction']);
  await waitFor('pid file', () => readPid(pod));
  const mounts = Object.keys(kinds).map((k) => ({
    volume: k,
    path: `/v/${k}`,
    appVolume: { name: k, kind: 'host', source: join(host, k), propagation: k },
  }));
  await addAndStart(t, pod, { name: 'app', mounts } as never, { exec: ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'] });
  // host -> app: a mount made on the host below each source after the app started
  for (const k of Object.keys(kinds)) {
    sys.mount(flag, join(host, k, 'sub'), null, MS_BIND);
    mounted.push(join(host, k, 'sub'));
  }
  const seen = await enterApp(pod, 'app', ['/bin/sh', '-c', 'for k in rprivate rslave rshared; do echo "$k=$(ls /v/$k/sub)"; done']);
  t.is(seen.code, 0, seen.stderr);
  t.deepEqual(seen.stdout.trim().split('\n'), ['rprivate=', 'rslave=flag', 'rshared=flag']);
  // app -> host: a mount made in the app (as critest does, through exec)
  for (const k of Object.keys(kinds)) mounted.push(join(host, k, 'back'));
  const m = await enterApp(pod, 'app', ['/bin/sh', '-c', 'for k in rprivate rslave rshared; do mount --bind /etc /v/$k/back || exit 1; done']);
  t.is(m.code, 0, m.stderr);
  t.deepEqual(
    Object.keys(kinds).map((k) => readdirSync(join(host, k, 'back')).includes('passwd')),
    [false, false, true],
    'only the rshared volume sends the app\'s mount back',
  );
  t.is((await runEntrypoint(pod, 'stop', [pod.uuid])).code, 0);
  t.is((await run.done).code, 0);
  t.is((await runEntrypoint(pod, 'gc', [pod.uuid])).code, 0);
  t.true(readdirSync(join(host, 'rshared', 'sub')).includes('flag'), 'the pod\'s end does not unmount the host\'s mounts');
  await assertNoLeaks(t, check);
});

it('rshared and rslave propagation need a source that can propagate', async (t) => {
  const host = await tmpDir('s1coreos-prop', t);
  const pod = await preparePod(t, [], MUTABLE_POD);
  startMutable(t, pod, ['--net=none']);
  await waitFor('pid file', () => readPid(pod));
  await stageApp(pod, { name: 'app', mounts: [{ volume: 'v', path: '/v', appVolume: { name: 'v', kind: 'host', source: host, propagation: 'rshared' } as never }] }, { exec: ['/bin/true'] });
  const add = await crossing(pod, 'app_add', ['--debug=false', `--uuid=${pod.uuid}`, '--app=app']);
  t.is(add.code, 254);
  t.regex(add.stderr, /rshared propagation for \/v: .* which is not a shared mount/);
});

it('an immutable pod\'s rshared volume: the app\'s mounts reach the host', async (t) => {
  const sys = realSys();
  const host = await tmpDir('s1coreos-prop', t);
  const src = join(host, 'src');
  mkdirSync(join(src, 'back'), { recursive: true });
  sys.mount(src, src, null, MS_BIND | MS_REC);
  t.teardown(() => {
    for (const m of [join(src, 'back'), src]) {
      try {
        sys.umount2(m, MNT_DETACH);
      } catch {
        // not mounted
      }
    }
  });
  sys.mount(null, src, null, MS_SHARED | MS_REC);
  const pod = await preparePod(t, [{ name: 'sh', image: { exec: ['/bin/sh', '-c', 'mount --bind /etc /v/back && grep " /v " /proc/self/mountinfo'] }, runtime: { mounts: [{ volume: 'v', path: '/v' }] } }], {
    volumes: [{ name: 'v', kind: 'host', source: src, propagation: 'rshared' } as never],
  });
  const r = await runAndGc(t, pod, ['--net=none', '--disable-seccomp', '--disable-capabilities-restriction']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /shared:\d+/, 'the volume is a shared mount in the app');
  t.true(readdirSync(join(src, 'back')).includes('passwd'), 'the app\'s mount is on the host');
});
