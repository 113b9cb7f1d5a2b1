/**
 * SELinux labels given by stage0 (RKT_SELINUX_CONTEXT, RKT_SELINUX_MOUNT_CONTEXT): the checks
 * run makes, the init spec keys and mount options (unit), and, on this host, real pods:
 * without labels nothing touches /proc/self/attr (traced); with a process label on a host
 * without SELinux every app process fails naming the label (apps, event handlers, `init exec`),
 * as a runtime that must not run a pod unconfined does; a mount label there stops run before
 * the pod exists. Privileged parts run real pods (root), each followed by gc and a leak check.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MS_BIND, MS_REC, recordingSys, realSys, type MountInfo } from '@rktnetes/sys';
import { formatInitSpec, type InitSpec, setupAppFs } from '@rktnetes/stage1-coreos';
import { hasBusybox, isRoot, testIf } from '@rktnetes/testkit';
import { isSelinuxLabel, podSelinux, selinuxOfSpec, withMountContext } from '../src/run/selinux';
import { addAndStart, MUTABLE_POD } from './helpers/mutable';
import { type TestPod, preparePod, readPid, readStatus, runEntrypoint, sampleInitSpec, waitFor, withGc, withRunningPod } from './helpers/pod';

const LABEL = 'system_u:system_r:svirt_lxc_net_t:s0:c1,c2';
const MOUNT_LABEL = 'system_u:object_r:svirt_lxc_file_t:s0:c1,c2';
const hostHasSelinux = existsSync('/sys/fs/selinux/enforce');

const mount = (fsType: string): MountInfo => ({ id: 1, parentId: 1, major: 0, minor: 1, root: '/', mountPoint: `/${fsType}`, options: ['rw'], optional: [], fsType, source: fsType, superOptions: [] });

// ------------------------------------------------------------------------------------ unit

test('run reads the labels: empty or unset means none', (t) => {
  t.deepEqual(podSelinux({}, []), {});
  t.deepEqual(podSelinux({ RKT_SELINUX_CONTEXT: '', RKT_SELINUX_MOUNT_CONTEXT: '' }, []), {});
  t.deepEqual(podSelinux({ RKT_SELINUX_CONTEXT: LABEL, RKT_SELINUX_MOUNT_CONTEXT: '' }, []), { context: LABEL }, 'a process label alone is left for the init');
  t.deepEqual(podSelinux({ RKT_SELINUX_CONTEXT: LABEL, RKT_SELINUX_MOUNT_CONTEXT: MOUNT_LABEL }, [mount('ext4'), mount('selinuxfs')]), { context: LABEL, mountContext: MOUNT_LABEL });
});

test('run refuses malformed labels, and a mount label where no selinuxfs is mounted', (t) => {
  for (const bad of ['svirt_lxc_net_t', 'a:b:c', 'a:b:c:s0 x', 'a:b:c:s0"', 'a\nb:c:d:s0', 'a,b:c:d:s0']) {
    const e = t.throws(() => podSelinux({ RKT_SELINUX_CONTEXT: bad }, []));
    t.is((e as { code?: string }).code, 'stage1.selinux.invalid', bad);
    t.is(e?.message, `RKT_SELINUX_CONTEXT ${JSON.stringify(bad)} is not an SELinux label user:role:type:level`);
  }
  t.is((t.throws(() => podSelinux({ RKT_SELINUX_MOUNT_CONTEXT: 'x' }, [mount('selinuxfs')])) as { code?: string }).code, 'stage1.selinux.invalid');
  const e = t.throws(() => podSelinux({ RKT_SELINUX_MOUNT_CONTEXT: MOUNT_LABEL }, [mount('ext4')]));
  t.is((e as { code?: string }).code, 'stage1.selinux.unavailable');
  t.is(e?.message, `SELinux mount label ${MOUNT_LABEL} given (RKT_SELINUX_MOUNT_CONTEXT), but SELinux is not enabled on this host (no selinuxfs mounted)`);
  t.true(isSelinuxLabel('unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023'));
});

const baseSpec = (over: Partial<InitSpec> = {}): InitSpec => sampleInitSpec({ cgroupDirs: ['/sys/fs/cgroup/pids/rkt-x'], ...over });

test('the init spec: pod keys selinux-context and selinux-mount-context, only when given', (t) => {
  const plain = formatInitSpec(baseSpec());
  t.false(plain.includes('selinux'), 'no label: no key');
  const labelled = formatInitSpec(baseSpec({ selinuxContext: LABEL, selinuxMountContext: MOUNT_LABEL }));
  const lines = labelled.split('\n');
  t.true(lines.includes(`selinux-context ${LABEL}`));
  t.true(lines.includes(`selinux-mount-context ${MOUNT_LABEL}`));
  // pod keys: after the pod's own, before the first app section; still version 1
  t.is(lines[1], 'version 1');
  t.true(lines.indexOf(`selinux-context ${LABEL}`) > lines.indexOf('cg-dir /sys/fs/cgroup/pids/rkt-x'));
  t.true(lines.indexOf(`selinux-mount-context ${MOUNT_LABEL}`) < lines.indexOf('app web'));
  t.deepEqual(selinuxOfSpec(labelled), { context: LABEL, mountContext: MOUNT_LABEL });
  t.deepEqual(selinuxOfSpec(plain), {});
  t.deepEqual(selinuxOfSpec(formatInitSpec(baseSpec({ selinuxContext: LABEL }))), { context: LABEL });
});

test('mount options: context="<label>" on /dev, /dev/pts and /dev/shm, nothing without a label', (t) => {
  t.is(withMountContext('mode=755', undefined), 'mode=755');
  t.is(withMountContext('mode=755', MOUNT_LABEL), `mode=755,context="${MOUNT_LABEL}"`);
  t.is(withMountContext('', MOUNT_LABEL), `context="${MOUNT_LABEL}"`);
  const setup = (mountContext?: string) => {
    const root = mkdtempSync(join(tmpdir(), 'rktnetes-s1selinux-'));
    t.teardown(() => rmSync(root, { recursive: true, force: true }));
    const sys = recordingSys({ mknod: (p: string) => writeFileSync(p, '') });
    setupAppFs(sys, { name: 'web', root, binds: [], readOnlyRootFS: false, ...(mountContext ? { mountContext } : {}) });
    return { root, mounts: sys.callsOf('mount') };
  };
  const plain = setup();
  t.deepEqual(plain.mounts[0], [plain.root, plain.root, null, MS_BIND | MS_REC]);
  t.deepEqual(plain.mounts.filter((m) => m[2]).map((m) => [m[2], m[4]]), [
    ['tmpfs', 'mode=755,size=65536k'],
    ['devpts', 'newinstance,ptmxmode=0666,mode=0620,gid=5'],
    ['tmpfs', 'mode=1777,size=65536k'],
  ]);
  const labelled = setup(MOUNT_LABEL);
  t.deepEqual(labelled.mounts.filter((m) => m[2]).map((m) => [m[1], m[2], m[4]]), [
    [join(labelled.root, 'dev'), 'tmpfs', `mode=755,size=65536k,context="${MOUNT_LABEL}"`],
    [join(labelled.root, 'dev/pts'), 'devpts', `newinstance,ptmxmode=0666,mode=0620,gid=5,context="${MOUNT_LABEL}"`],
    [join(labelled.root, 'dev/shm'), 'tmpfs', `mode=1777,size=65536k,context="${MOUNT_LABEL}"`],
  ]);
  t.deepEqual(labelled.mounts[0], [labelled.root, labelled.root, null, MS_BIND | MS_REC], 'bind mounts take no context');
});

// ------------------------------------------------------------------------------ real pods

const it = testIf(test, isRoot() && hasBusybox() && !hostHasSelinux, 'needs root, busybox-static and a host without SELinux');
const hasStrace = spawnSync('strace', ['-V']).status === 0;
const traced = testIf(test, isRoot() && hasBusybox() && !hostHasSelinux && hasStrace, 'needs root, busybox-static, strace and a host without SELinux');

/** Runs the pod's run entrypoint (lock on fd 3) with the given SELinux variables, optionally under `strace -f`. */
function runWith(pod: TestPod, selinux: { context?: string; mount?: string }, trace?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const sys = realSys();
  const lock = sys.openDirFd(pod.dir);
  sys.flock(lock, 'ex');
  const run = join(pod.stage1Root, 'run');
  const [cmd, args] = trace ? ['strace', ['-f', '-qq', '-e', 'trace=open,openat,openat2', '-o', trace, run, '--net=host', pod.uuid]] : [run, ['--net=host', pod.uuid]];
  const child = spawn(cmd as string, args as string[], {
    cwd: pod.dir,
    env: { ...process.env, RKT_LOCK_FD: '3', RKT_SELINUX_CONTEXT: selinux.context ?? '', RKT_SELINUX_MOUNT_CONTEXT: selinux.mount ?? '' },
    stdio: ['ignore', 'pipe', 'pipe', lock],
  });
  closeSync(lock);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? 254, stdout, stderr })));
}

