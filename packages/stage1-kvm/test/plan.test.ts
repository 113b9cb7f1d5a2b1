/**
 * Planning a pod's VM from its directory, without booting anything: a pod directory with
 * busybox app roots (no stage1 image), and run/gc/stop driven with the recording Sys fake.
 */
import test from 'ava';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { appDir, appEnvPath, newPodUUID, podDir, podManifestPath, stage1RootfsPath } from '@rktnetes/common';
import { hasCode } from '@rktnetes/errors';
import type { CommandRunner } from '@rktnetes/pod-net';
import { parseIsolator, podManifest, serializePodManifest, type PodManifestInput } from '@rktnetes/schema';
import { appSeccomp, compileSeccompFilter, evaluateSeccompFilter, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SYSCALLS_X86_64 } from '@rktnetes/seccomp';
import { ANNOTATION_APP_MASKED_PATHS, ANNOTATION_APP_READONLY_PATHS, ANNOTATION_APP_SECCOMP_PROFILE, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, formatPathList } from '@rktnetes/stage1-abi';
import {
  applyHostPrep,
  capabilityMask,
  enterRequest,
  findExecutable,
  kvmGc,
  kvmLogger,
  kvmStop,
  loadKvmPod,
  parseGuestSpec,
  planPod,
  prepareKvmRun,
  resolveCredentials,
  resolveInRoot,
  retainedCapabilities,
  type PlanOptions,
} from '@rktnetes/stage1-kvm';
import { MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT, recordingSys } from '@rktnetes/sys';
import { busyboxImage, runCommandOk, tmpDir, type Teardownable } from '@rktnetes/testkit';

const opts: PlanOptions = { hostname: 'rkt-test', dnsConfMode: { resolv: 'default', hosts: 'default' }, allCapabilities: false, interactive: false };

interface Pod {
  dir: string;
  uuid: string;
  rootfs(app: string): string;
}

/** A pod directory with busybox app roots and a pod manifest (`apps` map name -> runtime fields). */
async function fakePod(t: Teardownable, apps: Record<string, Record<string, unknown>>, extra: Omit<PodManifestInput, 'apps'> = {}): Promise<Pod> {
  const data = await tmpDir('kvm-plan', t);
  const uuid = newPodUUID();
  const dir = podDir(data, 'run', uuid);
  const aci = join(data, 'busybox.aci');
  writeFileSync(aci, await busyboxImage());
  for (const name of Object.keys(apps)) {
    mkdirSync(appDir(dir, name), { recursive: true });
    await runCommandOk('tar', ['-xf', aci, '-C', appDir(dir, name)]);
  }
  const manifest = podManifest({ ...extra, apps: Object.entries(apps).map(([name, rt]) => ({ name, ...rt })) });
  writeFileSync(podManifestPath(dir), serializePodManifest(manifest));
  return { dir, uuid, rootfs: (app) => join(appDir(dir, app), 'rootfs') };
}

const sh = (script: string, more: Record<string, unknown> = {}) => ({ app: { exec: ['sh', '-c', script], user: '0', group: '0', ...more } });

test('an app runs in its root on the pod share with proc, sys, a small /dev and the default capabilities', async (t) => {
  const pod = await fakePod(t, { web: sh('true', { user: 'user', group: 'user', supplementaryGIDs: [1001], workingDirectory: '/home/user', environment: [{ name: 'A', value: '1' }] }) });
  const plan = planPod(loadKvmPod(pod.dir, pod.uuid), opts);
  const app = plan.apps[0]!;
  const root = '/pod/stage1/rootfs/opt/stage2/web/rootfs';
  t.is(app.root, root);
  t.is(app.path, '/bin/sh', 'a bare name is found in the PATH inside the app');
  t.deepEqual(app.argv, ['sh', '-c', 'true']);
  t.is(app.cwd, '/home/user');
  t.deepEqual([app.uid, app.gid, app.groups], [1000, 1000, [1000, 1001]]);
  t.is(app.statusPath, '/pod/stage1/rootfs/rkt/status/web');
  t.is(app.logPath, '/pod/stage1/rootfs/rkt/log/web');
  t.deepEqual(app.env.find(([n]) => n === 'A'), ['A', '1']);
  t.deepEqual(app.env.find(([n]) => n === 'AC_APP_NAME'), ['AC_APP_NAME', 'web']);
  t.truthy(app.env.find(([n]) => n === 'PATH'));
  t.deepEqual(
    app.steps.map((s) => (s.kind === 'mount' ? `${s.fstype ?? 'bind'} ${s.target}` : `devnodes ${s.dir}`)),
    ['proc', 'sys', 'dev', 'devnodes', 'dev/pts', 'dev/shm'].map((x) =>
      x === 'devnodes' ? `devnodes ${root}/dev` : x === 'proc' ? `proc ${root}/proc` : x === 'sys' ? `sysfs ${root}/sys` : x === 'dev' ? `tmpfs ${root}/dev` : x === 'dev/pts' ? `devpts ${root}/dev/pts` : `tmpfs ${root}/dev/shm`,
    ),
  );
  t.is(app.caps, capabilityMask({ exec: ['x'], user: '0', group: '0' }, false));
  t.deepEqual(plan.envFiles, [{ app: 'web', env: app.env }]);
  // busybox images have no /etc/hosts: a fallback is written with the hostname
  const hosts = plan.prep.find((p) => p.path.endsWith('/etc/hosts'));
  t.regex(hosts?.content ?? '', /127\.0\.1\.1 rkt-test/);
});

