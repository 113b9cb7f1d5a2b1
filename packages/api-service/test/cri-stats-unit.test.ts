/**
 * The pure and file-reading parts of the CRI stats, events, log reopening and resource updates,
 * without privileges: cgroup v1 and v2 file trees written at test time (as the kernel lays them
 * out), mount tables, /proc/<pid>/net/dev, CPU rates, the resource writes, event transitions,
 * and the control socket client against a fake PID 1.
 */
import test from 'ava';
import { linkSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { hasCode } from '@rktnetes/errors';
import { runtimeConfigPath, stage1RootfsPath } from '@rktnetes/common';
import { tmpDir } from '@rktnetes/testkit';
import {
  PodCgroupLocator,
  cgroupDirsOfProcess,
  cgroupSetOf,
  childSet,
  parseCgroupMounts,
  parseFlatKeyed,
  parseNetDev,
  parseSingleValue,
  readCpuUsageNs,
  readMemory,
  readProcessCount,
  type CgroupSet,
} from '../src/cri/cgroups';
import { ctlRequest, parseCtlReply } from '../src/cri/control';
import { removedSandboxStatus, transitions, type Observed } from '../src/cri/events';
import { containerResources, mergeResources, recordedResources, resourceWrites, sharesToWeight } from '../src/cri/resources';
import { CpuRates, dirUsage } from '../src/cri/stats';

const HYBRID_MOUNTINFO = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct',
  '34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  '50 23 0:40 / /proc rw - proc proc rw',
].join('\n');

test('cgroup mounts: v1 hierarchies by controller, the v2 one, mount options dropped', (t) => {
  const mounts = parseCgroupMounts(HYBRID_MOUNTINFO);
  t.is(mounts.length, 7);
  t.deepEqual(mounts.find((m) => m.mountPoint === '/sys/fs/cgroup/cpuset')?.controllers, ['cpuset']);
  t.deepEqual(mounts.find((m) => m.mountPoint === '/sys/fs/cgroup/systemd')?.controllers, ['name=systemd']);
  t.like(mounts.at(-1), { version: 2, mountPoint: '/sys/fs/cgroup/unified', root: '/' });
  const combined = parseCgroupMounts('25 24 0:22 /kube /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n26 24 0:23 / /sys/fs/cgroup/a\\040b rw - cgroup2 cgroup2 rw');
  t.deepEqual(combined[0], { version: 1, controllers: ['cpu', 'cpuacct'], mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/kube' });
  t.is(combined[1]!.mountPoint, '/sys/fs/cgroup/a b');
});

test('the pod cgroups: from runtime-config directories, or from PID 1 (v1 nested, v2 without the _stage1 leaf)', (t) => {
  const mounts = parseCgroupMounts(HYBRID_MOUNTINFO);
  const set = cgroupSetOf(
    ['/sys/fs/cgroup/cpu/rkt-u', '/sys/fs/cgroup/cpuacct/rkt-u', '/sys/fs/cgroup/memory/caller/rkt-u', '/sys/fs/cgroup/unified/rkt-u', '/elsewhere/rkt-u'],
    mounts,
    () => [],
  );
  t.deepEqual(set, { v1: { cpu: '/sys/fs/cgroup/cpu/rkt-u', cpuacct: '/sys/fs/cgroup/cpuacct/rkt-u', memory: '/sys/fs/cgroup/memory/caller/rkt-u' }, v2: { dir: '/sys/fs/cgroup/unified/rkt-u', controllers: [] } });
  const app = childSet(set, 'web');
  t.is(app.v1.memory, '/sys/fs/cgroup/memory/caller/rkt-u/web');
  t.is(app.v2?.dir, '/sys/fs/cgroup/unified/rkt-u/web');
  t.true(hasCode(t.throws(() => childSet(set, '../x')), 'cri.cgroup'));

  const proc = ['9:name=systemd:/rkt-u', '4:memory:/caller/rkt-u', '1:cpu:/rkt-u', '0::/rkt-u', ''].join('\n');
  t.deepEqual(cgroupDirsOfProcess(proc, mounts), ['/sys/fs/cgroup/systemd/rkt-u', '/sys/fs/cgroup/memory/caller/rkt-u', '/sys/fs/cgroup/cpu/rkt-u', '/sys/fs/cgroup/unified/rkt-u']);
  const v2 = parseCgroupMounts('30 20 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate');
  t.deepEqual(cgroupDirsOfProcess('0::/user.slice/rkt-u/_stage1\n', v2), ['/sys/fs/cgroup/user.slice/rkt-u']);
  // a file system mounted from a sub-cgroup shows the paths below its root
  const sub = parseCgroupMounts('30 20 0:26 /ns /sys/fs/cgroup rw - cgroup2 cgroup2 rw');
  t.deepEqual(cgroupDirsOfProcess('0::/ns/rkt-u/_stage1\n', sub), ['/sys/fs/cgroup/rkt-u']);
  t.deepEqual(cgroupDirsOfProcess('0::/other/rkt-u\n', sub), []);
});

test('PodCgroupLocator: runtime-config first, PID 1 otherwise, nothing for pods that do not run', async (t) => {
  const dir = await tmpDir('cri-locator', t);
  const pod = join(dir, 'pod');
  mkdirSync(pod);
  mkdirSync(join(dir, 'proc', '42'), { recursive: true });
  writeFileSync(join(dir, 'proc', '42', 'cgroup'), '4:memory:/rkt-u\n1:cpu:/rkt-u\n');
  const locator = new PodCgroupLocator({ procRoot: join(dir, 'proc'), mountinfo: () => HYBRID_MOUNTINFO });
  const rec = { state: 'running', path: pod, pid: 42, pidKind: 'pid' as const };
  t.deepEqual(locator.ofPod(rec)?.v1, { memory: '/sys/fs/cgroup/memory/rkt-u', cpu: '/sys/fs/cgroup/cpu/rkt-u' });
  writeFileSync(runtimeConfigPath(pod), JSON.stringify({ stage1: 'coreos', version: 1, cgroups: ['/sys/fs/cgroup/pids/x/rkt-u', 7, 'relative'] }));
  t.deepEqual(locator.ofPod(rec)?.v1, { pids: '/sys/fs/cgroup/pids/x/rkt-u' });
  t.is(locator.ofPod({ ...rec, state: 'exited' }), undefined);
  t.is(locator.ofPod(undefined), undefined);
});

/** Writes files below `root`: path → content. */
function tree(root: string, files: Record<string, string>): void {
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), text);
  }
}

