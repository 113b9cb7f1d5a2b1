import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMountInfo, recordingSys, MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT, S_IFCHR, makedev } from '@rktnetes/sys';
import {
  ALLOWED_DEVICES,
  APP_DEVICES,
  createPodCgroups,
  detectHierarchies,
  isUnified,
  planPodCgroups,
  setupAppFs,
  sharesToWeight,
} from '@rktnetes/stage1-coreos';

const UUID = '11111111-2222-4333-8444-555555555555';

const HYBRID_CGROUP = `9:name=systemd:/
8:pids:/
4:memory:/process_api/abc
2:cpuacct:/
1:cpu:/
0::/
`;
const HYBRID_MOUNTS = parseMountInfo(`30 25 0:26 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
33 30 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
35 30 0:31 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
36 30 0:32 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`);

test('hierarchies of a hybrid host, each at the caller\'s own cgroup', (t) => {
  const h = detectHierarchies(HYBRID_CGROUP, HYBRID_MOUNTS, () => ['hugetlb']);
  t.deepEqual(
    h.map((x) => [x.version, x.controllers.join(','), x.base]),
    [
      [1, 'name=systemd', '/sys/fs/cgroup/systemd'],
      [1, 'pids', '/sys/fs/cgroup/pids'],
      [1, 'memory', '/sys/fs/cgroup/memory/process_api/abc'],
      [1, 'cpuacct', '/sys/fs/cgroup/cpuacct'],
      [1, 'cpu', '/sys/fs/cgroup/cpu'],
      [2, 'hugetlb', '/sys/fs/cgroup/unified'],
    ],
  );
  t.false(isUnified(h));
});