const sh = (script: string) => ({ exec: ['/bin/sh', '-c', script] });

traced('without labels nothing opens /proc/*/attr, and the pod runs as before', async (t) => {
  const pod = await preparePod(t, [
    { name: 'a', image: { ...sh('echo a-ran'), app: { eventHandlers: [{ name: 'pre-start', exec: ['/bin/sh', '-c', 'echo pre-ran'] }] } } },
    { name: 'b', image: sh('echo b-ran') },
  ]);
  const trace = join(mkdtempSync(join(tmpdir(), 'rktnetes-strace-')), 'trace');
  t.teardown(() => rmSync(join(trace, '..'), { recursive: true, force: true }));
  const r = await withGc(t, pod, () => runWith(pod, {}, trace));
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.stdout.split('\n').filter(Boolean).sort(), ['a-ran', 'b-ran', 'pre-ran']);
  t.is(readStatus(pod, 'a'), 0);
  t.is(readStatus(pod, 'b'), 0);
  const spec = readFileSync(join(pod.stage1Root, 'rkt/init.spec'), 'utf8');
  t.false(spec.includes('selinux'), 'no selinux key in the init spec');
  const opens = readFileSync(trace, 'utf8');
  t.true(opens.includes('rkt/init.spec'), 'the trace covers the init');
  t.false(/\/attr\//.test(opens), opens.split('\n').filter((l) => l.includes('/attr/')).join('\n'));
});

