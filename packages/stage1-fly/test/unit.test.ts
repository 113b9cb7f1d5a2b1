/**
 * The pieces of the fly entrypoints, without kernel effects: argv dispatch, paths inside a
 * root, credentials, volumes, the mount plan, and run/enter/stop/gc against @rktnetes/sys's
 * recording fake (files are written in a temp pod directory; no mount or exec happens).
 */
import test from 'ava';
import { chownSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appDir, appRootfsPath, newPodUUID, podDir, podManifestPath } from '@rktnetes/common';
import { createLogger } from '@rktnetes/log';
import { hasCode } from '@rktnetes/errors';
import { serializePodManifest, type PodManifest } from '@rktnetes/schema';
import {
  CLONE_NEWIPC,
  CLONE_NEWNS,
  MS_BIND,
  MS_NODEV,
  MS_NOSUID,
  MS_RDONLY,
  MS_REC,
  MS_RELATIME,
  MS_REMOUNT,
  MS_SLAVE,
  RECORDED_EXECVE,
  recordingSys,
} from '@rktnetes/sys';
import { DEFAULT_PASSWD, DEFAULT_GROUP, tmpDir } from '@rktnetes/testkit';
import {
  debugRequested,
  entrypointOf,
  evaluateVolumeMounts,
  findExecutable,
  flyAppEnv,
  flyGc,
  flyRun,
  flyStop,
  parseFlyEnterArgs,
  planMounts,
  prepareFlyEnter,
  prepareFlyRun,
  readOnlyRemountFlags,
  resolveCredentials,
  resolveInRoot,
  type EntrypointContext,
} from '@rktnetes/stage1-fly';

const quiet = () => createLogger({ prefix: 'test', write: () => undefined });

test('entrypointOf dispatches on the program name, or on the first argument', (t) => {
  t.deepEqual(entrypointOf('/pods/x/stage1/rootfs/run', ['--net=host', 'u']), { entrypoint: 'run', argv: ['--net=host', 'u'] });
  t.deepEqual(entrypointOf('/x/stop', ['--force', 'u']), { entrypoint: 'stop', argv: ['--force', 'u'] });
  t.deepEqual(entrypointOf('/x/dist/stage1-fly.mjs', ['gc', 'u']), { entrypoint: 'gc', argv: ['u'] });
  t.deepEqual(entrypointOf('stage1-fly', ['enter', '--pid=1']), { entrypoint: 'enter', argv: ['--pid=1'] });
  const e = t.throws(() => entrypointOf('/x/stage1-fly.mjs', ['app/add']));
  t.true(hasCode(e, 'stage1-fly.entrypoint'));
  t.regex(e!.message, /unknown entrypoint "app\/add"/);
});

test('debugRequested reads every Go spelling and stops at --', (t) => {
  t.true(debugRequested(['--debug', 'u']));
  t.true(debugRequested(['-debug=true']));
  t.true(debugRequested(['--debug=1']));
  t.false(debugRequested(['--debug=false']));
  t.false(debugRequested(['--', '--debug']));
  t.false(debugRequested(['u']));
});

test('resolveInRoot follows symlinks inside the root and never leaves it', async (t) => {
  const root = await tmpDir('fly-root', t);
  mkdirSync(join(root, 'srv/data'), { recursive: true });
  symlinkSync('/srv/data', join(root, 'abs'));
  symlinkSync('srv', join(root, 'rel'));
  symlinkSync('../../../../../etc', join(root, 'escape'));
  symlinkSync('loop', join(root, 'loop'));
  t.is(resolveInRoot(root, '/abs'), join(root, 'srv/data'));
  t.is(resolveInRoot(root, '/abs/new/dir'), join(root, 'srv/data/new/dir'));
  t.is(resolveInRoot(root, 'rel/data'), join(root, 'srv/data'));
  t.is(resolveInRoot(root, '/escape/passwd'), join(root, 'etc/passwd'));
  t.is(resolveInRoot(root, '/../../x/./y/..'), join(root, 'x'));
  t.is(resolveInRoot(root, '/'), root);
  const e = t.throws(() => resolveInRoot(root, '/loop'));
  t.true(hasCode(e, 'stage1-fly.path.loop'));
});

