/**
 * `--private-users`: pods in a user namespace of their own with idmapped app roots. Unit tests of
 * src/run/userns.ts (no root), then real pods (root): the ids and capabilities apps see, the
 * image left as it was on the host, volumes, overlay roots as stage0 mounts them, enter, stop,
 * delegated cgroups, and the clear errors, each pod followed by gc and a leak check.
 */
import test from 'ava';
import { chownSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appDir, appRootfsPath, overlayUpperDir, overlayWorkDir, podManifestPath } from '@rktnetes/common';
import { hasCode } from '@rktnetes/errors';
import { type MountInfo, realSys, recordingSys } from '@rktnetes/sys';
import { DEFAULT_CAPABILITIES, type PodManifestInput, parsePodManifest, podManifest, serializePodManifest } from '@rktnetes/schema';
import {
  appRootLayers,
  checkIdmap,
  checkUsernsApps,
  commonDir,
  delegateCgroups,
  findPodCgroups,
  formatInitSpec,
  idmapCheckOps,
  idmapMountOps,
  nsenterArgv,
  parseOverlayOptions,
  podUserNamespace,
  prepareStage1Root,
  shiftPodOwners,
  withPodFsIds,
  type InitSpec,
} from '@rktnetes/stage1-coreos';
import { assertNoLeaks, busyboxImage, capsToHex, hasBusybox, isRoot, leakCheck, parseProbeOutput, testIf, tmpDir } from '@rktnetes/testkit';
import { spawnSync } from 'node:child_process';
import { preparePod, readPid, runAndGc, runEntrypoint, startPod, waitFor, type TestPod } from './helpers/pod';
import { NetSandbox, canRunNetTests } from './helpers/net-sandbox';

const it = testIf(test, isRoot() && hasBusybox(), 'needs root and busybox-static');
const MAP = { shift: 100000, count: 65536 };

const mountInfo = (mountPoint: string, fsType: string, superOptions: string[]): MountInfo => ({
  id: 1,
  parentId: 1,
  major: 0,
  minor: 1,
  root: '/',
  mountPoint,
  options: ['rw'],
  optional: [],
  fsType,
  source: fsType,
  superOptions,
});

// ------------------------------------------------------------------------------------ unit

test('podUserNamespace: the mapping, none without the flag, refused for mutable pods', (t) => {
  t.is(podUserNamespace({ mutable: false }), undefined);
  t.deepEqual(podUserNamespace({ mutable: false, privateUsers: MAP }), MAP);
  const e = t.throws(() => podUserNamespace({ mutable: true, privateUsers: MAP }));
  t.true(hasCode(e, 'stage1.private-users.unsupported'));
});