it('a process label on a host without SELinux: each app process fails naming the label, nothing runs unlabelled', async (t) => {
  // one pod per app: in one pod, the first failure stops the others before they reach their exec
  const apps = [
    { name: 'plain', image: sh('echo plain-ran') },
    { name: 'handled', image: { ...sh('echo handled-ran'), app: { eventHandlers: [{ name: 'pre-start', exec: ['/bin/sh', '-c', 'echo pre-ran'] }] } } },
  ];
  for (const app of apps) {
    const pod = await preparePod(t, [app]);
    const r = await withGc(t, pod, () => runWith(pod, { context: LABEL }));
    t.is(r.code, 254, r.stderr);
    t.is(r.stdout, '', 'no app process ran');
    t.is(readStatus(pod, app.name), 254, app.name);
    t.true(r.stderr.includes(`stage1 init: app ${app.name}: cannot set SELinux label ${LABEL}: SELinux is not enabled on this host (no selinuxfs at /sys/fs/selinux)`), r.stderr);
    t.true(readFileSync(join(pod.stage1Root, 'rkt/init.spec'), 'utf8').split('\n').includes(`selinux-context ${LABEL}`));
    if (app.name === 'handled') t.regex(r.stderr, /app handled: pre-start handler failed with status 254/);
  }
});

