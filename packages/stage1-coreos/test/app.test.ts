import test from 'ava';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCode } from '@rktnetes/errors';
import { DEFAULT_CAPABILITIES, parseIsolator, type RuntimeApp } from '@rktnetes/schema';
import { CAPABILITIES, capNumber } from '@rktnetes/sys';
import {
  appCapabilities,
  appMounts,
  capMask,
  composeEnvironment,
  escapeSpecValue,
  formatInitSpec,
  metadataUrlFor,
  networkMode,
  podMetadataUrl,
  resolveExec,
  resolveIdentity,
  resolveInRoot,
  setMetadataUrl,
  unescapeSpecValue,
  type InitSpec,
} from '@rktnetes/stage1-coreos';

function rootfs(t: { teardown(fn: () => void): void }): string {
  const root = mkdtempSync(join(tmpdir(), 'rktnetes-s1app-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'etc'));
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nextra:x:1001:user\n');
  writeFileSync(join(root, 'bin/busybox'), '');
  chmodSync(join(root, 'bin/busybox'), 0o755);
  symlinkSync('busybox', join(root, 'bin/sh'));
  writeFileSync(join(root, 'usr/bin/data'), '');
  return root;
}

test('symlinks are resolved inside the root, never above it', (t) => {
  const root = rootfs(t);
  symlinkSync('/etc/../../../../etc', join(root, 'escape'));
  symlinkSync('../../..', join(root, 'etc/up'));
  symlinkSync('loop', join(root, 'loop'));
  t.is(resolveInRoot(root, '/escape/passwd'), join(root, 'etc/passwd'));
  t.is(resolveInRoot(root, 'etc/up/bin/sh'), join(root, 'bin/busybox'));
  t.is(resolveInRoot(root, '/no/such/../file'), join(root, 'no/file'));
  t.true(hasCode(t.throws(() => resolveInRoot(root, '/loop')), 'stage1.rootfs.symlink-loop'));
});

test('user and group: numbers, names from the image, paths, supplementary gids', (t) => {
  const root = rootfs(t);
  t.deepEqual(resolveIdentity(root, 'a', '0', '0'), { uid: 0, gid: 0, groups: [0] });
  t.deepEqual(resolveIdentity(root, 'a', 'user', 'extra', [1002, 1001]), { uid: 1000, gid: 1001, groups: [1001, 1002] });
  t.deepEqual(resolveIdentity(root, 'a', '/etc/passwd', '/etc/group'), { uid: process.getuid!(), gid: process.getgid!(), groups: [process.getgid!()] });
  t.true(hasCode(t.throws(() => resolveIdentity(root, 'a', 'nobody', '0')), 'stage1.user.unknown'));
  t.true(hasCode(t.throws(() => resolveIdentity(root, 'a', '0', 'nogroup')), 'stage1.group.unknown'));
  t.true(hasCode(t.throws(() => resolveIdentity(root, 'a', '/missing', '0')), 'stage1.user.invalid'));
  rmSync(join(root, 'etc/passwd'));
  t.is(resolveIdentity(root, 'a', 'root', '0').uid, 0, 'root needs no /etc/passwd');
});

test('exec: absolute, relative to the working directory, or found in PATH inside the root', (t) => {
  const root = rootfs(t);
  t.is(resolveExec(root, 'a', ['/bin/foo'], '/'), '/bin/foo');
  t.is(resolveExec(root, 'a', ['./run.sh'], '/srv'), '/srv/run.sh');
  t.is(resolveExec(root, 'a', ['sh', '-c', 'x'], '/'), '/bin/sh', 'default search: workdir, /bin, /usr/bin');
  t.is(resolveExec(root, 'a', ['sh'], '/', [{ name: 'PATH', value: '/usr/bin:/bin' }]), '/bin/sh');
  t.true(hasCode(t.throws(() => resolveExec(root, 'a', ['data'], '/')), 'stage1.exec.not-found'), 'not executable');
  t.true(hasCode(t.throws(() => resolveExec(root, 'a', ['sh'], '/', [{ name: 'PATH', value: '/usr/bin' }])), 'stage1.exec.not-found'));
  t.true(hasCode(t.throws(() => resolveExec(root, 'a', [], '/')), 'stage1.exec.missing'));
});

test('environment: defaults first, then the app variables with AC_APP_NAME', (t) => {
  const env = composeEnvironment('web', [
    { name: 'FOO', value: 'bar' },
    { name: 'HOME', value: '/srv' },
    { name: 'AC_APP_NAME', value: 'spoofed' },
  ], 'http://127.0.0.1:18112/tok');
  t.deepEqual(env, [
    ['PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    ['SHELL', '/bin/sh'],
    ['USER', 'root'],
    ['LOGNAME', 'root'],
    ['FOO', 'bar'],
    ['HOME', '/srv'],
    ['AC_APP_NAME', 'web'],
    ['AC_METADATA_URL', 'http://127.0.0.1:18112/tok'],
  ]);
});

const caps = (name: string, set: string[]) => parseIsolator({ name, value: { set } });
const nums = (names: readonly string[]) => names.map((n) => capNumber(n)!).sort((a, b) => a - b);

test('AC_METADATA_URL: loopback on the host network, the gateway of a pod network, none without one', (t) => {
  t.is(metadataUrlFor({ mode: 'host' }, 18112, 'tok'), 'http://127.0.0.1:18112/tok');
  t.is(metadataUrlFor({ mode: 'join', path: '/run/netns/x', hostIP: '172.16.28.1' }, 2375, 'tok'), 'http://172.16.28.1:2375/tok');
  t.is(metadataUrlFor({ mode: 'join', path: '/run/netns/x' }, 18112, 'tok'), undefined);
  t.is(metadataUrlFor({ mode: 'none' }, 18112, 'tok'), undefined);
  const env = composeEnvironment('web', [{ name: 'AC_METADATA_URL', value: 'mine' }, { name: 'X', value: '1' }]);
  setMetadataUrl(env, 'http://172.16.28.1:18112/tok');
  t.deepEqual(env.slice(-3), [['AC_METADATA_URL', 'http://172.16.28.1:18112/tok'], ['X', '1'], ['AC_APP_NAME', 'web']]);
  const plain = composeEnvironment('web', []);
  setMetadataUrl(plain, 'u');
  t.deepEqual(plain, composeEnvironment('web', [], 'u'));
});

test('app/add takes the URL run recorded, else loopback only with host networking', (t) => {
  const s1 = mkdtempSync(join(tmpdir(), 'rktnetes-s1mds-'));
  t.teardown(() => rmSync(s1, { recursive: true, force: true }));
  const env = { RKT_METADATA_PORT: '4242' };
  t.is(podMetadataUrl(s1, { net: [{ name: 'host', args: '' }], mdsToken: 'tok' }, env), 'http://127.0.0.1:4242/tok');
  t.is(podMetadataUrl(s1, { net: [{ name: 'default', args: '' }], mdsToken: 'tok' }, env), undefined);
  t.is(podMetadataUrl(s1, { net: [{ name: 'host', args: '' }] }, env), undefined);
  mkdirSync(join(s1, 'rkt'));
  writeFileSync(join(s1, 'rkt/metadata-url'), 'http://172.16.28.1:4242/tok');
  t.is(podMetadataUrl(s1, { net: [{ name: 'default', args: '' }], mdsToken: 'tok' }, env), 'http://172.16.28.1:4242/tok');
  writeFileSync(join(s1, 'rkt/metadata-url'), '');
  t.is(podMetadataUrl(s1, { net: [{ name: 'none', args: '' }], mdsToken: 'tok' }, env), undefined);
});

test('capabilities: default set, retain set, remove set, disabled restriction', (t) => {
  const def = appCapabilities([], 0, false);
  t.deepEqual(def.bounding, nums(DEFAULT_CAPABILITIES));
  t.deepEqual(def.ambient, []);
  t.is(capMask(def.bounding), 'a80425fb', 'the mask Docker and rkt give root apps');
  t.deepEqual(appCapabilities([caps('os/linux/capabilities-retain-set', ['CAP_NET_ADMIN', 'CAP_KILL'])], 0, false).bounding, nums(['CAP_KILL', 'CAP_NET_ADMIN']));
  const removed = appCapabilities([caps('os/linux/capabilities-remove-set', ['CAP_CHOWN', 'CAP_NET_RAW'])], 0, false);
  t.deepEqual(removed.bounding, nums(DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_CHOWN' && c !== 'CAP_NET_RAW')));
  const all = appCapabilities([caps('os/linux/capabilities-retain-set', ['CAP_KILL'])], 0, true);
  t.is(all.bounding.length, 64, 'nothing is dropped');
  t.deepEqual(all.retained, Object.keys(CAPABILITIES));
});

test('capabilities of non-root apps: bounding only, ambient for an explicit retain set', (t) => {
  t.deepEqual(appCapabilities([], 1000, false).ambient, []);
  const r = appCapabilities([caps('os/linux/capabilities-retain-set', ['CAP_NET_BIND_SERVICE'])], 1000, false);
  t.deepEqual(r.ambient, [10]);
  t.deepEqual(r.inheritable, [10]);
  t.deepEqual(r.bounding, [10]);
});

test('mounts: runtime mounts, mount points backed by pod volumes, implicit empty volumes', (t) => {
  const ra: RuntimeApp = {
    name: 'web',
    image: { id: 'sha512-' + '0'.repeat(64) },
    mounts: [
      { volume: 'data', path: '/data' },
      { volume: 'inline', path: '/inline', appVolume: { name: 'inline', kind: 'empty', readOnly: true } },
    ],
  };
  const app = {
    user: '0',
    group: '0',
    mountPoints: [
      { name: 'data', path: '/data', readOnly: true },
      { name: 'logs', path: '/var/log' },
      { name: 'cache', path: '/cache', readOnly: true },
    ],
  };
  const vols = [
    { name: 'data', kind: 'host' as const, source: '/srv/data' },
    { name: 'logs', kind: 'host' as const, source: '/srv/logs', readOnly: true },
  ];
  const m = appMounts(ra, app, vols);
  t.deepEqual(
    m.map((x) => [x.volume.name, x.path, x.readOnly]),
    [
      ['data', '/data', true],
      ['inline', '/inline', true],
      ['logs', '/var/log', true],
      ['web-cache', '/cache', true],
    ],
  );
  t.is(m[3]!.volume.kind, 'empty');
  t.true(hasCode(t.throws(() => appMounts({ ...ra, mounts: [{ volume: 'nope', path: '/x' }] }, app, vols)), 'stage1.volume.unknown'));
});

test('network: host, none, or CNI networks', (t) => {
  t.is(networkMode(undefined), 'host');
  t.is(networkMode([{ name: 'host' }]), 'host');
  t.is(networkMode([{ name: 'none' }]), 'none');
  t.is(networkMode([{ name: 'default' }]), 'cni');
  t.true(hasCode(t.throws(() => networkMode([{ name: 'none' }, { name: 'default' }])), 'stage1.net.invalid'));
});

test('spec values escape backslashes, newlines and spaces', (t) => {
  for (const v of ['plain', 'a b', 'line\nbreak', 'back\\slash\\n', '']) t.is(unescapeSpecValue(escapeSpecValue(v)), v);
  t.is(escapeSpecValue('a b\n\\'), 'a\\sb\\n\\\\');
  t.throws(() => escapeSpecValue('nul\0'));
});

test('the init spec lists pod keys, then one section per app', (t) => {
  const spec: InitSpec = {
    debug: false,
    lockFd: 3,
    stage1Root: '/pods/x/stage1/rootfs',
    hostname: 'rkt-x',
    network: { mode: 'join', path: '/run/netns/a b' },
    ipc: 'private',
    interactive: false,
    stopTimeoutSeconds: 10,
    cgroupJoins: ['/sys/fs/cgroup/memory/rkt-x/cgroup.procs'],
    cgroupMoves: [],
    cgroupWrites: [{ path: '/sys/fs/cgroup/rkt-x/cgroup.subtree_control', value: '+memory +pids' }],
    apps: [
      {
        name: 'web',
        root: '/opt/stage2/web/rootfs',
        cgroups: ['/sys/fs/cgroup/memory/rkt-x/web/cgroup.procs'],
        masks: ['/proc/kcore'],
        readOnly: ['/proc/sys'],
        workdir: '/srv',
        uid: 1000,
        gid: 1001,
        groups: [1001, 1002],
        bounding: [0, 1],
        inheritable: [],
        ambient: [],
        noNewPrivs: true,
        seccomp: '/rkt/seccomp/web.bpf',
        oomScoreAdj: 500,
        env: [['GREETING', 'hello world']],
        argv: ['/bin/sh', '-c', 'echo "a b"'],
        preStart: ['/bin/prep', 'x y'],
        postStop: ['/bin/clean'],
      },
    ],
  };
  t.is(
    formatInitSpec(spec),
    [
      '# rktnetes stage1-coreos init spec',
      'version 1',
      'debug 0',
      'lockfd 3',
      'stage1 /pods/x/stage1/rootfs',
      'hostname rkt-x',
      'net join',
      'netns /run/netns/a\\sb',
      'ipc private',
      'interactive 0',
      'stop-timeout 10',
      'cg-join /sys/fs/cgroup/memory/rkt-x/cgroup.procs',
      'cg-write /sys/fs/cgroup/rkt-x/cgroup.subtree_control +memory\\s+pids',
      'app web',
      'root /opt/stage2/web/rootfs',
      'cgroup /sys/fs/cgroup/memory/rkt-x/web/cgroup.procs',
      'mask /proc/kcore',
      'ro /proc/sys',
      'workdir /srv',
      'uid 1000',
      'gid 1001',
      'groups 1001 1002',
      'bounding 3',
      'inheritable 0',
      'ambient 0',
      'nnp 1',
      'seccomp /rkt/seccomp/web.bpf',
      'oom 500',
      'env GREETING=hello\\sworld',
      'arg /bin/sh',
      'arg -c',
      'arg echo\\s"a\\sb"',
      'pre-arg /bin/prep',
      'pre-arg x\\sy',
      'post-arg /bin/clean',
      'end',
      '',
    ].join('\n'),
  );
});