test('checkUsernsApps: every id of every app is mapped; not in the host pid namespace', (t) => {
  const app = (uid: number, gid: number, groups: number[] = []) => ({ name: 'a', identity: { uid, gid, groups } });
  t.notThrows(() => checkUsernsApps(MAP, [app(0, 0), app(65535, 1000, [65535])]));
  for (const bad of [app(65536, 0), app(0, 70000), app(0, 0, [1, 65536])]) {
    const e = t.throws(() => checkUsernsApps(MAP, [bad]));
    t.true(hasCode(e, 'stage1.private-users.range'));
    t.regex(e!.message, /^app a: (uid|gid|supplementary group) \d+ is outside the pod's user namespace \(ids 0-65535\)$/);
  }
  t.true(hasCode(t.throws(() => checkUsernsApps(MAP, [app(0, 0)], 'host')), 'stage1.private-users.unsupported'));
});

test('parseOverlayOptions: lowerdir lists with escapes, lowerdir+, upper and work', (t) => {
  t.deepEqual(parseOverlayOptions(['rw', 'lowerdir=/a/b:/c\\:d:/e\\054f', 'upperdir=/u\\040x', 'workdir=/w']), { lowers: ['/a/b', '/c:d', '/e,f'], upper: '/u x', work: '/w' });
  t.deepEqual(parseOverlayOptions(['lowerdir+=/l1', 'lowerdir+=/l2', 'upperdir=/u', 'workdir=/w', 'uuid=on']), { lowers: ['/l1', '/l2'], upper: '/u', work: '/w' });
  t.deepEqual(parseOverlayOptions(['rw']), { lowers: [] });
});

test('commonDir: the deepest directory holding both', (t) => {
  t.is(commonDir('/p/overlay/id/upper/app', '/p/overlay/id/work/app'), '/p/overlay/id');
  t.is(commonDir('/a/x', '/b/y'), '/');
  t.is(commonDir('/a/b/c', '/a/b/d'), '/a/b');
});

test('appRootLayers: an overlay (absolute or store-relative lower dirs) or a directory', async (t) => {
  const data = await tmpDir('pu-layers', t);
  const pod = join(data, 'pods', 'run', 'uuid');
  mkdirSync(join(data, 'cas', 'layer', 'aaa'), { recursive: true });
  mkdirSync(join(data, 'cas', 'layer', 'bbb'), { recursive: true });
  const root = join(pod, 'stage1/rootfs/opt/stage2/app/rootfs');
  const upper = join(pod, 'overlay/id/upper/app');
  const work = join(pod, 'overlay/id/work/app');
  t.deepEqual(appRootLayers('app', root, [mountInfo('/', 'ext4', []), mountInfo(root, 'overlay', [`lowerdir=/store/tree/rootfs`, `upperdir=${upper}`, `workdir=${work}`])], pod), {
    kind: 'overlay',
    app: 'app',
    target: root,
    lowers: ['/store/tree/rootfs'],
    base: join(pod, 'overlay/id'),
    upper: 'upper/app',
    work: 'work/app',
  });
  const rel = appRootLayers('app', root, [mountInfo(root, 'overlay', ['lowerdir=aaa:bbb', `upperdir=${upper}`, `workdir=${work}`])], pod);
  t.deepEqual(rel.kind === 'overlay' ? rel.lowers : [], [join(data, 'cas/layer/aaa'), join(data, 'cas/layer/bbb')]);
  const e = t.throws(() => appRootLayers('app', root, [mountInfo(root, 'overlay', ['lowerdir=zzz', `upperdir=${upper}`, `workdir=${work}`])], pod));
  t.true(hasCode(e, 'stage1.private-users.idmap'));
  t.deepEqual(appRootLayers('app', root, [mountInfo('/', 'ext4', [])], pod), { kind: 'dir', app: 'app', target: root });
});

test('idmap ops: check every layer and the upper dir; replace overlays, bind directories', (t) => {
  const layers = [
    { kind: 'overlay' as const, app: 'a', target: '/r/a', lowers: ['/l1', '/l2'], base: '/o', upper: 'upper/a', work: 'work/a' },
    { kind: 'dir' as const, app: 'b', target: '/r/b' },
  ];
  t.deepEqual(idmapCheckOps(layers), ['layer', '/l1', 'layer', '/l2', 'check', '/o', 'check', '/r/b']);
  t.deepEqual(idmapMountOps(layers), ['overlay', '/r/a', '/o', 'upper/a', 'work/a', '2', '/l1', '/l2', 'bind', '/r/b']);
});

test('checkIdmap: a refused directory is a user error naming the app, the filesystem and the reason', (t) => {
  const layers = [{ kind: 'dir' as const, app: 'web', target: '/pod/root' }];
  const mounts = [mountInfo('/', 'ext4', []), mountInfo('/pod', 'ramfs', [])];
  const calls: string[][] = [];
  checkIdmap('/init', MAP, layers, mounts, (file, args) => (calls.push([file, ...args]), { status: 0, stdout: '', stderr: '' }));
  t.deepEqual(calls, [['/init', 'idmap', '100000', '65536', 'check', '/pod/root']]);
  const e = t.throws(() => checkIdmap('/init', MAP, layers, mounts, () => ({ status: 3, stdout: '/pod/root: Invalid argument\n', stderr: '' })));
  t.true(hasCode(e, 'stage1.private-users.idmap'));
  t.is(e!.message, '--private-users needs idmapped mounts: the root of app web (/pod/root, ramfs) cannot be idmapped: Invalid argument');
  const ns = t.throws(() => checkIdmap('/init', MAP, layers, mounts, () => ({ status: 3, stdout: 'user namespace: No space left on device\n', stderr: '' })));
  t.true(hasCode(ns, 'stage1.private-users.idmap'));
  const broken = t.throws(() => checkIdmap('/init', MAP, layers, mounts, () => ({ status: 254, stdout: '', stderr: 'stage1 init: boom\n' })));
  t.true(hasCode(broken, 'stage1.private-users.mount'));
});

test('delegateCgroups: app cgroup directories and their process files, nothing above', (t) => {
  const chowned: string[] = [];
  const chown = (p: string, uid: number, gid: number) => {
    if (p.endsWith('/tasks')) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    chowned.push(`${p} ${uid}:${gid}`);
  };
  delegateCgroups({ web: ['/cg/memory/rkt-x/web/cgroup.procs'] }, MAP, chown);
  t.deepEqual(chowned, [
    '/cg/memory/rkt-x/web 100000:100000',
    '/cg/memory/rkt-x/web/cgroup.procs 100000:100000',
    '/cg/memory/rkt-x/web/cgroup.threads 100000:100000',
    '/cg/memory/rkt-x/web/cgroup.subtree_control 100000:100000',
  ]);
  const e = t.throws(() => delegateCgroups({ web: ['/cg/x/cgroup.procs'] }, MAP, () => { throw Object.assign(new Error('EPERM'), { code: 'EPERM' }); }));
  t.true(hasCode(e, 'stage1.cgroup.delegate'));
});

test('prepareStage1Root and shiftPodOwners: state dirs of the pod root, searchable paths, shifted pod files only', async (t) => {
  const pod = await tmpDir('pu-s1', t);
  const s1 = join(pod, 'stage1/rootfs');
  mkdirSync(join(s1, 'opt/stage2/web'), { recursive: true, mode: 0o750 });
  const chowned: string[] = [];
  prepareStage1Root(s1, ['web'], MAP, (p, u) => chowned.push(`${p.slice(s1.length)} ${u}`));
  t.deepEqual(chowned, ['/rkt 100000', '/rkt/status 100000', '/rkt/pids 100000', '/rkt/log 100000']);
  for (const d of ['', '/opt', '/opt/stage2', '/opt/stage2/web']) t.is(statSync(s1 + d).mode & 0o001, 0o001, `${d} searchable`);
  t.true(statSync(join(s1, 'proc')).isDirectory());

  writeFileSync(join(s1, 'hostname'), 'x');
  const shifted: string[] = [];
  shiftPodOwners(pod, [join(s1, 'hostname'), '/etc/hosts'], MAP, (p, u, g) => shifted.push(`${p.slice(pod.length)} ${u}:${g}`));
  t.deepEqual(shifted, ['/stage1/rootfs/hostname 100000:100000'], 'files outside the pod are left alone');
});

test('withPodFsIds: the pod root filesystem ids and the permitted capabilities, restored after', (t) => {
  const caps = { effective: new Set([0]), permitted: new Set([0, 1, 2]), inheritable: new Set<number>() };
  let fsuid = 0;
  const sys = recordingSys({ capget: caps, setfsuid: (u: number) => { const old = fsuid; if (u !== -1) fsuid = u; return old; }, setfsgid: (g: number) => (g === -1 ? MAP.shift : 0) });
  t.is(withPodFsIds(sys, MAP, () => fsuid), MAP.shift);
  t.is(fsuid, 0);
  t.deepEqual(sys.callsOf('capset'), [[{ effective: caps.permitted, permitted: caps.permitted, inheritable: caps.inheritable }], [caps]]);
  t.is(withPodFsIds(sys, undefined, () => 7), 7);
});

test('the init spec carries the mapping; enter joins the user namespace', (t) => {
  const spec: InitSpec = {
    debug: false, lockFd: 3, stage1Root: '/s1', hostname: 'h', network: { mode: 'none' }, ipc: 'private', interactive: false,
    stopTimeoutSeconds: 10, cgroupJoins: [], cgroupMoves: [], cgroupWrites: [], apps: [], userns: MAP,
  };
  t.true(formatInitSpec(spec).includes('\nuserns 100000 65536\n'));
  t.deepEqual(nsenterArgv(7, ['sh'], '/proc', true).slice(0, 4), ['nsenter', '--target=7', '--user', '--mount']);
  t.false(nsenterArgv(7, ['sh']).includes('--user'));
});

// ------------------------------------------------------------------------------ real pods

const puFlag = (m = MAP) => `--private-users=${m.shift}:${m.count}`;

/** `/proc/self/uid_map`'s first line as numbers. */
const idMap = (text: string) => text.trim().split(/\s+/).map(Number);

/**
 * Mounts the app's root as stage0 does for an overlay pod: the image's rootfs (extracted in the
 * data directory, like a tree store render) as the lower dir, upper and work dirs in the pod.
 */
async function overlayApp(pod: TestPod, app: string, image: Buffer): Promise<string> {
  const tree = join(pod.dataDir, 'cas', 'tree', app);
  mkdirSync(tree, { recursive: true });
  const r = spawnSync('tar', ['-C', tree, '-xf', '-'], { input: image });
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
  mkdirSync(appDir(pod.dir, app), { recursive: true });
  writeFileSync(join(appDir(pod.dir, app), 'manifest'), readFileSync(join(tree, 'manifest')));
  const upper = overlayUpperDir(pod.dir, 'tree', app);
  const work = overlayWorkDir(pod.dir, 'tree', app);
  for (const d of [upper, work, appRootfsPath(pod.dir, app)]) mkdirSync(d, { recursive: true });
  realSys().mount('overlay', appRootfsPath(pod.dir, app), 'overlay', 0, `lowerdir=${join(tree, 'rootfs')},upperdir=${upper},workdir=${work}`);
  return join(tree, 'rootfs');
}

const SCRIPT = [
  'cat /proc/self/uid_map /proc/self/gid_map',
  'stat -c "busybox %u %g" /bin/busybox',
  'echo made > /made && stat -c "made %u" /made',
  'ip -o link show lo',
  '/probe',
].join('; ');

it('an app runs as the root of its user namespace, host uid shift, and sees its image as root-owned', async (t) => {
  const pod = await preparePod(t, [{ name: 'sh', image: { exec: ['/bin/sh', '-c', SCRIPT] } }]);
  const r = await runAndGc(t, pod, ['--net=none', puFlag()]);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  t.deepEqual(idMap(lines[0]!), [0, MAP.shift, MAP.count], 'uid_map');
  t.deepEqual(idMap(lines[1]!), [0, MAP.shift, MAP.count], 'gid_map');
  t.is(lines[2], 'busybox 0 0', 'the image appears owned by root');
  t.is(lines[3], 'made 0');
  t.regex(lines[4]!, /<LOOPBACK,UP,LOWER_UP>/, 'lo is up in the network the user namespace owns');
  const p = parseProbeOutput(r.stdout);
  t.is(p.uid, 0);
  t.is(p.pid, 2);
  t.is(p.caps.effective.hex, capsToHex(DEFAULT_CAPABILITIES), 'the default capabilities, in the namespace');
  t.is(p.caps.bounding.hex, capsToHex(DEFAULT_CAPABILITIES));
  t.is(p.seccomp, 2);
  t.is(p.hostname, `rkt-${pod.uuid}`);
  t.not(p.namespaces.user, readlinkSync('/proc/self/ns/user'), 'own user namespace');
  t.not(p.namespaces.net, readlinkSync('/proc/self/ns/net'), 'own network (--net=none)');
  t.is(p.mounts.find((m) => m.target === '/proc')?.fstype, 'proc');
  t.true(p.mounts.find((m) => m.target === '/sys')?.options.includes('ro'));
  t.true(p.mounts.some((m) => m.target === '/proc/keys'), 'masked paths');
  // on the host: the image unchanged, the new file written as uid 0 through the idmapped root
  const root = appRootfsPath(pod.dir, 'sh');
  t.is(statSync(join(root, 'bin/busybox')).uid, 0);
  t.is(statSync(join(root, 'made')).uid, 0);
  t.is(statSync(join(pod.stage1Root, 'rkt/status/sh')).uid, MAP.shift, 'written by PID 1, the pod root');
  t.regex(readFileSync(join(pod.stage1Root, 'rkt/log/sh'), 'utf8'), /stdout F made 0\n/, 'the app log');
});

it('an overlay root over the store, volumes: host files are the shifted ids, empty volumes the pod ids', async (t) => {
  const shift = 200000;
  const map = { shift, count: 65536 };
  const host = await tmpDir('pu-vol', t);
  chownSync(host, shift, shift);
  const script = [
    'stat -c "busybox %u" /bin/busybox',
    'echo x > /in-root',
    'echo y > /host/from-pod && stat -c "host %u %g" /host/from-pod',
    'stat -c "scratch %u %g %a" /scratch',
    'echo z > /scratch/f',
    'id -u; id -G',
  ].join('; ');
  const pod = await preparePod(t, [], {
    volumes: [
      { name: 'host', kind: 'host', source: host },
      { name: 'scratch', kind: 'empty', uid: 1000, gid: 1001, mode: '0750' },
    ],
  });
  const image = await busyboxImage({ name: 'example.com/ov', exec: ['/bin/sh', '-c', script] });
  const lower = await overlayApp(pod, 'ov', image);
  const manifest = parsePodManifest(readFileSync(podManifestPath(pod.dir)));
  const apps = [{ name: 'ov', image: { name: 'example.com/ov' }, mounts: [{ volume: 'host', path: '/host' }, { volume: 'scratch', path: '/scratch' }] }];
  writeFileSync(podManifestPath(pod.dir), serializePodManifest(podManifest({ ...manifest, apps } as PodManifestInput)));

  const r = await runAndGc(t, pod, ['--net=none', puFlag(map)]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^busybox 0$/m);
  t.regex(r.stdout, /^host 0 0$/m, 'in the pod, the pod root owns what it made');
  t.regex(r.stdout, /^scratch 1000 1001 750$/m, 'the empty volume has its ids in the pod');
  t.is(statSync(join(host, 'from-pod')).uid, shift, 'on the host, a file made in a host volume belongs to host uid shift');
  t.is(statSync(join(pod.dir, 'sharedVolumes/scratch')).uid, shift + 1000);
  t.is(statSync(join(lower, 'bin/busybox')).uid, 0, 'the store tree is unchanged');
  t.deepEqual(readdirSync(lower).includes('in-root'), false);
  const upper = overlayUpperDir(pod.dir, 'tree', 'ov');
  t.is(statSync(join(upper, 'in-root')).uid, 0, "the pod's changes are in its upper dir, uid 0 on disk");
});

it('enter (as the app and into PID 1), delegated cgroups, stop and gc', async (t) => {
  const pod = await preparePod(t, [{ name: 'web', image: { exec: ['/bin/sleep', '60'] } }]);
  const check = await leakCheck({ match: pod.uuid, cgroupRoots: ['/sys/fs/cgroup'], iptables: false, veth: false });
  const running = startPod(pod, ['--net=none', puFlag()]);
  const pid = await waitFor('the pod pid', () => readPid(pod));

  const asApp = await runEntrypoint(pod, 'enter', [`--pid=${pid}`, '--appname=web', '--', '/bin/sh', '-c', 'cat /proc/self/uid_map; id -u; stat -c %u /bin/busybox; grep CapEff /proc/self/status']);
  t.is(asApp.code, 0, asApp.stderr);
  const [map, uid, owner, capEff] = asApp.stdout.trim().split('\n');
  t.deepEqual(idMap(map!), [0, MAP.shift, MAP.count]);
  t.is(uid, '0');
  t.is(owner, '0');
  t.regex(capEff!, new RegExp(capsToHex(DEFAULT_CAPABILITIES)));

  // the stage1 root has no shell: the app's busybox, seen from PID 1's root
  const intoPid1 = await runEntrypoint(pod, 'enter', [`--pid=${pid}`, '--', '/opt/stage2/web/rootfs/bin/busybox', 'cat', '/proc/self/uid_map', '/proc/self/status']);
  t.is(intoPid1.code, 0, intoPid1.stderr);
  t.deepEqual(idMap(intoPid1.stdout.split('\n')[0]!), [0, MAP.shift, MAP.count]);
  t.regex(intoPid1.stdout, /^Uid:\s+0\s+0\s+0\s+0$/m, 'root of the pod, as PID 1');

  const cgroups = findPodCgroups(pod.uuid);
  t.true(cgroups.length > 0);
  for (const dir of cgroups) {
    t.is(statSync(dir).uid, 0, `${dir}: the pod cgroup stays the host's`);
    t.is(statSync(join(dir, 'web')).uid, MAP.shift, `${dir}/web is delegated`);
    t.is(statSync(join(dir, 'web', 'cgroup.procs')).uid, MAP.shift);
  }

  const stop = await runEntrypoint(pod, 'stop', [pod.uuid]);
  t.is(stop.code, 0, stop.stderr);
  const r = await running.done;
  t.is(r.code, 143, r.stderr);
  const gc = await runEntrypoint(pod, 'gc', [pod.uuid]);
  t.is(gc.code, 0, gc.stderr);
  await assertNoLeaks(t, check);
});

it('a non-root app, /dev of the pod root, a read-only root, and a sysctl set in the pod only', async (t) => {
  const hostValue = readFileSync('/proc/sys/kernel/shm_rmid_forced', 'utf8');
  const root = 'stat -c "dev %u %g" /dev /dev/null /dev/shm; stat -c "pts %u %g" /dev/pts; cat /proc/sys/kernel/shm_rmid_forced';
  const user = 'id -u; id -g; grep -E "^(Uid|CapEff)" /proc/self/status; touch /dev/shm/u && stat -c "shm %u" /dev/shm/u; (echo > /ro) 2>/dev/null || echo ro-refused; echo v > /vol/f';
  const pod = await preparePod(
    t,
    [
      { name: 'root', image: { exec: ['/bin/sh', '-c', root] } },
      { name: 'user', image: { exec: ['/bin/sh', '-c', user], app: { user: '1000', group: '1000', mountPoints: [{ name: 'vol', path: '/vol' }] } }, runtime: { readOnlyRootFS: true } },
    ],
    { volumes: [{ name: 'vol', kind: 'empty', uid: 1000, gid: 1000 }], isolators: [{ name: 'os/unix/sysctl', value: { 'kernel.shm_rmid_forced': '1' } }] },
  );
  const r = await runAndGc(t, pod, ['--net=none', puFlag()]);
  t.is(r.code, 0, r.stderr);
  const out = r.stdout.split('\n');
  t.deepEqual(out.filter((l) => l.startsWith('dev ')), ['dev 0 0', 'dev 0 0', 'dev 0 0'], '/dev and its nodes belong to the pod root');
  t.true(out.includes('pts 65534 65534'), "devpts's own root stays the host's (the overflow id here)");
  t.true(out.includes('1'), 'the sysctl is set in the pod');
  t.is(readFileSync('/proc/sys/kernel/shm_rmid_forced', 'utf8'), hostValue, 'and not on the host');
  t.true(out.includes('1000'));
  t.regex(r.stdout, /^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
  t.regex(r.stdout, /^CapEff:\s+0+$/m, 'a non-root app holds no capability');
  t.true(out.includes('shm 1000'));
  t.true(out.includes('ro-refused'));
  t.is(statSync(join(pod.dir, 'sharedVolumes/vol/f')).uid, MAP.shift + 1000, 'host uid shift + 1000');
});

it('an app with a pid namespace of its own gets its own /proc in the user namespace too', async (t) => {
  const script = 'echo pid $$; cat /proc/self/uid_map; wc -c < /proc/keys';
  const pod = await preparePod(t, [{ name: 'sh', image: { exec: ['/bin/sh', '-c', script] }, runtime: { annotations: [{ name: 'rktnetes.io/stage2/pid-namespace', value: 'private' }] } }]);
  const r = await runAndGc(t, pod, ['--net=none', puFlag()]);
  t.is(r.code, 0, r.stderr);
  const out = r.stdout.trim().split('\n');
  t.is(out[0], 'pid 1');
  t.deepEqual(idMap(out[1]!), [0, MAP.shift, MAP.count]);
  t.is(out[2]?.trim(), '0', '/proc/keys masked in the new /proc');
});

it('a root that cannot be idmapped fails with one clear line before anything exists', async (t) => {
  const pod = await preparePod(t, [{ name: 'probe' }]);
  const root = appRootfsPath(pod.dir, 'probe');
  const copy = join(pod.dataDir, 'copy');
  spawnSync('cp', ['-a', root, copy]);
  realSys().mount('ramfs', root, 'ramfs', 0, null);
  spawnSync('cp', ['-a', `${copy}/.`, root]);
  const check = await leakCheck({ match: pod.uuid, cgroupRoots: ['/sys/fs/cgroup'], iptables: false, veth: false });
  const r = await startPod(pod, ['--net=none', puFlag()]).done;
  t.is(r.code, 254);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.regex(r.stderr, new RegExp(`^stage1: --private-users needs idmapped mounts: the root of app probe \\(${root}, ramfs\\) cannot be idmapped: Invalid argument$`, 'm'));
  t.false(existsIn(pod.dir, 'runtime-config'), 'no cgroup was created');
  const gc = await runEntrypoint(pod, 'gc', [pod.uuid]);
  t.is(gc.code, 0, gc.stderr);
  await assertNoLeaks(t, check);
});

it('an app uid outside the mapping is refused', async (t) => {
  const pod = await preparePod(t, [{ name: 'probe', image: { app: { user: '70000', group: '0' } } }]);
  const r = await runAndGc(t, pod, ['--net=none', puFlag()]);
  t.is(r.code, 254);
  t.regex(r.stderr, /^stage1: app probe: uid 70000 is outside the pod's user namespace \(ids 0-65535\)$/m);
});

function existsIn(dir: string, name: string): boolean {
  return readdirSync(dir).includes(name);
}

const netIt = canRunNetTests() && hasBusybox() ? test : test.skip;

netIt('rkt run --private-users --net=default: CNI from the host side, a server on port 80, stop and gc leave nothing', async (t) => {
  const s = await new NetSandbox().open();
  t.teardown(() => s.close());
  const httpd = await s.image('pu-httpd', {
    exec: ['/bin/sh', '-c', 'mkdir -p /www && cat /proc/self/uid_map > /www/index.html && exec httpd -f -p 80 -h /www'],
    app: { ports: [{ name: 'http', protocol: 'tcp', port: 80 }] },
  });
  const pod = await s.startPod(httpd, ['--private-users', '--net=default']);
  const [net] = s.netInfo(pod.uuid);
  t.regex(net!.ip, /^172\.16\.28\.\d+$/);
  const body = await waitFor('httpd', () => s.httpGet(`http://${net!.ip}/`));
  const shift = Number(readFileSync(join(s.podDir(pod.uuid)!, 'private-users-prepared'), 'utf8').split(':')[0]);
  t.deepEqual(idMap(body ?? ''), [0, shift, 65536], 'the pod root (host uid shift) listens on port 80');
  t.is(shift % 65536, 0);
  t.is((await s.rkt(['stop', pod.uuid])).code, 0);
  await waitFor('the pod to exit', async () => ((await s.rkt(['list', '--no-legend'])).stdout.includes('running') ? undefined : true));
  const gc = await s.gc();
  t.is(gc.code, 0, gc.stderr);
  t.deepEqual(await s.leftovers(), [], 'gc leaves no netns, veth, lease, iptables rule, mount or process');
});