it('a mount label on a host without SELinux: run fails before the pod exists', async (t) => {
  const pod = await preparePod(t, [{ name: 'plain', image: sh('echo plain-ran') }]);
  const r = await withGc(t, pod, () => runWith(pod, { context: LABEL, mount: MOUNT_LABEL }));
  t.is(r.code, 254);
  t.is(r.stdout, '');
  t.regex(r.stderr, new RegExp(`SELinux mount label ${MOUNT_LABEL.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} given \\(RKT_SELINUX_MOUNT_CONTEXT\\), but SELinux is not enabled on this host`));
  t.false(existsSync(join(pod.stage1Root, 'rkt/init.spec')));
  t.false(existsSync(join(pod.dir, 'pid')));
});

it('a malformed label: run fails naming the variable', async (t) => {
  const pod = await preparePod(t, [{ name: 'plain', image: sh('echo plain-ran') }]);
  const r = await withGc(t, pod, () => runWith(pod, { context: 'not a label' }));
  t.is(r.code, 254);
  t.regex(r.stderr, /RKT_SELINUX_CONTEXT "not a label" is not an SELinux label user:role:type:level/);
});

it('init exec (enter --appname) applies the pod\'s label too: it fails where SELinux is missing', async (t) => {
  const pod = await preparePod(t, [{ name: 'web', image: sh('echo up; exec sleep 30') }]);
  await withRunningPod(t, pod, undefined, async (running) => {
    const pid = await waitFor('pod pid', () => readPid(pod));
    await waitFor('app output', () => (running.output().stdout.includes('up') ? true : undefined));
    const enter = (cmd: string[]) => runEntrypoint(pod, 'enter', [`--pid=${pid}`, '--appname=web', '--', ...cmd]);
    const before = await enter(['/bin/sh', '-c', 'echo entered']);
    t.is(before.code, 0, before.stderr);
    t.is(before.stdout, 'entered\n');
    // the init reads the app's spec at each exec: give the pod a label as run would have
    const specPath = join(pod.stage1Root, 'rkt/init.spec');
    const spec = readFileSync(specPath, 'utf8');
    writeFileSync(specPath, spec.replace('\napp web\n', `\nselinux-context ${LABEL}\napp web\n`));
    const after = await enter(['/bin/sh', '-c', 'echo entered']);
    t.is(after.code, 254, after.stdout);
    t.is(after.stdout, '');
    t.true(after.stderr.includes(`stage1 init: app web: cannot set SELinux label ${LABEL}: SELinux is not enabled on this host`), after.stderr);
  });
});

it('a mutable pod: init exec finds the pod\'s label in the pod spec, next to the app\'s own spec', async (t) => {
  const pod = await preparePod(t, [], MUTABLE_POD);
  await withRunningPod(t, pod, ['--net=host', '--mutable'], async () => {
    const pid = await waitFor('pod pid', () => readPid(pod));
    await addAndStart(t, pod, { name: 'web' }, sh('exec sleep 30'));
    await waitFor('app pid', () => (existsSync(join(pod.stage1Root, 'rkt/pids/web')) ? true : undefined));
    const enter = () => runEntrypoint(pod, 'enter', [`--pid=${pid}`, '--appname=web', '--', '/bin/sh', '-c', 'echo entered']);
    const before = await enter();
    t.is(before.code, 0, before.stderr);
    t.is(before.stdout, 'entered\n');
    t.true(existsSync(join(pod.stage1Root, 'rkt/spec/web')), 'the app has a spec of its own');
    appendFileSync(join(pod.stage1Root, 'rkt/init.spec'), `selinux-context ${LABEL}\n`);
    const after = await enter();
    t.is(after.code, 254, after.stdout);
    t.is(after.stdout, '');
    t.true(after.stderr.includes(`stage1 init: app web: cannot set SELinux label ${LABEL}: SELinux is not enabled on this host`), after.stderr);
  });
});

test('this host has no SELinux (the real-pod tests above are meaningful)', (t) => {
  if (hostHasSelinux) t.pass('SELinux host: the failure tests are skipped');
  else t.false(readFileSync('/proc/filesystems', 'utf8').includes('selinuxfs'), 'no selinuxfs known to the kernel');
});
