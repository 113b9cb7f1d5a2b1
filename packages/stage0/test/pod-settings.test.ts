/**
 * Pod-level settings on stage0's command lines: `--sysctl`, `--cgroup-parent`, `--pid` (run,
 * prepare, app sandbox), `--pid-namespace` (per app), `propagation=` of `--volume` and
 * `--mnt-volume`, and how they land in the pod manifest; then, privileged, a sandbox that uses
 * them all through the real CLI and stage1-coreos.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { podDir } from '@rktnetes/common';
import { hasCode } from '@rktnetes/errors';
import { getAnnotation, imageManifest } from '@rktnetes/schema';
import { openStore } from '@rktnetes/store';
import { MNT_DETACH, MS_BIND, MS_REC, MS_SHARED, realSys, unmountTree } from '@rktnetes/sys';
import { busyboxImage, hasBusybox, isRoot, removeTree, runCommand, testIf, tmpDir, type CommandResult } from '@rktnetes/testkit';
import { parseAddArgs, parseMountVolume, parseSandboxArgs } from '../src/app/args';
import { sandboxManifest } from '../src/app/sandbox';
import { parsePodArgs, parseVolume } from '../src/pod/args';
import { generatePodManifest } from '../src/pod/manifest';
import { applyPodSettings, parseSysctlFlag } from '../src/pod/settings';
import { COREOS, COREOS_PKG, DEFAULT_GLOBALS, RKT, ensureCoreos } from './helpers/fixtures';

const base = DEFAULT_GLOBALS;

const image = imageManifest({ name: 'example.com/app', labels: [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }], app: { exec: ['/bin/true'], user: '0', group: '0' } });

test('run: --sysctl, --cgroup-parent and --pid go into the pod manifest, --pid-namespace into the app', (t) => {
  const pod = parsePodArgs(
    ['--sysctl=kernel.shm_rmid_forced=1', 'img', '--pid-namespace=private', '--sysctl', 'fs.mqueue.msg_max=100', '--cgroup-parent=kubepods//pod1/', '--pid=host', '--sysctl=kernel.shm_rmid_forced=0'],
    base,
    'run',
  ).pod;
  t.deepEqual(pod.podSettings, {
    sysctls: [
      ['fs.mqueue.msg_max', '100'],
      ['kernel.shm_rmid_forced', '0'],
    ],
    cgroupParent: '/kubepods/pod1',
    pid: 'host',
  });
  t.is(pod.apps[0]!.pidNamespace, 'private');
  const m = generatePodManifest([{ cli: pod.apps[0]!, imageKey: `sha512-${'a'.repeat(128)}`, manifest: image }], pod, { setEnv: [], setEnvFile: [] });
  t.deepEqual(m.isolators, [{ name: 'os/unix/sysctl', value: { 'fs.mqueue.msg_max': '100', 'kernel.shm_rmid_forced': '0' } }]);
  t.is(getAnnotation(m.annotations, 'rktnetes.io/stage1/cgroup-parent'), '/kubepods/pod1');
  t.is(getAnnotation(m.annotations, 'rktnetes.io/stage1/pid-namespace'), 'host');
  t.is(getAnnotation(m.apps[0]!.annotations, 'rktnetes.io/stage2/pid-namespace'), 'private');

  const plain = parsePodArgs(['img'], base, 'prepare').pod;
  const pm = generatePodManifest([{ cli: plain.apps[0]!, imageKey: `sha512-${'a'.repeat(128)}`, manifest: image }], plain, { setEnv: [], setEnvFile: [] });
  t.is(pm.isolators, undefined);
  t.deepEqual(pm.annotations?.map((a) => a.name), ['coreos.com/rkt/stage1/mutable']);
  t.is(pm.apps[0]!.annotations, undefined);
});

test('the settings flags are checked', (t) => {
  const usage = (args: string[], re: RegExp) => {
    const e = t.throws(() => parsePodArgs(args, base, 'run'));
    t.true(hasCode(e, 'cli.invalid-value'), e?.message);
    t.regex(e!.message, re);
  };
  usage(['--sysctl=vm.swappiness=1', 'img'], /vm\.swappiness is not a namespaced sysctl/);
  usage(['--sysctl=kernel.shmmax', 'img'], /expected NAME=VALUE/);
  usage(['--cgroup-parent=/a/../b', 'img'], /without \.\./);
  usage(['--pid=parent', 'img'], /expected private or host/);
  usage(['img', '--pid-namespace=host'], /expected pod or private/);
  t.deepEqual(parseSysctlFlag('net.ipv4.ping_group_range=0 2147483647'), ['net.ipv4.ping_group_range', '0 2147483647']);
});

test('volumes: propagation=rprivate|rslave|rshared on host volumes', (t) => {
  t.deepEqual(parseVolume('data,kind=host,source=/srv,propagation=rshared'), { name: 'data', kind: 'host', source: '/srv', propagation: 'rshared' } as never);
  const bad = (v: string, re: RegExp) => {
    const e = t.throws(() => parseVolume(v));
    t.true(hasCode(e, 'cli.invalid-value'));
    t.regex(e!.message, re);
  };
  bad('data,kind=host,source=/srv,propagation=shared', /propagation should be one of "rprivate", "rslave", "rshared"/);
  bad('data,kind=empty,propagation=rslave', /propagation is for host volumes/);
  t.deepEqual(parseMountVolume('name=m,kind=host,source=/srv,propagation=rslave,target=/m'), {
    volume: 'm',
    path: '/m',
    appVolume: { name: 'm', kind: 'host', source: '/srv', propagation: 'rslave' } as never,
  });
});

test('app sandbox and app add take the settings too', (t) => {
  const { sandbox } = parseSandboxArgs(['--net=none', '--sysctl=kernel.msgmax=9999', '--cgroup-parent=/kubepods', '--pid=private'], base);
  t.deepEqual(sandbox.podSettings, { sysctls: [['kernel.msgmax', '9999']], cgroupParent: '/kubepods', pid: 'private' });
  const m = sandboxManifest(sandbox);
  t.deepEqual(m.isolators, [{ name: 'os/unix/sysctl', value: { 'kernel.msgmax': '9999' } }]);
  t.is(getAnnotation(m.annotations, 'rktnetes.io/stage1/cgroup-parent'), '/kubepods');
  t.is(getAnnotation(m.annotations, 'rktnetes.io/stage1/pid-namespace'), undefined, 'private is the default, not written');
  const { add } = parseAddArgs(['uuid', 'img', '--pid-namespace=private', '--mnt-volume=name=v,kind=host,source=/srv,propagation=rshared,target=/v'], base);
  t.is(add.app.pidNamespace, 'private');
  t.is((add.app.mounts[0]!.appVolume as { propagation?: string }).propagation, 'rshared');
  // the root of the hierarchies is written as /
  const pm: Record<string, unknown> = {};
  applyPodSettings(pm, { sysctls: [], cgroupParent: '' });
  t.deepEqual(pm.annotations, [{ name: 'rktnetes.io/stage1/cgroup-parent', value: '/' }]);
});

// ------------------------------------------------------------------------------ the real CLI

const ptest = testIf(test, isRoot() && hasBusybox() && existsSync(join(COREOS_PKG, 'package.json')), 'needs root, busybox and packages/stage1-coreos');

const lines = (s: string) => s.split('\n').filter(Boolean);

ptest('a sandbox with sysctls and a cgroup parent, an app in its own pid namespace with an rslave volume', async (t: ExecutionContext) => {
  ensureCoreos();
  const sys = realSys();
  const dir = await tmpDir('s0settings');
  const data = join(dir, 'data');
  const cfg = join(dir, 'cfg');
  await mkdir(data, { recursive: true });
  await mkdir(cfg, { recursive: true });
  const globals = ['--dir', data, '--local-config', cfg, '--system-config', cfg, '--user-config', cfg];
  const rkt = (args: string[]): Promise<CommandResult> => runCommand(process.execPath, [RKT, ...globals, ...args], { timeoutMs: 60_000 });
  const parent = `rktnetes-s0-${process.pid}`;
  const vol = join(dir, 'vol');
  mkdirSync(join(vol, 'sub'), { recursive: true });
  sys.mount(vol, vol, null, MS_BIND | MS_REC);
  sys.mount(null, vol, null, MS_SHARED | MS_REC);
  let proc: ChildProcess | undefined;
  t.teardown(async () => {
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    await rkt(['gc', '--grace-period=0s']).catch(() => undefined);
    for (const m of [join(vol, 'sub'), vol]) {
      try {
        sys.umount2(m, MNT_DETACH);
      } catch {
        // not mounted
      }
    }
    for (const h of readdirSync('/sys/fs/cgroup')) {
      try {
        rmdirSync(join('/sys/fs/cgroup', h, parent));
      } catch {
        // not there
      }
    }
    try {
      unmountTree(dir, sys);
    } catch {
      // removeTree reports it
    }
    await removeTree(dir);
  });
  const aci = join(dir, 'busybox.aci');
  await writeFile(aci, await busyboxImage({ name: 'example.com/busybox', exec: ['/bin/sh', '-c', 'trap "exit 0" TERM; : marker; while :; do sleep 1; done'] }));
  const store = openStore(data);
  try {
    await store.importImage(aci);
  } finally {
    store.close();
  }
  const uuidFile = join(dir, 'uuid');
  proc = spawn(
    process.execPath,
    [RKT, ...globals, 'app', 'sandbox', '--insecure-options=image', `--stage1-path=${COREOS}`, `--uuid-file-save=${uuidFile}`, '--net=none', '--sysctl=kernel.shm_rmid_forced=1', `--cgroup-parent=/${parent}`],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 30_000;
  let uuid = '';
  while (!uuid || (await rkt(['status', '--wait-ready=10s', uuid])).code !== 0) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error('rkt app sandbox did not come up');
    await new Promise((r) => setTimeout(r, 100));
    uuid = existsSync(uuidFile) ? readFileSync(uuidFile, 'utf8').trim() : '';
  }
  t.is(readFileSync(join(podDir(data, 'run', uuid), 'subcgroup'), 'utf8'), `${parent}/rkt-${uuid}`);
  let r = await rkt(['app', 'add', uuid, 'example.com/busybox', '--name=app', '--pid-namespace=private', `--mnt-volume=name=v,kind=host,source=${vol},propagation=rslave,target=/v`]);
  t.is(r.code, 0, r.stderr);
  t.is((await rkt(['app', 'start', uuid, '--app=app'])).code, 0);
  sys.mount('/etc', join(vol, 'sub'), null, MS_BIND);
  r = await rkt(['app', 'exec', uuid, '--app=app', '--', '/bin/sh', '-c', 'cat /proc/sys/kernel/shm_rmid_forced; tr "\\0" " " < /proc/1/cmdline; echo; ls /v/sub | grep -c "^hostname$"']);
  t.is(r.code, 0, r.stderr);
  const [sysctl, cmd, seen] = lines(r.stdout);
  t.is(sysctl, '1');
  t.regex(cmd ?? '', /: marker/, 'the app is PID 1 of its namespace');
  t.is(seen, '1', 'the host\'s mount reached the rslave volume');
  const listed = JSON.parse((await rkt(['app', 'list', '--format=json', uuid])).stdout) as Array<{ name: string; pid?: number }>;
  const pid = listed.find((a) => a.name === 'app')?.pid;
  t.true(typeof pid === 'number' && existsSync(`/proc/${pid}`), 'rkt app list finds the app below its own pid namespace');
  t.regex(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /: marker/);
  t.is((await rkt(['stop', uuid])).code, 0);
});