test('findExecutable: absolute, relative to the working directory, and looked up in PATH inside the root', async (t) => {
  const root = await tmpDir('fly-exec', t);
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  mkdirSync(join(root, 'bin'), { recursive: true });
  writeFileSync(join(root, 'usr/bin/tool'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(join(root, 'bin/data'), 'not executable', { mode: 0o644 });
  symlinkSync('/usr/bin/tool', join(root, 'bin/linked'));
  t.is(findExecutable(root, '/opt/x', '/bin', '/'), '/opt/x');
  t.is(findExecutable(root, './run.sh', '/bin', '/srv'), '/srv/run.sh');
  t.is(findExecutable(root, 'tool', '/bin:/usr/bin', '/'), '/usr/bin/tool');
  t.is(findExecutable(root, 'linked', 'relative:/bin:/usr/bin', '/'), '/bin/linked');
  t.is(findExecutable(root, 'data', '/bin', '/'), undefined);
  t.is(findExecutable(root, 'sh', '/bin:/usr/bin', '/'), undefined, 'never the host PATH');
});

test('resolveCredentials: numbers, names from the app /etc files, file owners, docker fallback', async (t) => {
  const root = await tmpDir('fly-creds', t);
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/passwd'), DEFAULT_PASSWD);
  writeFileSync(join(root, 'etc/group'), DEFAULT_GROUP);
  writeFileSync(join(root, 'owned'), '');
  chownSync(join(root, 'owned'), 4242, 4343);
  t.deepEqual(resolveCredentials(root, { user: '0', group: '0' }), { uid: 0, gid: 0, groups: [0] });
  t.deepEqual(resolveCredentials(root, { user: 'user', group: 'extra', supplementaryGIDs: [5, 6] }), { uid: 1000, gid: 1001, groups: [1001, 5, 6] });
  t.deepEqual(resolveCredentials(root, { user: '/owned', group: '/owned' }), { uid: 4242, gid: 4343, groups: [4343] });
  const u = t.throws(() => resolveCredentials(root, { user: 'ghost', group: '0' }, { app: 'a' }));
  t.true(hasCode(u, 'stage1-fly.user.unknown'));
  t.regex(u!.message, /user "ghost" of app a/);
  const g = t.throws(() => resolveCredentials(root, { user: 'user', group: 'user2' }));
  t.true(hasCode(g, 'stage1-fly.group.unknown'));
  t.deepEqual(resolveCredentials(root, { user: 'user', group: 'user2' }, { gidFromUidIfMissing: true }), { uid: 1000, gid: 1000, groups: [1000] });
});

test('flyAppEnv: appc defaults the app does not set, its variables, AC_APP_NAME', (t) => {
  t.deepEqual(flyAppEnv('web', { environment: [{ name: 'HOME', value: '/srv' }, { name: 'AC_APP_NAME', value: 'spoofed' }, { name: 'X', value: '1' }] }), [
    ['PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    ['SHELL', '/bin/sh'],
    ['USER', 'root'],
    ['LOGNAME', 'root'],
    ['HOME', '/srv'],
    ['AC_APP_NAME', 'web'],
    ['X', '1'],
  ]);
});

test('evaluateVolumeMounts merges mounts, mount points and volumes as rkt fly does', (t) => {
  const volumes = [
    { name: 'data', kind: 'host' as const, source: '/srv/data' },
    { name: 'cache', kind: 'empty' as const },
    { name: 'logs', kind: 'host' as const, source: '/var/log', readOnly: false, recursive: true },
    { name: 'unused', kind: 'host' as const, source: '/x' },
  ];
  const image = { mountPoints: [{ name: 'cache', path: '/var/cache', readOnly: true }, { name: 'logs', path: '/logs', readOnly: true }] };
  const got = evaluateVolumeMounts({ volumes }, { mounts: [{ volume: 'data', path: '/data' }] }, image);
  t.deepEqual(
    got.map((m) => [m.name, m.path, m.readOnly, m.recursive]),
    [
      ['data', '/data', false, false],
      ['logs', '/logs', false, true],
      ['cache', '/var/cache', true, false],
    ],
  );
  const appVolume = evaluateVolumeMounts({}, { mounts: [{ volume: 'own', path: '/own', appVolume: { name: 'own', kind: 'host', source: '/h', readOnly: true } }] }, undefined);
  t.like(appVolume[0], { name: 'own', path: '/own', readOnly: true });

  const conflict = t.throws(() => evaluateVolumeMounts({ volumes }, { mounts: [{ volume: 'cache', path: '/elsewhere' }] }, image));
  t.true(hasCode(conflict, 'stage1-fly.volume.invalid'));
  t.regex(conflict!.message, /conflicting paths for volume cache/);
  const missing = t.throws(() => evaluateVolumeMounts({ volumes: [] }, {}, image));
  t.regex(missing!.message, /missing volume for mount point cache/);
  const twice = t.throws(() => evaluateVolumeMounts({ volumes }, { mounts: [{ volume: 'data', path: '/a' }, { volume: 'data', path: '/b' }] }, undefined));
  t.regex(twice!.message, /mounted twice/);
});

test('planMounts: system mounts, volumes, DNS modes and the read-only root, in order', (t) => {
  const base = { podDir: '/pod', stage1Rootfs: '/pod/stage1/rootfs' };
  const plan = planMounts({
    ...base,
    volumes: [
      { name: 'e', path: '/e', volume: { name: 'e', kind: 'empty', mode: '0700', uid: 5, gid: 6 }, readOnly: false, recursive: false },
      { name: 'h', path: '/h', volume: { name: 'h', kind: 'host', source: '/src' }, readOnly: true, recursive: true },
    ],
    dnsConfMode: { resolv: 'host', hosts: 'stage0' },
    readOnlyRootFS: true,
  });
  t.deepEqual(plan.emptyVolumes, [{ name: 'e', dir: '/pod/sharedVolumes/e', mode: 0o700, uid: 5, gid: 6 }]);
  t.deepEqual(
    plan.steps.map((s) => `${s.kind} ${s.path}${'source' in s ? ` <- ${s.source}` : ''}${'readOnly' in s && s.readOnly ? ' ro' : ''}${'recursive' in s && s.recursive ? ' rec' : ''}`),
    [
      'bind / <-  rec',
      'bind /dev <- /dev rec',
      'bind /proc <- /proc rec',
      'bind /sys <- /sys rec',
      'tmpfs /tmp',
      'bind /e <- /pod/sharedVolumes/e',
      'bind /h <- /src ro rec',
      'bind /etc/resolv.conf <- /etc/resolv.conf ro',
      'bind /etc/hosts <- /pod/stage1/rootfs/etc/rkt-hosts ro',
      'remount-ro /',
    ],
  );
  const defaults = planMounts({ ...base, volumes: [], dnsConfMode: { resolv: 'stage0', hosts: 'default' }, readOnlyRootFS: false });
  t.deepEqual(
    defaults.steps.slice(5).map((s) => s.kind),
    ['copy', 'write-if-missing'],
  );
  const none = planMounts({ ...base, volumes: [], dnsConfMode: { resolv: 'none', hosts: 'host' }, readOnlyRootFS: false });
  t.deepEqual(none.steps.slice(5).map((s) => s.what), ['host /etc/hosts']);
  const bad = t.throws(() => planMounts({ ...base, volumes: [{ name: 'e', path: '/e', volume: { name: 'e', kind: 'empty', mode: 'rwx' }, readOnly: false, recursive: false }], dnsConfMode: { resolv: 'default', hosts: 'default' }, readOnlyRootFS: false }));
  t.regex(bad!.message, /invalid mode "rwx"/);
});

test('readOnlyRemountFlags keeps nosuid, nodev and atime flags', (t) => {
  t.is(readOnlyRemountFlags(['rw', 'nosuid', 'nodev', 'relatime']), MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_RELATIME);
  t.is(readOnlyRemountFlags([]), MS_BIND | MS_REMOUNT | MS_RDONLY);
});

/** A pod directory with one (or more) app(s), like stage0 prepares it; no image content besides /etc and /bin/app. */
async function fakePod(t: Parameters<typeof tmpDir>[1], apps: Array<Record<string, unknown>>, extra: Partial<PodManifest> = {}) {
  const dataDir = await tmpDir('fly-unit', t);
  const uuid = newPodUUID();
  const dir = podDir(dataDir, 'run', uuid);
  for (const a of apps) {
    const name = a.name as string;
    const rootfs = appRootfsPath(dir, name);
    mkdirSync(join(rootfs, 'etc'), { recursive: true });
    mkdirSync(join(rootfs, 'bin'));
    writeFileSync(join(rootfs, 'bin/app'), '', { mode: 0o755 });
    writeFileSync(join(rootfs, 'etc/passwd'), DEFAULT_PASSWD);
    writeFileSync(join(rootfs, 'etc/group'), DEFAULT_GROUP);
    writeFileSync(join(appDir(dir, name), 'manifest'), JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/app', app: { exec: ['/bin/app'], user: '0', group: '0' } }));
  }
  const manifest = { acKind: 'PodManifest', acVersion: '0.8.11', apps: apps.map((a) => ({ image: { id: `sha512-${'a'.repeat(64)}` }, ...a })), ...extra } as PodManifest;
  writeFileSync(podManifestPath(dir), serializePodManifest(manifest));
  return { dataDir, dir, uuid, rootfs: (name: string) => appRootfsPath(dir, name) };
}

function ctxFor(dir: string, sys = recordingSys(), env: NodeJS.ProcessEnv = { RKT_LOCK_FD: '0' }): EntrypointContext & { sys: ReturnType<typeof recordingSys> } {
  return { sys, podDir: dir, env, log: quiet() };
}

test('run: the calls in order, from unshare to the credentials, with pid and env files written', async (t) => {
  const pod = await fakePod(t, [{ name: 'web', app: { exec: ['app', '--port', '80'], user: 'user', group: 'user', supplementaryGIDs: [1001], workingDirectory: '/srv' } }]);
  const ctx = ctxFor(pod.dir);
  const x = prepareFlyRun(['--net=default', '--ipc=private', pod.uuid], ctx);
  t.deepEqual(x.argv, ['/bin/app', '--port', '80']);
  t.deepEqual(x.credentials, { uid: 1000, gid: 1000, groups: [1000, 1001] });
  t.is(x.lockFd, 0);
  const rootfs = pod.rootfs('web');
  const calls = ctx.sys.calls.map((c) => [c.name, ...c.args]);
  t.deepEqual(calls, [
    ['unshare', CLONE_NEWNS | CLONE_NEWIPC],
    ['mount', null, '/', null, MS_REC | MS_SLAVE],
    ['mount', rootfs, rootfs, null, MS_BIND | MS_REC],
    ['mount', '/dev', join(rootfs, 'dev'), null, MS_BIND | MS_REC],
    ['mount', '/proc', join(rootfs, 'proc'), null, MS_BIND | MS_REC],
    ['mount', '/sys', join(rootfs, 'sys'), null, MS_BIND | MS_REC],
    ['mount', 'tmpfs', join(rootfs, 'tmp'), 'tmpfs', 0],
    ['getpid'],
    ['chroot', rootfs],
    ['chdir', '/srv'],
    ['setgroups', [1000, 1001]],
    ['setresgid', 1000, 1000, 1000],
    ['setresuid', 1000, 1000, 1000],
  ]);
  t.is(readFileSync(join(pod.dir, 'pid'), 'utf8'), '1000\n');
  t.true(existsSync(join(pod.dir, 'pgid')));
  t.true(statSync(join(rootfs, 'tmp')).isDirectory(), 'mount points are created');
  t.is(readFileSync(join(rootfs, 'etc/hosts'), 'utf8'), '127.0.0.1 localhost localdomain\n');
  t.regex(readFileSync(join(pod.dir, 'stage1/rootfs/rkt/env/web'), 'utf8'), /^PATH=.*\nAC_APP_NAME=web\n$/s);
});

test('run: execve with the app env and the lock fd kept; image app used when the pod has none', async (t) => {
  const pod = await fakePod(t, [{ name: 'web' }]);
  const ctx = ctxFor(pod.dir, recordingSys(), { RKT_LOCK_FD: '2' });
  const e = t.throws(() => flyRun([pod.uuid], ctx));
  t.is((e as { code?: string }).code, RECORDED_EXECVE);
  const [path, argv, env, opts] = ctx.sys.callsOf('execve')[0]!;
  t.is(path, '/bin/app');
  t.deepEqual(argv, ['/bin/app']);
  t.true((env as string[]).includes('AC_APP_NAME=web'));
  t.deepEqual(opts, { keepFds: [2] });
  t.deepEqual(ctx.sys.callsOf('setresuid'), [[0, 0, 0]]);
});

test('run: readOnlyRootFS and read-only volumes are remounted read-only', async (t) => {
  const pod = await fakePod(t, [{ name: 'web', readOnlyRootFS: true, mounts: [{ volume: 'v', path: '/v' }] }], {
    volumes: [{ name: 'v', kind: 'empty', readOnly: true, mode: '0750', uid: 1000, gid: 1000 }],
  });
  const ctx = ctxFor(pod.dir);
  prepareFlyRun([pod.uuid], ctx);
  const rootfs = pod.rootfs('web');
  const mounts = ctx.sys.callsOf('mount');
  t.deepEqual(mounts.slice(6), [
    [join(pod.dir, 'sharedVolumes/v'), join(rootfs, 'v'), null, MS_BIND],
    [null, join(rootfs, 'v'), null, MS_BIND | MS_REMOUNT | MS_RDONLY],
    [null, rootfs, null, MS_BIND | MS_REMOUNT | MS_RDONLY],
  ]);
  const st = statSync(join(pod.dir, 'sharedVolumes/v'));
  t.is(st.mode & 0o7777, 0o750);
  t.is(st.uid, 1000);
});

test('run: refuses what fly cannot do, before touching anything', async (t) => {
  const two = await fakePod(t, [{ name: 'a' }, { name: 'b' }]);
  const ctx = ctxFor(two.dir);
  const multi = t.throws(() => prepareFlyRun([two.uuid], ctx));
  t.true(hasCode(multi, 'stage1-fly.pod.apps'));
  t.is(multi!.message, `stage1-fly supports a single app per pod; pod ${two.uuid} has 2 apps`);

  const one = await fakePod(t, [{ name: 'a' }]);
  for (const [argv, env, code] of [
    [['--private-users=100000:65536', one.uuid], { RKT_LOCK_FD: '0' }, 'stage1-fly.unsupported'],
    [['--mutable', one.uuid], { RKT_LOCK_FD: '0' }, 'stage1-fly.unsupported'],
    [[one.uuid], {}, 'stage1.lock-fd.missing'],
    [[one.uuid], { RKT_LOCK_FD: '999' }, 'stage1-fly.lock-fd'],
    [['--bogus', one.uuid], { RKT_LOCK_FD: '0' }, 'stage1.args.unknown-flag'],
  ] as const) {
    const c = ctxFor(one.dir, recordingSys(), env);
    const e = t.throws(() => prepareFlyRun(argv, c));
    t.true(hasCode(e, code), `${argv.join(' ')}: ${(e as { code?: string }).code}`);
    t.deepEqual(c.sys.calls, [], 'no system call made');
  }
  t.false(existsSync(join(one.dir, 'pid')));
});

test('run: a failing mount stops run with a system error naming the step', async (t) => {
  const pod = await fakePod(t, [{ name: 'web' }]);
  const sys = recordingSys({ mount: (_s, target) => {
    if (target.endsWith('/proc')) throw Object.assign(new Error(`mount ${target}: operation not permitted`), { code: 'EPERM' });
  } });
  const e = t.throws(() => prepareFlyRun([pod.uuid], ctxFor(pod.dir, sys)));
  t.true(hasCode(e, 'stage1-fly.mount'));
  t.regex(e!.message, /cannot set up \/proc at \/proc in the app/);
  t.false(existsSync(join(pod.dir, 'pid')), 'pid is written only once everything is mounted');
});

test('run: never creates a mount point inside the host trees /dev, /proc, /sys', async (t) => {
  const pod = await fakePod(t, [{ name: 'web', mounts: [{ volume: 'v', path: '/dev/newdir' }] }], { volumes: [{ name: 'v', kind: 'empty' }] });
  const e = t.throws(() => prepareFlyRun([pod.uuid], ctxFor(pod.dir)));
  t.true(hasCode(e, 'stage1-fly.mount.target'));
  t.regex(e!.message, /cannot create the mount point \/dev\/newdir for volume v/);
  t.false(existsSync(join(pod.rootfs('web'), 'dev/newdir')));
});

test('enter: nsenter into the app, with its env file and credentials; /bin/sh by default', async (t) => {
  t.deepEqual(parseFlyEnterArgs(['--pid=5']).command, ['/bin/sh']);
  t.deepEqual(parseFlyEnterArgs(['--pid=5', '--']).command, ['/bin/sh']);
  t.deepEqual(parseFlyEnterArgs(['--pid=5', '--', 'ls', '-l']).command, ['ls', '-l']);
  t.throws(() => parseFlyEnterArgs([]), { message: /missing --pid/ });

  const pod = await fakePod(t, [{ name: 'web', app: { exec: ['/bin/app'], user: '0', group: '0' } }]);
  mkdirSync(join(pod.dir, 'stage1/rootfs/rkt/env'), { recursive: true });
  writeFileSync(join(pod.dir, 'stage1/rootfs/rkt/env/web'), 'PATH=/bin\nAC_APP_NAME=web\n');
  // this test process stands in for the app: its root is / and it runs as root
  const x = prepareFlyEnter([`--pid=${process.pid}`, '--appname=web', '--', 'id'], ctxFor(pod.dir, recordingSys(), { PATH: '/usr/bin:/bin' }));
  t.regex(x.path, /\/nsenter$/);
  t.deepEqual(x.argv.slice(1), [`--target=${process.pid}`, '--mount', '--root', '--wd', '--setuid=0', '--setgid=0', '--', 'id']);
  t.deepEqual(x.env, [['PATH', '/bin'], ['AC_APP_NAME', 'web']]);
  const wrong = t.throws(() => prepareFlyEnter([`--pid=${process.pid}`, '--appname=db', '--', 'id'], ctxFor(pod.dir)));
  t.true(hasCode(wrong, 'stage1-fly.enter.app'));
  const gone = t.throws(() => prepareFlyEnter(['--pid=2147483646', '--', 'id'], ctxFor(pod.dir)));
  t.true(hasCode(gone, 'stage1-fly.enter.pid'));
});

test('stop: SIGTERM or SIGKILL to the pid; the group too with --force when the app leads it', async (t) => {
  const pod = await fakePod(t, [{ name: 'web' }]);
  const noPid = await t.throwsAsync(flyStop([pod.uuid], ctxFor(pod.dir)));
  t.true(hasCode(noPid, 'stage1-fly.stop.no-pid'));

  writeFileSync(join(pod.dir, 'pid'), '4321\n');
  writeFileSync(join(pod.dir, 'pgid'), '1\n');
  let ctx = ctxFor(pod.dir);
  t.like(await flyStop([pod.uuid], ctx), { pid: 4321, signal: 'SIGTERM', signalledPid: true, signalledGroup: false });
  t.deepEqual(ctx.sys.callsOf('kill'), [[4321, 'SIGTERM']]);
  ctx = ctxFor(pod.dir);
  await flyStop(['--force', pod.uuid], ctx);
  t.deepEqual(ctx.sys.callsOf('kill'), [[4321, 'SIGKILL']], 'not a group leader: only the pid');

  writeFileSync(join(pod.dir, 'pgid'), '4321\n');
  ctx = ctxFor(pod.dir);
  await flyStop(['--force', pod.uuid], ctx);
  t.deepEqual(ctx.sys.callsOf('kill'), [[4321, 'SIGKILL'], [-4321, 'SIGKILL']]);

  const esrch = () => {
    throw Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' });
  };
  ctx = ctxFor(pod.dir, recordingSys({ kill: esrch }));
  t.like(await flyStop([pod.uuid], ctx), { signalledPid: false, signalledGroup: false }, 'a pod already gone is not an error');
});

test('gc: nothing mounted, nothing to do, twice; removes pgid', async (t) => {
  const pod = await fakePod(t, [{ name: 'web' }]);
  writeFileSync(join(pod.dir, 'pgid'), '1\n');
  const ctx = ctxFor(pod.dir);
  t.deepEqual(flyGc(['--local-config', '/etc/rkt', pod.uuid], ctx), { unmounted: [] });
  t.deepEqual(flyGc([pod.uuid], ctx), { unmounted: [] });
  t.false(existsSync(join(pod.dir, 'pgid')));
  t.deepEqual(ctx.sys.callsOf('umount2'), []);
});