test('a v1 plan: pod and app cgroups in every hierarchy, limits written by run', (t) => {
  const h = detectHierarchies(HYBRID_CGROUP, HYBRID_MOUNTS, () => []);
  const plan = planPodCgroups(h, UUID, [{ name: 'web', resources: { memoryLimit: 64 << 20, cpuLimitMilli: 500, cpuShares: 512 } }], { restrictDevices: true });
  const pod = `rkt-${UUID}`;
  t.true(plan.dirs.includes(`/sys/fs/cgroup/memory/process_api/abc/${pod}`));
  t.true(plan.dirs.includes(`/sys/fs/cgroup/memory/process_api/abc/${pod}/web`));
  t.is(plan.dirs.length, 12);
  t.deepEqual(plan.moves, []);
  t.is(plan.joins.length, 6);
  t.is(plan.appProcs.web!.length, 6);
  t.is(plan.subcgroup, pod, 'relative to the name=systemd hierarchy root');
  const writes = Object.fromEntries(plan.writes.map((w) => [w.path.replace(/^.*\/web\//, ''), w.value]));
  t.deepEqual(writes, { 'memory.limit_in_bytes': String(64 << 20), 'cpu.cfs_period_us': '100000', 'cpu.cfs_quota_us': '50000', 'cpu.shares': '512' });
  t.deepEqual(plan.warnings, []);
});

test('devices are restricted in a v1 devices hierarchy unless paths are unrestricted', (t) => {
  const h = [{ version: 1 as const, controllers: ['devices'], mountPoint: '/sys/fs/cgroup/devices', selfPath: '/a', base: '/sys/fs/cgroup/devices/a' }];
  const plan = planPodCgroups(h, UUID, [{ name: 'web', resources: {} }], { restrictDevices: true });
  t.deepEqual(plan.writes.map((w) => w.value), ['a', ...ALLOWED_DEVICES]);
  t.is(plan.subcgroup, `a/rkt-${UUID}`);
  t.deepEqual(planPodCgroups(h, UUID, [{ name: 'web', resources: {} }], { restrictDevices: false }).writes, []);
});

test('a unified host: a stage1 leaf, controllers and limits written by the init', (t) => {
  const mounts = parseMountInfo('30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n');
  const h = detectHierarchies('0::/user.slice/session-1.scope\n', mounts, () => ['cpuset', 'cpu', 'io', 'memory', 'pids']);
  t.true(isUnified(h));
  const plan = planPodCgroups(h, UUID, [{ name: 'db', resources: { memoryLimit: 1000, cpuLimitMilli: 250, cpuShares: 1024 } }], { restrictDevices: true });
  const pod = `/sys/fs/cgroup/user.slice/session-1.scope/rkt-${UUID}`;
  t.deepEqual(plan.dirs, [pod, `${pod}/_stage1`, `${pod}/db`]);
  t.deepEqual(plan.joins, [`${pod}/cgroup.procs`]);
  t.deepEqual(plan.moves, [`${pod}/_stage1/cgroup.procs`]);
  t.deepEqual(plan.writes, [
    { path: `${pod}/cgroup.subtree_control`, value: '+cpu +memory +pids' },
    { path: `${pod}/db/memory.max`, value: '1000' },
    { path: `${pod}/db/cpu.max`, value: '25000 100000' },
    { path: `${pod}/db/cpu.weight`, value: String(sharesToWeight(1024)) },
  ]);
  t.is(plan.subcgroup, `user.slice/session-1.scope/rkt-${UUID}`);
  t.is(sharesToWeight(2), 1);
  t.is(sharesToWeight(262144), 10000);
});

test('isolators the host cannot apply are reported', (t) => {
  const h = [{ version: 1 as const, controllers: ['pids'], mountPoint: '/x', selfPath: '/', base: '/x' }];
  const plan = planPodCgroups(h, UUID, [{ name: 'web', resources: { memoryLimit: 1, cpuShares: 2 } }], { restrictDevices: false });
  t.is(plan.warnings.length, 2);
});

test('creating cgroups copies the cpuset of the parent and writes v1 limits', (t) => {
  const base = mkdtempSync(join(tmpdir(), 'rktnetes-s1cg-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  writeFileSync(join(base, 'cpuset.cpus'), '0-1\n');
  writeFileSync(join(base, 'cpuset.mems'), '0\n');
  const pod = join(base, 'pod');
  const app = join(pod, 'app');
  // a real cgroup fs creates the files with the directory; emulate that before each mkdir
  const plan = { unified: false, dirs: [pod, app], joins: [], moves: [], writes: [{ path: join(app, 'memory.limit_in_bytes'), value: '42' }], appProcs: {}, subcgroup: '', warnings: [] };
  mkdirSync(pod);
  writeFileSync(join(pod, 'cgroup.clone_children'), '0');
  writeFileSync(join(pod, 'cpuset.cpus'), '');
  writeFileSync(join(pod, 'cpuset.mems'), '');
  mkdirSync(app);
  writeFileSync(join(app, 'cgroup.clone_children'), '0');
  writeFileSync(join(app, 'cpuset.cpus'), '');
  writeFileSync(join(app, 'cpuset.mems'), '');
  createPodCgroups(plan);
  t.is(readFileSync(join(pod, 'cpuset.cpus'), 'utf8'), '0-1');
  t.is(readFileSync(join(app, 'cpuset.mems'), 'utf8'), '0');
  t.is(readFileSync(join(app, 'memory.limit_in_bytes'), 'utf8'), '42');
});

test('app filesystem setup, recorded: self bind, /dev, binds inside the root, read-only root last', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'rktnetes-s1fs-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'etc'));
  symlinkSync('/data', join(root, 'srv'));
  const src = mkdtempSync(join(tmpdir(), 'rktnetes-s1src-'));
  t.teardown(() => rmSync(src, { recursive: true, force: true }));
  writeFileSync(join(src, 'hosts'), '127.0.0.1 localhost\n');
  const sys = recordingSys({ mknod: (p: string) => writeFileSync(p, '') });
  setupAppFs(sys, {
    name: 'web',
    root,
    binds: [
      { source: src, path: '/srv/www', readOnly: true, recursive: true },
      { source: join(src, 'hosts'), path: '/etc/hosts', ifMissing: true },
    ],
    readOnlyRootFS: true,
  });
  const mounts = sys.callsOf('mount');
  t.deepEqual(mounts[0], [root, root, null, MS_BIND | MS_REC]);
  t.is(mounts[1]![1], join(root, 'dev'));
  t.is(mounts[1]![2], 'tmpfs');
  t.deepEqual(mounts.map((m) => m[2]).filter(Boolean), ['tmpfs', 'devpts', 'tmpfs']);
  // the volume target follows the image's symlink inside the root
  t.true(mounts.some((m) => m[0] === src && m[1] === join(root, 'data/www') && m[3] === (MS_BIND | MS_REC)));
  t.true(mounts.some((m) => m[1] === join(root, 'data/www') && ((m[3] as number) & (MS_REMOUNT | MS_RDONLY)) === (MS_REMOUNT | MS_RDONLY)));
  t.true(mounts.some((m) => m[0] === join(src, 'hosts') && m[1] === join(root, 'etc/hosts')));
  t.deepEqual(mounts.at(-1), [null, root, null, MS_REMOUNT | MS_BIND | MS_RDONLY]);
  t.deepEqual(
    sys.callsOf('mknod').map((c) => c.slice(1)),
    APP_DEVICES.map(([, ma, mi]) => [S_IFCHR | 0o666, makedev(ma, mi)]),
  );
  t.is(readlinkSync(join(root, 'dev/ptmx')), 'pts/ptmx');
  t.is(readlinkSync(join(root, 'etc/mtab')), '../proc/self/mounts');
  t.true(existsSync(join(root, 'proc')) && existsSync(join(root, 'sys')));
});

test('the hosts fallback is not bound over an image\'s own /etc/hosts', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'rktnetes-s1fs-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/hosts'), '10.0.0.1 mine\n');
  const sys = recordingSys({ mknod: (p: string) => writeFileSync(p, '') });
  setupAppFs(sys, { name: 'a', root, binds: [{ source: '/etc/hostname', path: '/etc/hosts', ifMissing: true }], readOnlyRootFS: false });
  t.false(sys.callsOf('mount').some((m) => m[1] === join(root, 'etc/hosts')));
});