test('host volumes are bind-mounted below the pod directory and bound into the apps; empty volumes live in sharedVolumes', async (t) => {
  const host = await tmpDir('kvm-plan-vol', t);
  mkdirSync(join(host, 'dir'));
  writeFileSync(join(host, 'file.conf'), 'x');
  const pod = await fakePod(
    t,
    {
      a: { ...sh('true'), mounts: [{ volume: 'data', path: '/data' }, { volume: 'conf', path: '/etc/app.conf' }, { volume: 'tmp', path: '/scratch' }] },
      b: { ...sh('true'), mounts: [{ volume: 'data', path: '/srv' }] },
    },
    {
      volumes: [
        { name: 'data', kind: 'host', source: join(host, 'dir'), recursive: true },
        { name: 'conf', kind: 'host', source: join(host, 'file.conf'), readOnly: true },
        { name: 'tmp', kind: 'empty', mode: '0700', uid: 5, gid: 6 },
      ],
    },
  );
  const plan = planPod(loadKvmPod(pod.dir, pod.uuid), opts);
  const binds = plan.prep.filter((p) => p.type === 'bind');
  t.deepEqual(binds, [
    { path: join(pod.dir, 'kvm/volumes/data'), type: 'bind', source: join(host, 'dir'), recursive: true, readOnly: false },
    { path: join(pod.dir, 'kvm/volumes/conf'), type: 'bind', source: join(host, 'file.conf'), recursive: false, readOnly: true },
  ], 'each volume is mounted once, whatever the number of apps using it');
  t.like(plan.prep.find((p) => p.path === join(pod.dir, 'kvm/volumes/conf') && p.type !== 'bind'), { type: 'file' }, 'a file volume is mounted on a file');
  const guestBinds = (i: number) => plan.apps[i]!.steps.filter((s) => s.kind === 'mount' && s.flags?.includes('bind')).map((s) => (s.kind === 'mount' ? `${s.source} -> ${s.target} ${s.flags!.join(',')}` : ''));
  const ra = '/pod/stage1/rootfs/opt/stage2/a/rootfs';
  t.deepEqual(guestBinds(0), [
    `/pod/kvm/volumes/data -> ${ra}/data bind,rec`,
    `/pod/kvm/volumes/conf -> ${ra}/etc/app.conf bind,rec,ro`,
    `/pod/sharedVolumes/tmp -> ${ra}/scratch bind,rec`,
  ]);
  t.deepEqual(guestBinds(1), ['/pod/kvm/volumes/data -> /pod/stage1/rootfs/opt/stage2/b/rootfs/srv bind,rec']);
  t.like(plan.prep.find((p) => p.path.endsWith('sharedVolumes/tmp')), { type: 'dir', mode: 0o700, uid: 5, gid: 6 });
  t.like(plan.prep.find((p) => p.path === join(pod.rootfs('a'), 'etc/app.conf')), { type: 'file' });
  t.like(plan.prep.find((p) => p.path === join(pod.rootfs('a'), 'data')), { type: 'dir' });

  const sys = recordingSys();
  applyHostPrep(plan.prep, sys);
  t.deepEqual(sys.callsOf('mount'), [
    [join(host, 'dir'), join(pod.dir, 'kvm/volumes/data'), null, MS_BIND | MS_REC],
    [join(host, 'file.conf'), join(pod.dir, 'kvm/volumes/conf'), null, MS_BIND],
    [null, join(pod.dir, 'kvm/volumes/conf'), null, MS_BIND | MS_REMOUNT | MS_RDONLY],
  ]);
  t.true(statSync(join(pod.dir, 'kvm/volumes/conf')).isFile());
  t.is(statSync(join(pod.dir, 'sharedVolumes/tmp')).mode & 0o7777, 0o700);
});