test('v1 files: cpuacct.usage, memory (working set = usage - total_inactive_file, total_* counters, limit), pids', async (t) => {
  const root = await tmpDir('cri-cg1', t);
  tree(root, {
    'cpuacct/pod/cpuacct.usage': '123456789\n',
    'memory/pod/memory.usage_in_bytes': '10485760\n',
    'memory/pod/memory.limit_in_bytes': '9223372036854771712\n',
    'memory/pod/memory.stat': 'cache 100\nrss 5\ninactive_file 7\npgfault 1\npgmajfault 0\ntotal_cache 2097152\ntotal_rss 8388608\ntotal_inactive_file 1048576\ntotal_pgfault 5000\ntotal_pgmajfault 3\n',
    'memory/pod/app/memory.usage_in_bytes': '4096\n',
    'memory/pod/app/memory.limit_in_bytes': '67108864\n',
    'memory/pod/app/memory.memsw.usage_in_bytes': '8192\n',
    'memory/pod/app/memory.stat': 'rss 4096\ninactive_file 8192\npgfault 2\npgmajfault 1\n',
    'pids/pod/pids.current': '5\n',
    'cpu/pod/cgroup.procs': '1\n2\n',
    'cpu/pod/app/cgroup.procs': '3\n',
  });
  const set: CgroupSet = { v1: { cpuacct: join(root, 'cpuacct/pod'), memory: join(root, 'memory/pod'), pids: join(root, 'pids/pod'), cpu: join(root, 'cpu/pod') } };
  t.is(readCpuUsageNs(set), 123456789n);
  t.deepEqual(readMemory(set), {
    usage: 10485760n,
    workingSet: 10485760n - 1048576n,
    rss: 8388608n,
    pageFaults: 5000n,
    majorPageFaults: 3n,
    limit: undefined,
    swap: undefined,
    swapLimit: undefined,
  });
  const app = childSet(set, 'app');
  t.like(readMemory(app), { usage: 4096n, workingSet: 0n, rss: 4096n, pageFaults: 2n, majorPageFaults: 1n, limit: 67108864n, swap: 4096n });
  t.is(readCpuUsageNs(app), undefined, 'no cpuacct files: unknown');
  t.is(readProcessCount(set), 5n);
  // without the pids controller: cgroup.procs counted down the tree
  t.is(readProcessCount({ v1: { cpu: join(root, 'cpu/pod') } }), 3n);
  t.is(readProcessCount({ v1: { cpu: join(root, 'nowhere') } }), undefined);
});