test('readOnlyRootFS binds the root read-only first; --dns-conf-mode host binds copies of the host files', async (t) => {
  const etc = await tmpDir('kvm-plan-etc', t);
  writeFileSync(join(etc, 'resolv.conf'), 'nameserver 192.0.2.53\n');
  writeFileSync(join(etc, 'hosts'), '127.0.0.1 localhost\n');
  const pod = await fakePod(t, { a: { ...sh('true'), readOnlyRootFS: true } });
  const plan = planPod(loadKvmPod(pod.dir, pod.uuid), { ...opts, dnsConfMode: { resolv: 'host', hosts: 'host' }, hostEtc: etc });
  const root = '/pod/stage1/rootfs/opt/stage2/a/rootfs';
  t.like(plan.apps[0]!.steps[0], { kind: 'mount', source: root, target: root, flags: ['bind', 'ro'] });
  const last = plan.apps[0]!.steps.slice(-2);
  t.deepEqual(last.map((s) => (s.kind === 'mount' ? `${s.source} -> ${s.target}` : '')), [`/pod/kvm/resolv.conf -> ${root}/etc/resolv.conf`, `/pod/kvm/hosts -> ${root}/etc/hosts`]);
  applyHostPrep(plan.prep, recordingSys());
  t.is(readFileSync(join(pod.dir, 'kvm', 'resolv.conf'), 'utf8'), 'nameserver 192.0.2.53\n');
  t.true(existsSync(join(pod.rootfs('a'), 'etc', 'resolv.conf')), 'the mount point exists');
});

test('an env file stage0 wrote is used as it is', async (t) => {
  const pod = await fakePod(t, { a: sh('true') });
  mkdirSync(join(stage1RootfsPath(pod.dir), 'rkt', 'env'), { recursive: true });
  writeFileSync(appEnvPath(pod.dir, 'a'), 'PATH=/bin\nONLY=this\n');
  const plan = planPod(loadKvmPod(pod.dir, pod.uuid), opts);
  t.deepEqual(plan.apps[0]!.env, [
    ['PATH', '/bin'],
    ['ONLY', 'this'],
  ]);
  t.deepEqual(plan.envFiles, []);
});

test('planning fails clearly for a missing program, an unknown user and --interactive with two apps', async (t) => {
  const missing = await fakePod(t, { a: sh('true', { exec: ['nosuchprogram'] }) });
  t.true(hasCode(t.throws(() => planPod(loadKvmPod(missing.dir, missing.uuid), opts)), 'stage1-kvm.exec.not-found'));
  const user = await fakePod(t, { a: sh('true', { user: 'nobody-here' }) });
  t.true(hasCode(t.throws(() => planPod(loadKvmPod(user.dir, user.uuid), opts)), 'stage1-kvm.user.unknown'));
  const two = await fakePod(t, { a: sh('true'), b: sh('true') });
  t.true(hasCode(t.throws(() => planPod(loadKvmPod(two.dir, two.uuid), { ...opts, interactive: true })), 'stage1-kvm.interactive'));
});