test('v2 files: cpu.stat usage_usec, memory.current/max/stat (anon as rss), swap, pids', async (t) => {
  const root = await tmpDir('cri-cg2', t);
  tree(root, {
    'pod/cgroup.controllers': 'cpu memory pids\n',
    'pod/cpu.stat': 'usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n',
    'pod/memory.current': '20000\n',
    'pod/memory.max': 'max\n',
    'pod/memory.stat': 'anon 12000\nfile 8000\ninactive_file 3000\npgfault 10\npgmajfault 2\n',
    'pod/memory.swap.current': '100\n',
    'pod/memory.swap.max': '1000\n',
    'pod/pids.current': '4\n',
    'pod/app/cgroup.controllers': 'cpu memory\n',
    'pod/app/memory.current': '5000\n',
    'pod/app/memory.max': '1048576\n',
    'pod/app/memory.stat': 'anon 4000\ninactive_file 1000\npgfault 1\npgmajfault 0\n',
  });
  const set: CgroupSet = { v1: {}, v2: { dir: join(root, 'pod'), controllers: ['cpu', 'memory', 'pids'] } };
  t.is(readCpuUsageNs(set), 2_500_000n);
  t.deepEqual(readMemory(set), { usage: 20000n, workingSet: 17000n, rss: 12000n, pageFaults: 10n, majorPageFaults: 2n, limit: undefined, swap: 100n, swapLimit: 1000n });
  t.is(readProcessCount(set), 4n);
  const app = childSet(set, 'app');
  t.deepEqual(app.v2?.controllers, ['cpu', 'memory']);
  t.like(readMemory(app), { usage: 5000n, workingSet: 4000n, limit: 1048576n, swap: undefined });
  t.is(readCpuUsageNs(app), undefined);
  // a hybrid host: the v1 memory hierarchy wins over an empty unified one
  t.is(readMemory({ v1: {}, v2: { dir: join(root, 'pod'), controllers: [] } }), undefined);
});

test('flat keyed and single value files, /proc/net/dev', (t) => {
  t.deepEqual([...parseFlatKeyed('a 1\nb  22\nbad\nc x\n\n')], [
    ['a', 1n],
    ['b', 22n],
  ]);
  t.is(parseSingleValue('max\n'), undefined);
  t.is(parseSingleValue(' 42\n'), 42n);
  t.throws(() => parseSingleValue('-1'));
  const dev = [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0',
    '  eth0: 9876543     120    1    0    0     0          0         0    54321      80    2    0    0     0       0          0',
  ].join('\n');
  t.deepEqual(parseNetDev(dev), [
    { name: 'lo', rxBytes: 100n, rxErrors: 0n, txBytes: 100n, txErrors: 0n },
    { name: 'eth0', rxBytes: 9876543n, rxErrors: 1n, txBytes: 54321n, txErrors: 2n },
  ]);
});

test('CPU rates: none from one sample, over at least a window when possible, reset on a counter going back', (t) => {
  const r = new CpuRates(1_000_000_000n);
  t.is(r.rate('a', { ts: 0n, usage: 0n }), undefined);
  // 0.5 s later: against the only sample
  t.is(r.rate('a', { ts: 500_000_000n, usage: 250_000_000n }), 500_000_000n);
  // 1 s after the first: against it, and kept
  t.is(r.rate('a', { ts: 1_000_000_000n, usage: 1_000_000_000n }), 1_000_000_000n);
  // 0.1 s later: against the older kept sample (t=0), not the one 0.1 s before
  t.is(r.rate('a', { ts: 1_100_000_000n, usage: 1_000_000_000n }), (1_000_000_000n * 1_000_000_000n) / 1_100_000_000n);
  t.is(r.rate('a', { ts: 2_000_000_000n, usage: 5n }), undefined, 'counter went back');
  r.prune(0, Date.now() + 10);
  t.is(r.rate('a', { ts: 3_000_000_000n, usage: 10n }), undefined, 'pruned');
});

test('dirUsage: blocks and inodes, hard links once, undefined for a missing directory', async (t) => {
  const dir = await tmpDir('cri-du', t);
  mkdirSync(join(dir, 'a/b'), { recursive: true });
  writeFileSync(join(dir, 'a/b/f'), Buffer.alloc(64 * 1024, 1));
  linkSync(join(dir, 'a/b/f'), join(dir, 'a/g'));
  const u = await dirUsage(dir);
  t.is(u?.inodes, 3n, 'a, a/b and one of the two links');
  t.true((u?.bytes ?? 0n) >= 64n * 1024n);
  t.is(await dirUsage(join(dir, 'missing')), undefined);
});

test('resources: merged field by field, validated, reported', (t) => {
  const first = recordedResources({ cpu_period: '100000', cpu_quota: '50000', cpu_shares: '512', memory_limit_in_bytes: '67108864', oom_score_adj: '-100', cpuset_cpus: '', cpuset_mems: '' });
  t.like(first, { cpu_quota: '50000', memory_limit_in_bytes: '67108864', oom_score_adj: '-100', cpuset_cpus: '', unified: {} });
  const next = mergeResources(first, { memory_limit_in_bytes: '134217728', cpu_quota: '0', cpuset_cpus: '0', unified: { 'memory.high': '1000000' } });
  t.like(next, { cpu_quota: '50000', memory_limit_in_bytes: '134217728', cpuset_cpus: '0', unified: { 'memory.high': '1000000' } });
  t.is(recordedResources(null), undefined);
  t.deepEqual(containerResources({ resources: next }), { linux: next, windows: null });
  t.is(containerResources({}), null);
  for (const bad of [{ memory_limit_in_bytes: 'lots' }, { cpu_shares: '-2' }, { unified: { '../x': '1' } }]) {
    t.true(hasCode(t.throws(() => mergeResources(undefined, bad as never)), 'cri.invalid-argument'), JSON.stringify(bad));
  }
  t.is(sharesToWeight(2n), 1n);
  t.is(sharesToWeight(1024n), 39n);
  t.is(sharesToWeight(262144n), 10000n);
});

test('resource writes: v1 files in each hierarchy, period before quota; v2 memory.max, cpu.weight, cpu.max merged; missing controllers', (t) => {
  const v1: CgroupSet = { v1: { memory: '/m/app', cpu: '/c/app', cpuset: '/s/app' } };
  t.deepEqual(resourceWrites(v1, { memory_limit_in_bytes: '1000000', cpu_shares: '256', cpu_period: '50000', cpu_quota: '25000', cpuset_cpus: '0-1', cpuset_mems: '0' }), [
    { path: '/m/app/memory.limit_in_bytes', value: '1000000' },
    { path: '/c/app/cpu.shares', value: '256' },
    { path: '/c/app/cpu.cfs_period_us', value: '50000' },
    { path: '/c/app/cpu.cfs_quota_us', value: '25000' },
    { path: '/s/app/cpuset.cpus', value: '0-1' },
    { path: '/s/app/cpuset.mems', value: '0' },
  ]);
  t.deepEqual(resourceWrites(v1, { cpu_quota: '-1', oom_score_adj: '5' }), [{ path: '/c/app/cpu.cfs_quota_us', value: '-1' }], 'oom_score_adj is not written');
  t.true(hasCode(t.throws(() => resourceWrites({ v1: {} }, { memory_limit_in_bytes: '1' })), 'cri.failed-precondition'));
  t.true(hasCode(t.throws(() => resourceWrites(v1, { unified: { 'memory.high': '1' } })), 'cri.invalid-argument'));

  const v2: CgroupSet = { v1: {}, v2: { dir: '/u/app', controllers: ['cpu', 'memory'] } };
  t.deepEqual(
    resourceWrites(v2, { memory_limit_in_bytes: '2000000', cpu_shares: '1024', cpu_quota: '20000', unified: { 'memory.high': '1500000' } }, () => 'max 100000\n'),
    [
      { path: '/u/app/memory.max', value: '2000000' },
      { path: '/u/app/cpu.weight', value: '39' },
      { path: '/u/app/cpu.max', value: '20000 100000' },
      { path: '/u/app/memory.high', value: '1500000' },
    ],
  );
  t.deepEqual(resourceWrites(v2, { cpu_period: '50000' }, () => '30000 100000\n'), [{ path: '/u/app/cpu.max', value: '30000 50000' }]);
  t.true(hasCode(t.throws(() => resourceWrites(v2, { cpuset_cpus: '0' })), 'cri.failed-precondition'), 'cpuset is not delegated to the pod');
});