test('capability isolators set the bounding set; --disable-capabilities-restriction leaves all', (t) => {
  const app = (isolators: unknown[]) => ({ exec: ['x'], user: '0', group: '0', isolators }) as Parameters<typeof capabilityMask>[0];
  t.is(capabilityMask(app([{ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_CHOWN', 'CAP_NET_ADMIN'] } }]), false), (1n << 0n) | (1n << 12n));
  const removed = capabilityMask(app([{ name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_CHOWN'] } }]), false)!;
  t.is(removed & 1n, 0n);
  t.not(removed & (1n << 7n), 0n, 'CAP_SETUID stays');
  t.is(capabilityMask(app([]), true), undefined);
});

test('masked and read-only paths: the defaults, replaced per list by the app\'s annotations, none with --disable-paths', async (t) => {
  const pod = await fakePod(t, {
    plain: sh('true'),
    custom: {
      ...sh('true'),
      annotations: [
        { name: ANNOTATION_APP_MASKED_PATHS, value: formatPathList(['/etc/secret', '/proc/version']) },
        { name: ANNOTATION_APP_READONLY_PATHS, value: '[]' },
      ],
    },
    onlyro: { ...sh('true'), annotations: [{ name: ANNOTATION_APP_READONLY_PATHS, value: formatPathList(['/etc']) }] },
  });
  const lists = (o: PlanOptions) => planPod(loadKvmPod(pod.dir, pod.uuid), o).apps.map((a) => [a.name, a.maskedPaths, a.readOnlyPaths]);
  t.deepEqual(lists(opts), [
    ['plain', [...DEFAULT_MASKED_PATHS], [...DEFAULT_READONLY_PATHS]],
    ['custom', ['/etc/secret', '/proc/version'], undefined],
    ['onlyro', [...DEFAULT_MASKED_PATHS], ['/etc']],
  ]);
  t.deepEqual(lists({ ...opts, disablePaths: true }), [
    ['plain', undefined, undefined],
    ['custom', ['/etc/secret', '/proc/version'], undefined],
    ['onlyro', undefined, ['/etc']],
  ], 'the annotations apply even with --disable-paths, as with stage1-coreos');
  const bad = await fakePod(t, { a: { ...sh('true'), annotations: [{ name: ANNOTATION_APP_MASKED_PATHS, value: '["relative"]' }] } });
  t.true(hasCode(t.throws(() => planPod(loadKvmPod(bad.dir, bad.uuid), opts)), 'stage1.annotation.invalid'));
});

test('enter: the request names the app, whose identity the guest applies; no ids of its own', async (t) => {
  const pod = await fakePod(t, { web: sh('true', { user: 'user', group: 'user', workingDirectory: '/home/user' }), db: sh('true') });
  const r = enterRequest(pod.dir, 'web', ['id', '-u']);
  t.deepEqual(r, { root: '/pod/stage1/rootfs/opt/stage2/web/rootfs', cwd: '/home/user', path: '/bin/id', argv: ['id', '-u'], env: r.env, app: 'web' });
  t.true(hasCode(t.throws(() => enterRequest(pod.dir, undefined, ['id'])), 'stage1-kvm.enter.app'), 'several apps: one must be named');
  t.true(hasCode(t.throws(() => enterRequest(pod.dir, 'nope', ['id'])), 'stage1-kvm.enter.app'));
});

test('seccomp: each app gets the filter and no_new_privs of the shared decisions, its program named in the spec', async (t) => {
  const profile = JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chmod', 'fchmodat', 'fchmodat2'], action: 'SCMP_ACT_ERRNO', errnoRet: 30 }] });
  const pod = await fakePod(t, {
    def: sh('true'),
    user: sh('true', { user: 'user', group: 'user' }),
    rm: sh('true', { user: 'user', group: 'user', isolators: [{ name: 'os/linux/seccomp-remove-set', value: { set: ['mkdir', 'mkdirat'], errno: 'EACCES' } }, { name: 'os/linux/no-new-privileges', value: false }] }),
    prof: { ...sh('true', { isolators: [{ name: 'os/linux/seccomp-retain-set', value: { set: ['read'] } }] }), annotations: [{ name: ANNOTATION_APP_SECCOMP_PROFILE, value: profile }] },
    off: sh('true', { isolators: [{ name: 'os/linux/seccomp-retain-set', value: { set: ['@appc.io/all'] } }] }),
  });
  const plan = planPod(loadKvmPod(pod.dir, pod.uuid), opts);
  const app = (name: string) => plan.apps.find((a) => a.name === name)!;
  const filter = (name: string) => plan.filters.find((f) => f.app === name);
  const run = (name: string, call: string) => {
    const bytes = filter(name)!.bytes;
    const insns = Array.from({ length: bytes.length / 8 }, (_, i) => ({ code: bytes.readUInt16LE(i * 8), jt: bytes[i * 8 + 2]!, jf: bytes[i * 8 + 3]!, k: bytes.readUInt32LE(i * 8 + 4) }));
    return evaluateSeccompFilter(insns, SYSCALLS_X86_64[call]!);
  };
  t.deepEqual(plan.filters.map((f) => f.app), ['def', 'user', 'rm', 'prof']);
  for (const f of plan.filters) {
    t.is(f.path, join(pod.dir, 'kvm', 'seccomp', `${f.app}.bpf`));
    t.is(app(f.app).seccomp, `/pod/kvm/seccomp/${f.app}.bpf`);
  }
  t.is(app('off').seccomp, undefined, '@appc.io/all: no filter');
  t.true(filter('def')!.bytes.equals(compileSeccompFilter(appSeccomp({ name: 'def', isolators: [], caps: [], disabled: false })!).bytes), 'no isolator: the default whitelist');
  t.is(run('def', 'unshare'), SECCOMP_RET_ERRNO | 1);
  t.is(run('rm', 'mkdir'), SECCOMP_RET_ERRNO | 13);
  t.is(run('rm', 'unshare'), SECCOMP_RET_ALLOW);
  t.is(run('prof', 'chmod'), SECCOMP_RET_ERRNO | 30, 'the profile annotation');
  t.is(run('prof', 'openat'), SECCOMP_RET_ALLOW, 'replaces the isolators');
  t.regex(filter('prof')!.summary, /^seccomp profile of 3 rules, \d+ instructions/);
  // rkt's rule: no_new_privs for a non-root app with a filter, unless an isolator says otherwise
  t.deepEqual(
    plan.apps.map((a) => [a.name, a.noNewPrivileges === true]),
    [['def', false], ['user', true], ['rm', false], ['prof', false], ['off', false]],
  );
  const disabled = planPod(loadKvmPod(pod.dir, pod.uuid), { ...opts, disableSeccomp: true });
  t.deepEqual(disabled.filters, [], '--disable-seccomp');
  t.true(disabled.apps.every((a) => a.seccomp === undefined && a.noNewPrivileges !== true));
});

test('seccomp: a profile selects its rules by the bounding set and the guest kernel', async (t) => {
  const profile = JSON.stringify({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [
      { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', excludes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['rmdir'], action: 'SCMP_ACT_ERRNO', includes: { minKernel: '6.1' } },
    ],
  });
  const pod = await fakePod(t, { a: { ...sh('true'), annotations: [{ name: ANNOTATION_APP_SECCOMP_PROFILE, value: profile }] } });
  const rules = (o: Partial<PlanOptions>) => {
    const bytes = planPod(loadKvmPod(pod.dir, pod.uuid), { ...opts, ...o }).filters[0]!.bytes;
    const insns = Array.from({ length: bytes.length / 8 }, (_, i) => ({ code: bytes.readUInt16LE(i * 8), jt: bytes[i * 8 + 2]!, jf: bytes[i * 8 + 3]!, k: bytes.readUInt32LE(i * 8 + 4) }));
    return ['mkdir', 'rmdir'].filter((c) => evaluateSeccompFilter(insns, SYSCALLS_X86_64[c]!) !== SECCOMP_RET_ALLOW);
  };
  t.deepEqual(rules({ guestKernel: '6.1.0-18-amd64' }), ['mkdir', 'rmdir']);
  t.deepEqual(rules({ guestKernel: '5.10.0' }), ['mkdir'], 'minKernel is compared with the kernel the app runs on');
  t.deepEqual(rules({ guestKernel: '6.1.0', allCapabilities: true }), ['rmdir'], 'every capability with --disable-capabilities-restriction');
  const iso = (name: string, set: string[]) => parseIsolator({ name, value: { set } });
  t.deepEqual(retainedCapabilities([iso('os/linux/capabilities-retain-set', ['CAP_CHOWN']), iso('os/linux/capabilities-retain-set', ['CAP_KILL'])], false), ['CAP_CHOWN', 'CAP_KILL']);
  t.false(retainedCapabilities([iso('os/linux/capabilities-remove-set', ['CAP_CHOWN'])], false).includes('CAP_CHOWN'));
});

test('paths, programs and credentials resolve inside the app root', async (t) => {
  const pod = await fakePod(t, { a: sh('true') });
  const root = pod.rootfs('a');
  symlinkSync('/etc', join(root, 'conf'));
  symlinkSync('../../..', join(root, 'up'));
  t.is(resolveInRoot(root, '/conf/passwd'), '/etc/passwd');
  t.is(resolveInRoot(root, '/up/etc'), '/etc', '.. never leaves the root');
  t.is(resolveInRoot(root, '/new/dir'), '/new/dir');
  t.is(findExecutable(root, 'sh', '/usr/bin:/bin', '/'), '/bin/sh');
  t.is(findExecutable(root, './run', '/bin', '/opt'), '/opt/run');
  t.is(findExecutable(root, 'nope', '/bin', '/'), undefined);
  t.deepEqual(resolveCredentials(root, { user: 'user', group: 'extra' }, 'a'), { uid: 1000, gid: 1001, groups: [1001] });
  t.deepEqual(resolveCredentials(root, { user: '/home/user', group: '/home/user' }, 'a'), { uid: 1000, gid: 1000, groups: [1000] });
  t.true(hasCode(t.throws(() => resolveCredentials(root, { user: '0', group: 'nogroup-here' }, 'a')), 'stage1-kvm.group.unknown'));
});

/** The pieces of a stage1 image run needs, as empty files. */
function fakeStage1(pod: Pod): void {
  const kvm = join(stage1RootfsPath(pod.dir), 'kvm');
  mkdirSync(kvm, { recursive: true });
  for (const f of ['vmlinux', 'initrd', 'pod-shim']) writeFileSync(join(kvm, f), '');
  chmodSync(join(kvm, 'pod-shim'), 0o755);
}

test('run prepares the pod and execs the shim with qemu, keeping the lock descriptor', async (t) => {
  const pod = await fakePod(t, { a: sh('echo hi', { isolators: [{ name: 'resource/memory', value: { limit: '256Mi' } }] }) });
  fakeStage1(pod);
  const lock = openSync(pod.dir, 'r');
  t.teardown(() => closeSync(lock));
  const sys = recordingSys();
  const ctx = { sys, podDir: pod.dir, env: { RKT_LOCK_FD: String(lock), RKT_KVM_QEMU: '/bin/true', RKT_KVM_ACCEL: 'tcg' }, log: kvmLogger(false) };
  const x = prepareKvmRun(['--net=none', '--hostname=pod1', pod.uuid], ctx);
  t.is(x.path, join(stage1RootfsPath(pod.dir), 'kvm', 'pod-shim'));
  t.deepEqual(x.argv.slice(1, 4).map((a) => a.split('=')[0]), ['--ctl-fd', '--ppid-file', '--exit-file']);
  t.true(x.argv.includes('--own-pgrp'));
  const qemu = x.argv.slice(x.argv.indexOf('--') + 1);
  t.is(qemu[0], '/bin/true');
  t.is(qemu[qemu.indexOf('-m') + 1], '384M');
  t.true(x.keepFds.includes(lock));
  const spec = parseGuestSpec(readFileSync(join(pod.dir, 'kvm', 'spec')));
  t.is(spec.hostname, 'pod1');
  t.deepEqual(spec.apps.map((a) => a.name), ['a']);
  t.true(existsSync(join(stage1RootfsPath(pod.dir), 'rkt', 'status')));
  t.true(existsSync(join(stage1RootfsPath(pod.dir), 'rkt', 'log')));
  t.regex(readFileSync(appEnvPath(pod.dir, 'a'), 'utf8'), /^AC_APP_NAME=a$/m);
  t.true(existsSync(join(pod.rootfs('a'), 'proc')));
  t.is(spec.apps[0]!.seccomp, '/pod/kvm/seccomp/a.bpf');
  const program = readFileSync(join(pod.dir, 'kvm', 'seccomp', 'a.bpf'));
  t.true(program.length > 0 && program.length % 8 === 0, 'the default filter is written for the guest');
  // a second run with --disable-seccomp removes it
  const again = prepareKvmRun(['--net=none', '--disable-seccomp', pod.uuid], ctx);
  t.is(again.spec.apps[0]!.seccomp, undefined);
  t.false(existsSync(join(pod.dir, 'kvm', 'seccomp')));
  t.deepEqual(spec.apps[0]!.maskedPaths, [...DEFAULT_MASKED_PATHS], 'the default masked paths reach the guest');
  t.deepEqual(spec.apps[0]!.readOnlyPaths, [...DEFAULT_READONLY_PATHS]);
  // --disable-paths (--insecure-options=paths) reaches the plan
  const noPaths = prepareKvmRun(['--net=none', '--disable-paths', pod.uuid], ctx);
  const written = parseGuestSpec(readFileSync(join(pod.dir, 'kvm', 'spec'))).apps[0]!;
  t.deepEqual([noPaths.spec.apps[0]!.maskedPaths, written.maskedPaths, written.readOnlyPaths], [undefined, undefined, undefined]);
});

test('run refuses what a VM cannot do and says when the image lacks its kernel', async (t) => {
  const pod = await fakePod(t, { a: sh('true') });
  const lock = openSync(pod.dir, 'r');
  t.teardown(() => closeSync(lock));
  const ctx = { sys: recordingSys(), podDir: pod.dir, env: { RKT_LOCK_FD: String(lock), RKT_KVM_QEMU: '/bin/true' }, log: kvmLogger(false) };
  t.true(hasCode(t.throws(() => prepareKvmRun(['--net=none', pod.uuid], ctx)), 'stage1-kvm.assets.missing'));
  fakeStage1(pod);
  t.true(hasCode(t.throws(() => prepareKvmRun(['--net=none', '--private-users=100000:65536', pod.uuid], ctx)), 'stage1-kvm.unsupported'));
  t.true(hasCode(t.throws(() => prepareKvmRun(['--net=none', '--mutable', pod.uuid], ctx)), 'stage1-kvm.unsupported'));
  t.true(hasCode(t.throws(() => prepareKvmRun(['--net=host', pod.uuid], ctx)), 'stage1-kvm.net.unsupported'));
  t.true(hasCode(t.throws(() => prepareKvmRun(['--net=none', pod.uuid], { ...ctx, env: {} })), 'stage1.lock-fd.missing'));
});

test('gc tears down the recorded networks, is idempotent, and stop reports a pod that is not running', async (t) => {
  const pod = await fakePod(t, { a: sh('true') });
  // what run leaves: a network joined through a plugin of the image, a namespace (here a plain
  // file in the pod directory, which the recording Sys "unmounts")
  const s1 = stage1RootfsPath(pod.dir);
  mkdirSync(join(s1, 'usr/lib/rkt/plugins/net'), { recursive: true });
  writeFileSync(join(s1, 'usr/lib/rkt/plugins/net/fake'), '', { mode: 0o755 });
  mkdirSync(join(pod.dir, 'net'));
  writeFileSync(join(pod.dir, 'net', '99-default.conf'), JSON.stringify({ cniVersion: '1.0.0', name: 'default', type: 'fake' }));
  writeFileSync(join(pod.dir, 'net-info.json'), JSON.stringify([{ netName: 'default', netConf: 'net/99-default.conf', pluginPath: 'stage1/rootfs/usr/lib/rkt/plugins/net/fake', ifName: 'eth0', ip: '172.16.28.9', args: '', mask: '255.255.255.0' }]));
  writeFileSync(join(pod.dir, 'netns'), join(pod.dir, 'ns'));
  writeFileSync(join(pod.dir, 'ns'), '');
  const calls: string[] = [];
  const run: CommandRunner = (file, args, o = {}) => {
    calls.push(o.env?.['CNI_COMMAND'] ? `${basename(file)} ${o.env['CNI_COMMAND']} ${o.env['CNI_IFNAME']}` : `${basename(file)} ${args.join(' ')}`);
    return { status: 0, stdout: '', stderr: '' };
  };
  const sys = recordingSys();
  const ctx = { sys, podDir: pod.dir, env: {}, log: kvmLogger(false), run };
  const r = await kvmGc([pod.uuid], ctx);
  t.deepEqual(r, { killed: [], netProblems: [], unmounted: [] });
  t.true(calls.includes('fake DEL eth0'), calls.join('\n'));
  t.true(calls.includes('iptables -w -t nat -S'), 'the port forwarding chains are looked for');
  t.deepEqual(sys.callsOf('umount2'), [[join(pod.dir, 'ns'), 2]], 'the namespace is unmounted');
  t.false(existsSync(join(pod.dir, 'ns')));
  t.false(existsSync(join(pod.dir, 'net', '99-default.conf')), 'DELeted networks are not DELeted again');
  calls.length = 0;
  t.deepEqual(await kvmGc(['--local-config', '/etc/rkt', pod.uuid], ctx), { killed: [], netProblems: [], unmounted: [] });
  t.false(calls.some((c) => c.includes(' DEL ')));
  const stop = await t.throwsAsync(kvmStop([pod.uuid], ctx));
  t.true(hasCode(stop, 'stage1-kvm.stop.not-running'));
});