test('event transitions: the phases up to the new one, STARTED only for what ran, DELETED when gone', (t) => {
  const obs = (phase: Observed['phase'], started = true): Observed => ({ phase, kind: 'container', sandboxId: 's', started, createdAt: '1' });
  t.deepEqual(transitions(undefined, obs('created')), ['CONTAINER_CREATED_EVENT']);
  t.deepEqual(transitions(undefined, obs('running')), ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT']);
  t.deepEqual(transitions('created', obs('exited')), ['CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT']);
  t.deepEqual(transitions('created', obs('exited', false)), ['CONTAINER_STOPPED_EVENT']);
  t.deepEqual(transitions('running', obs('running')), []);
  t.deepEqual(transitions('exited', obs('running')), [], 'never backwards');
  t.deepEqual(transitions('running', undefined), ['CONTAINER_DELETED_EVENT']);
  t.deepEqual(transitions(undefined, undefined), []);
  const rec = { version: 1, id: 'sb', podUuid: 'u', metadata: { name: 'n', uid: 'x', namespace: 'ns', attempt: 1 }, labels: { a: 'b' }, annotations: {}, runtimeHandler: '', createdAt: '5', hostname: '', logDirectory: '', hostNetwork: true, portMappings: [], dns: null };
  t.like(removedSandboxStatus(rec), { id: 'sb', state: 'SANDBOX_NOTREADY', created_at: '5', labels: { a: 'b' }, metadata: rec.metadata, linux: { namespaces: { options: { network: 'NODE' } } } });
});

test('control socket: one request, one reply line; long paths through /proc/self/fd; errors', async (t) => {
  t.deepEqual(parseCtlReply('ok'), { ok: true, data: '' });
  t.deepEqual(parseCtlReply('ok 12'), { ok: true, data: '12' });
  t.deepEqual(parseCtlReply('error app.unknown app x is not in the pod'), { ok: false, code: 'app.unknown', message: 'app x is not in the pod' });
  t.is((parseCtlReply('what') as { code: string }).code, 'ctl.invalid');

  const base = await tmpDir('cri-ctl', t);
  for (const pod of [join(base, 'p'), join(base, 'x'.repeat(60), 'y'.repeat(40), 'p')]) {
    const rkt = join(stage1RootfsPath(pod), 'rkt');
    mkdirSync(rkt, { recursive: true });
    const seen: string[] = [];
    const server = createServer((c) => {
      c.once('data', (d) => {
        seen.push(d.toString());
        c.end(d.toString().startsWith('reopen good') ? 'ok\n' : 'error app.log open /x: EACCES\n');
      });
    });
    const cwd = process.cwd();
    // bind through a short relative path: the absolute one may be too long for sun_path
    process.chdir(rkt);
    await new Promise<void>((resolve) => server.listen('ctl', resolve));
    process.chdir(cwd);
    try {
      t.deepEqual(await ctlRequest(pod, 'reopen good'), { ok: true, data: '' });
      t.deepEqual(await ctlRequest(pod, 'reopen bad'), { ok: false, code: 'app.log', message: 'open /x: EACCES' });
      t.deepEqual(seen, ['reopen good\n', 'reopen bad\n']);
    } finally {
      await new Promise((r) => server.close(r));
    }
    t.true(hasCode(await t.throwsAsync(ctlRequest(pod, 'reopen good')), 'cri.control'), 'nobody listening');
  }
});
