/**
 * The CRI server's pure parts, without privileges: references, the rkt arguments made from CRI
 * configs, container states from pod records, locks, credentials, the command line, and the
 * proto's service definitions.
 */
import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import { DEFAULT_CAPABILITIES, LINUX_CAPABILITIES } from '@rktnetes/schema';
import { GrpcCode } from '@rktnetes/api-service';
import type { PodRecord } from '../src/pods/view';
import { appAddArgs, appNameFor, appStatus, capabilityFlags, processArgs, resourceFlags } from '../src/cri/containers';
import { criStatusOf } from '../src/cri/grpc';
import { imageUser, pullReference } from '../src/cri/images';
import { KeyedLocks } from '../src/cri/locks';
import { parseCriCli } from '../src/cri/main';
import type { ContainerConfig, LinuxContainerSecurityContext, PodSandboxConfig } from '../src/cri/messages';
import { insecureOptionsFor, PRIVILEGED_INSECURE_OPTIONS, seccompFlags, securityFlags } from '../src/cri/security';
import { authHost, basicCredentials, dockerAuthConfig } from '../src/cri/pull';
import { formatReference, lookupKey, parseImageReference } from '../src/cri/reference';
import { dnsFlags, portFlag, sandboxArgs, sandboxState } from '../src/cri/sandboxes';
import { cgroupParentFlags, containerPidFlags, mountPropagation, sandboxPidFlags, sysctlFlags } from '../src/cri/pod-settings';
import { criServiceDefinitions } from '../src/cri/server';
import { NOT_YET } from '../src/cri/service';
import type { ContainerRecord, SandboxRecord } from '../src/cri/state';
import { childEnv } from '../src/cri/rkt';

// ------------------------------------------------------------------------------ references

test('references are qualified the Docker way', (t) => {
  const cases: Array<[string, string, ReturnType<typeof lookupKey>]> = [
    ['busybox', 'docker.io/library/busybox', { repository: 'docker.io/library/busybox', tag: 'latest' }],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', { repository: 'docker.io/library/busybox', tag: '1.36' }],
    ['user/app', 'docker.io/user/app', { repository: 'docker.io/user/app', tag: 'latest' }],
    ['registry-1.docker.io/library/busybox:latest', 'docker.io/library/busybox:latest', { repository: 'docker.io/library/busybox', tag: 'latest' }],
    ['registry.k8s.io/pause:3.9', 'registry.k8s.io/pause:3.9', { repository: 'registry.k8s.io/pause', tag: '3.9' }],
    ['localhost/x', 'localhost/x', { repository: 'localhost/x', tag: 'latest' }],
    ['127.0.0.1:5000/a/b:v1', '127.0.0.1:5000/a/b:v1', { repository: '127.0.0.1:5000/a/b', tag: 'v1' }],
    [
      `127.0.0.1:5000/a:v1@sha256:${'a'.repeat(64)}`,
      `127.0.0.1:5000/a:v1@sha256:${'a'.repeat(64)}`,
      { repository: '127.0.0.1:5000/a', digest: `sha256:${'a'.repeat(64)}` },
    ],
  ];
  for (const [text, formatted, key] of cases) {
    const ref = parseImageReference(text);
    t.is(formatReference(ref), formatted, text);
    t.deepEqual(lookupKey(ref), key, text);
  }
  for (const bad of ['', 'Busybox', 'a//b', 'a:b:c', 'busybox@sha256:short', 'x/-y', 'busybox:']) {
    t.true(hasCode(t.throws(() => parseImageReference(bad)), 'cri.invalid-argument'), bad);
  }
});

test('pulls name the digest when there is one, else the tag or latest', (t) => {
  t.is(pullReference(parseImageReference('busybox')), 'docker://docker.io/library/busybox:latest');
  t.is(pullReference(parseImageReference('127.0.0.1:5/a:1')), 'docker://127.0.0.1:5/a:1');
  const d = `sha256:${'b'.repeat(64)}`;
  t.is(pullReference(parseImageReference(`127.0.0.1:5/a:1@${d}`)), `docker://127.0.0.1:5/a@${d}`);
});

test('the image user: uid when numeric, username otherwise, nothing when empty', (t) => {
  t.deepEqual(imageUser(''), { username: '' });
  t.deepEqual(imageUser('1000'), { uid: 1000, username: '' });
  t.deepEqual(imageUser('1003:1004'), { uid: 1003, username: '' });
  t.deepEqual(imageUser('www-data:1004'), { username: 'www-data' });
});

// ------------------------------------------------------------------------------ sandboxes

const sandboxConfig = (over: Partial<PodSandboxConfig> = {}): PodSandboxConfig => ({
  metadata: { name: 'web', uid: 'u', namespace: 'ns', attempt: 0 },
  hostname: 'web-0',
  log_directory: '/var/log/pods/ns_web_u',
  dns_config: { servers: ['10.0.0.10'], searches: ['ns.svc.cluster.local', 'svc.cluster.local'], options: ['ndots:5'] },
  port_mappings: [
    { protocol: 'TCP', container_port: 80, host_port: 8080, host_ip: '' },
    { protocol: 'UDP', container_port: 53, host_port: 5353, host_ip: '127.0.0.1' },
    { protocol: 'TCP', container_port: 443, host_port: 0, host_ip: '' },
  ],
  labels: {},
  annotations: {},
  linux: null,
  ...over,
});

test('a sandbox is rkt app sandbox with hostname, DNS, host ports and the sandbox id', (t) => {
  t.deepEqual(sandboxArgs(sandboxConfig(), 'abc', '/d/uuid', ['--stage1-name=x']), [
    '--uuid-file-save=/d/uuid',
    '--annotation=rktnetes.io/cri/sandbox-id=abc',
    '--hostname=web-0',
    '--dns=10.0.0.10',
    '--dns-search=ns.svc.cluster.local',
    '--dns-search=svc.cluster.local',
    '--dns-opt=ndots:5',
    '--port=tcp-80-8080:tcp:80:0.0.0.0:8080',
    '--port=udp-53-5353:udp:53:127.0.0.1:5353',
    '--stage1-name=x',
  ]);
  const host = sandboxArgs(
    sandboxConfig({ dns_config: null, linux: { cgroup_parent: '', sysctls: {}, security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'NODE' }, run_as_user: null, run_as_group: null, readonly_rootfs: false, supplemental_groups: [], privileged: false } } }),
    'abc',
    '/d/uuid',
  );
  t.true(host.includes('--net=host'));
  t.true(host.includes('--dns=host'));
  t.true(host.includes('--ipc=parent'));
  t.false(host.some((a) => a.startsWith('--port=')), 'no port forwarding on the host network');
  t.deepEqual(dnsFlags({ servers: [], searches: ['a'], options: [] }), ['--dns=host', '--dns-search=a']);
  t.true(hasCode(t.throws(() => portFlag({ protocol: 'SCTP', container_port: 1, host_port: 2, host_ip: '' })), 'cri.invalid-argument'));
  t.true(hasCode(t.throws(() => portFlag({ protocol: 'TCP', container_port: 0, host_port: 2, host_ip: '' })), 'cri.invalid-argument'));
});

const sandboxRec = (over: Partial<SandboxRecord> = {}): SandboxRecord => ({
  version: 1,
  id: 'a'.repeat(64),
  podUuid: 'u-1',
  metadata: { name: 'web', uid: 'u', namespace: 'ns', attempt: 0 },
  labels: {},
  annotations: {},
  runtimeHandler: '',
  createdAt: '1',
  hostname: '',
  logDirectory: '',
  hostNetwork: false,
  portMappings: [],
  dns: null,
  ...over,
});

const podRec = (over: Partial<PodRecord> = {}): PodRecord => ({
  uuid: 'u-1',
  dir: 'run',
  state: 'running',
  path: '/p',
  manifestText: undefined,
  manifest: undefined,
  annotations: [],
  apps: [],
  pid: 1,
  pidKind: 'pid',
  createdAt: 1n,
  startedAt: 2n,
  gcMarkedAt: undefined,
  dirChangedAt: 5n,
  networks: [],
  cgroup: undefined,
  stage1Root: '/p/stage1/rootfs',
  ...over,
});

test('a sandbox is ready while its pod runs and it was not stopped', (t) => {
  t.is(sandboxState(sandboxRec(), podRec()), 'SANDBOX_READY');
  t.is(sandboxState(sandboxRec({ stoppedAt: '9' }), podRec()), 'SANDBOX_NOTREADY');
  t.is(sandboxState(sandboxRec(), podRec({ state: 'exited' })), 'SANDBOX_NOTREADY');
  t.is(sandboxState(sandboxRec(), undefined), 'SANDBOX_NOTREADY');
  t.is(sandboxState(sandboxRec({ podUuid: '' }), podRec()), 'SANDBOX_NOTREADY', 'still starting');
});

// ------------------------------------------------------------------------------ containers

test('app names are AC names made from the container name and id', (t) => {
  t.is(appNameFor('nginx', 'abcdef0123456789'), 'nginx-abcdef01');
  t.is(appNameFor('My_Container.v2', 'ffffffff00'), 'my-container-v2-ffffffff');
  t.is(appNameFor('___', '12345678'), 'container-12345678');
  t.is(appNameFor('x'.repeat(100), '12345678').length, 40 + 9);
});

test('capabilities: default set plus added minus dropped, ALL, privileged', (t) => {
  t.deepEqual(capabilityFlags(null, false), []);
  t.deepEqual(capabilityFlags({ add_capabilities: [], drop_capabilities: ['NET_RAW', 'cap_mknod'] }, false), ['--caps-remove=CAP_NET_RAW,CAP_MKNOD']);
  const added = capabilityFlags({ add_capabilities: ['NET_ADMIN'], drop_capabilities: ['KILL'] }, false)[0]!;
  const set = added.slice('--caps-retain='.length).split(',');
  t.true(set.includes('CAP_NET_ADMIN'));
  t.false(set.includes('CAP_KILL'));
  t.is(set.length, DEFAULT_CAPABILITIES.length);
  t.deepEqual(capabilityFlags({ add_capabilities: ['CHOWN'], drop_capabilities: ['ALL'] }, false), ['--caps-retain=CAP_CHOWN']);
  t.deepEqual(capabilityFlags({ add_capabilities: [], drop_capabilities: ['ALL'] }, false), [`--caps-remove=${DEFAULT_CAPABILITIES.join(',')}`]);
  t.deepEqual(capabilityFlags({ add_capabilities: ['ALL'], drop_capabilities: [] }, false), [`--caps-retain=${LINUX_CAPABILITIES.join(',')}`]);
  t.deepEqual(capabilityFlags(null, true), [`--caps-retain=${LINUX_CAPABILITIES.join(',')}`]);
  t.true(hasCode(t.throws(() => capabilityFlags({ add_capabilities: ['FLY'], drop_capabilities: [] }, false)), 'cri.invalid-argument'));
});

test('resources become memory, cpu (millicores), cpu-shares and oom-score-adj flags', (t) => {
  t.deepEqual(resourceFlags({ cpu_period: '100000', cpu_quota: '50000', cpu_shares: '512', memory_limit_in_bytes: '67108864', oom_score_adj: '-997' }), [
    '--memory=67108864',
    '--cpu=500m',
    '--cpu-shares=512',
    '--oom-score-adj=-997',
  ]);
  t.deepEqual(resourceFlags({ cpu_period: '0', cpu_quota: '0', cpu_shares: '0', memory_limit_in_bytes: '0', oom_score_adj: '0' }), []);
});

test('command replaces the entrypoint (--exec), args the cmd', (t) => {
  t.deepEqual(processArgs(['sh', '-c'], ['echo hi']), { flags: ['--exec=sh'], rest: ['-c', 'echo hi'] });
  t.deepEqual(processArgs([], ['a', 'b']), { flags: [], rest: ['a', 'b'] });
  t.deepEqual(processArgs([], []), { flags: [], rest: undefined });
});

const containerConfig = (over: Partial<ContainerConfig> = {}): ContainerConfig => ({
  metadata: { name: 'c', attempt: 0 },
  image: { image: 'busybox' },
  command: ['/bin/sh'],
  args: ['-c', 'sleep 1'],
  working_dir: '/tmp',
  envs: [
    { key: 'A', value: Buffer.from('1=2') },
    { key: 'B', value: 'x' },
  ],
  mounts: [{ container_path: '/data', host_path: '/srv/data', readonly: true }],
  devices: [],
  labels: {},
  annotations: {},
  log_path: '',
  stdin: false,
  stdin_once: false,
  tty: false,
  linux: {
    resources: null,
    security_context: {
      capabilities: null,
      privileged: false,
      namespace_options: null,
      run_as_user: { value: '1000' },
      run_as_group: null,
      run_as_username: '',
      readonly_rootfs: true,
      supplemental_groups: ['5', '6'],
      no_new_privs: false,
      masked_paths: [],
      readonly_paths: [],
      seccomp: null,
    },
  },
  ...over,
});

test('a container is rkt app add with the image key, process, env, mounts, user, rootfs, log path', (t) => {
  const args = appAddArgs(containerConfig(), { uuid: 'U', imageKey: 'sha512-k', app: 'c-1', logPath: '/var/log/c.log', user: '1000', group: '0', supplementaryGids: [5, 6] });
  t.deepEqual(args, [
    'U',
    'sha512-k',
    '--name=c-1',
    '--exec=/bin/sh',
    '--working-dir=/tmp',
    '--environment=A=1=2',
    '--environment=B=x',
    '--mnt-volume=name=c-1-m0,kind=host,source=/srv/data,readOnly=true,propagation=rprivate,target=/data',
    '--user=1000',
    '--group=0',
    '--supplementary-gids=5,6',
    '--readonly-rootfs=true',
    '--no-new-privileges=false',
    '--seccomp=unconfined',
    '--log-path=/var/log/c.log',
    '--',
    '-c',
    'sleep 1',
  ]);
  const tty = appAddArgs(containerConfig({ tty: true, stdin: true, stdin_once: true, command: [], args: [] }), { uuid: 'U', imageKey: 'k', app: 'a', logPath: '' });
  t.true(tty.includes('--stdin=tty') && tty.includes('--stdout=tty') && tty.includes('--stderr=tty') && tty.includes('--stdin-once'));
  t.false(tty.includes('--'));
  for (const mounts of [[{ container_path: 'rel', host_path: '/x', readonly: false }], [{ container_path: '/a', host_path: '/x,y', readonly: false }]]) {
    t.true(hasCode(t.throws(() => appAddArgs(containerConfig({ mounts }), { uuid: 'U', imageKey: 'k', app: 'a', logPath: '' })), 'cri.invalid-argument'));
  }
});

const containerRec = (over: Partial<ContainerRecord> = {}): ContainerRecord => ({
  version: 1,
  id: 'c'.repeat(64),
  sandboxId: 'a'.repeat(64),
  podUuid: 'u-1',
  appName: 'c-cccccccc',
  metadata: { name: 'c', attempt: 0 },
  image: { image: 'busybox' },
  imageId: 'sha256:x',
  imageKey: 'sha512-k',
  imageRef: 'sha256:x',
  labels: {},
  annotations: {},
  createdAt: '1',
  logPath: '',
  mounts: [],
  memoryLimit: 0,
  ...over,
});

const app = (over: Partial<PodRecord['apps'][number]> = {}): PodRecord['apps'][number] => ({
  name: 'c-cccccccc',
  imageId: 'sha512-k',
  imageName: 'x',
  imageVersion: 'latest',
  annotations: [],
  exitCode: undefined,
  startedAt: undefined,
  exitedAt: undefined,
  added: true,
  ...over,
});

test('container states from the pod: created, running, exited with reasons', (t) => {
  t.is(appStatus(containerRec(), podRec({ apps: [app()] })).state, 'CONTAINER_CREATED');
  const running = appStatus(containerRec(), podRec({ apps: [app({ startedAt: 10n })] }));
  t.is(running.state, 'CONTAINER_RUNNING');
  t.is(running.startedAt, '10');
  const done = appStatus(containerRec(), podRec({ apps: [app({ startedAt: 10n, exitedAt: 20n, exitCode: 0 })] }));
  t.like(done, { state: 'CONTAINER_EXITED', exitCode: 0, reason: 'Completed', finishedAt: '20' });
  t.like(appStatus(containerRec(), podRec({ apps: [app({ startedAt: 10n, exitedAt: 20n, exitCode: 3 })] })), { exitCode: 3, reason: 'Error' });
  const killed = podRec({ apps: [app({ startedAt: 10n, exitedAt: 20n, exitCode: 137 })] });
  t.is(appStatus(containerRec({ memoryLimit: 1 << 20 }), killed, () => true).reason, 'OOMKilled');
  t.is(appStatus(containerRec({ memoryLimit: 1 << 20, stopRequestedAt: '15' }), killed, () => true).reason, 'Error', 'a stop is no OOM kill');
  t.is(appStatus(containerRec(), killed, () => false).reason, 'Error');
  t.like(appStatus(containerRec(), undefined), { state: 'CONTAINER_EXITED', exitCode: 255, reason: 'Unknown' });
  t.like(appStatus(containerRec(), podRec({ state: 'exited', apps: [app({ startedAt: 10n })] })), { state: 'CONTAINER_EXITED', exitCode: 255, finishedAt: '5' });
});

// ------------------------------------------------------------------------------ the rest

test('keyed locks: readers share, a writer waits for them and excludes others', async (t) => {
  const locks = new KeyedLocks();
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const r1 = locks.shared('k', async () => {
    order.push('r1');
    await gate;
    order.push('r1-end');
  });
  const r2 = locks.shared('k', async () => void order.push('r2'));
  const w = locks.exclusive('k', async () => void order.push('w'));
  const r3 = locks.shared('k', async () => void order.push('r3'));
  await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(order, ['r1', 'r2'], 'the writer waits, and so does the reader behind it');
  release();
  await Promise.all([r1, r2, w, r3]);
  t.deepEqual(order, ['r1', 'r2', 'r1-end', 'w', 'r3']);
  t.is(locks.size, 0);
  await t.throwsAsync(locks.exclusive('k', async () => Promise.reject(new Error('boom'))));
  t.is(locks.size, 0, 'released after a failure');
});

test('pull credentials: username/password or auth, the registry from server_address or the image', (t) => {
  const auth = { username: '', password: '', auth: '', server_address: '', identity_token: '', registry_token: '' };
  t.is(basicCredentials(null), undefined);
  t.deepEqual(basicCredentials({ ...auth, username: 'u', password: 'p' }), { user: 'u', password: 'p' });
  t.deepEqual(basicCredentials({ ...auth, auth: Buffer.from('u:p:q').toString('base64') }), { user: 'u', password: 'p:q' });
  t.true(hasCode(t.throws(() => basicCredentials({ ...auth, identity_token: 'x' })), 'cri.invalid-argument'));
  t.is(authHost({ ...auth, server_address: 'https://index.docker.io/v1/' }, parseImageReference('busybox')), 'index.docker.io');
  t.is(authHost(null, parseImageReference('127.0.0.1:5000/a')), '127.0.0.1:5000');
  t.deepEqual(JSON.parse(dockerAuthConfig('h', { user: 'u', password: 'p' })), { rktKind: 'dockerAuth', rktVersion: 'v1', registries: ['h'], credentials: { user: 'u', password: 'p' } });
});

test('cri command line: socket, data dir, rkt, config dirs, stage1, socket activation', (t) => {
  const cli = parseCriCli(['--cri-socket', '/tmp/c.sock', '--dir', '/d', '--rkt-path', '/bin/rkt', '--local-config', '/e', '--insecure-options', 'http,tls', '--stage1-name', 'x:1'], {});
  t.deepEqual(cli.options.listen, [{ kind: 'unix', path: '/tmp/c.sock' }]);
  t.is(cli.options.dataDir, '/d');
  t.is(cli.options.rktPath, '/bin/rkt');
  t.is(cli.options.localConfig, '/e');
  t.deepEqual(cli.options.insecureOptions, ['http', 'tls']);
  t.deepEqual(cli.options.settings?.stage1Args, ['--stage1-name=x:1']);
  t.deepEqual(parseCriCli([], {}).options.listen, [{ kind: 'unix', path: '/run/rkt/cri.sock' }]);
  t.is(parseCriCli([], { RKT_DIR: '/r' }).options.dataDir, '/r');
  t.deepEqual(parseCriCli([], { LISTEN_FDS: '1', LISTEN_PID: '7' }, 7).options.listen, [{ kind: 'fd', fd: 3, name: '' }]);
  for (const bad of [['--cri-socket', 'rel'], ['--bogus'], ['pos'], ['--stage1-name', 'a', '--stage1-path', 'b'], ['--sandbox-timeout', '0']]) {
    t.true(hasCode(t.throws(() => parseCriCli(bad, {})), 'cri.usage'), bad.join(' '));
  }
});

test('the proto defines both services; unimplemented RPCs exist and status codes are the CRI ones', async (t) => {
  const { runtime, image } = await criServiceDefinitions();
  for (const m of ['Version', 'RunPodSandbox', 'CreateContainer', 'ExecSync', 'Status', 'RuntimeConfig', 'UpdateRuntimeConfig']) t.truthy(runtime[m], m);
  for (const m of NOT_YET) t.truthy(runtime[m] ?? image[m], m);
  t.deepEqual(Object.keys(image).sort(), ['ImageFsInfo', 'ImageStatus', 'ListImages', 'PullImage', 'RemoveImage', 'StreamImages']);
  t.is(runtime.RunPodSandbox!.path, '/runtime.v1.RuntimeService/RunPodSandbox');
  const { userError } = await import('@rktnetes/errors');
  t.is(criStatusOf(userError('cri.already-exists', 'x')).code, GrpcCode.ALREADY_EXISTS);
  t.is(criStatusOf(userError('cri.deadline-exceeded', 'x')).code, GrpcCode.DEADLINE_EXCEEDED);
  t.is(criStatusOf(userError('cri.not-found', 'x')).code, GrpcCode.NOT_FOUND);
  t.is(criStatusOf(userError('cri.failed-precondition', 'x')).code, GrpcCode.FAILED_PRECONDITION);
});

// ------------------------------------------------------------------------------ security context

function securityContext(): LinuxContainerSecurityContext {
  return {
    capabilities: null,
    privileged: false,
    namespace_options: null,
    run_as_user: null,
    run_as_group: null,
    run_as_username: '',
    readonly_rootfs: false,
    supplemental_groups: [],
    no_new_privs: false,
    masked_paths: [],
    readonly_paths: [],
    seccomp: null,
  };
}

test('seccomp: nil and Unconfined are no filter, RuntimeDefault stage1\'s, Localhost a profile file; privileged none', (t) => {
  const sc = (over: Partial<LinuxContainerSecurityContext> & { seccomp_profile_path?: string }) => ({ ...securityContext(), ...over });
  t.deepEqual(seccompFlags(null), ['--seccomp=unconfined']);
  t.deepEqual(seccompFlags(sc({ seccomp: null })), ['--seccomp=unconfined']);
  t.deepEqual(seccompFlags(sc({ seccomp: { profile_type: 'Unconfined', localhost_ref: '' } })), ['--seccomp=unconfined']);
  t.deepEqual(seccompFlags(sc({ seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '' } })), []);
  t.deepEqual(seccompFlags(sc({ seccomp: { profile_type: 'Localhost', localhost_ref: '/var/lib/kubelet/seccomp/a.json' } })), ['--seccomp=profile=/var/lib/kubelet/seccomp/a.json']);
  t.deepEqual(seccompFlags(sc({ privileged: true, seccomp: { profile_type: 'Localhost', localhost_ref: '/p.json' } })), ['--seccomp=unconfined']);
  t.true(hasCode(t.throws(() => seccompFlags(sc({ seccomp: { profile_type: 'Localhost', localhost_ref: 'a.json' } }))), 'cri.invalid-argument'));
  // the deprecated field, when seccomp is not set
  t.deepEqual(seccompFlags(sc({ seccomp_profile_path: 'runtime/default' })), []);
  t.deepEqual(seccompFlags(sc({ seccomp_profile_path: 'docker/default' })), []);
  t.deepEqual(seccompFlags(sc({ seccomp_profile_path: 'unconfined' })), ['--seccomp=unconfined']);
  t.deepEqual(seccompFlags(sc({ seccomp_profile_path: 'localhost//etc/p.json' })), ['--seccomp=profile=//etc/p.json']);
  t.true(hasCode(t.throws(() => seccompFlags(sc({ seccomp_profile_path: 'apparmor/x' }))), 'cri.invalid-argument'));
});

test('no_new_privs is always explicit; masked and read-only paths only when given and not privileged', (t) => {
  t.deepEqual(securityFlags(null), ['--no-new-privileges=false', '--seccomp=unconfined']);
  const given = { ...securityContext(), no_new_privs: true, masked_paths: ['/proc/kcore', '/bin/ls'], readonly_paths: ['/proc/sys'], seccomp: { profile_type: 'RuntimeDefault' as const, localhost_ref: '' } };
  t.deepEqual(securityFlags(given), ['--no-new-privileges=true', '--masked-paths=/proc/kcore,/bin/ls', '--readonly-paths=/proc/sys']);
  t.deepEqual(securityFlags({ ...given, privileged: true }), ['--no-new-privileges=true', '--seccomp=unconfined']);
  t.deepEqual(securityFlags({ ...given, masked_paths: [], readonly_paths: [] }), ['--no-new-privileges=true'], 'empty lists keep stage1\'s defaults');
  for (const bad of [['rel'], ['/a,b']]) t.true(hasCode(t.throws(() => securityFlags({ ...given, masked_paths: bad })), 'cri.invalid-argument'));
  t.deepEqual(insecureOptionsFor(given, ['image', 'http']), undefined);
  t.deepEqual(insecureOptionsFor({ ...given, privileged: true }, ['image', 'http', 'paths']), ['image', 'http', 'paths', 'capabilities', 'seccomp']);
  t.deepEqual(insecureOptionsFor({ ...given, privileged: true }, undefined), [...PRIVILEGED_INSECURE_OPTIONS]);
  const args = appAddArgs(containerConfig({ linux: { resources: null, security_context: given } }), { uuid: 'U', imageKey: 'k', app: 'a', logPath: '' });
  t.true(args.includes('--no-new-privileges=true') && args.includes('--masked-paths=/proc/kcore,/bin/ls'));
});

// ------------------------------------------------------------------------------ pod-level settings

test('sandbox sysctls, cgroup parent and pid namespace become rkt app sandbox flags', (t) => {
  const linux = (l: Record<string, unknown>) => ({ linux: { cgroup_parent: '', sysctls: {}, security_context: null, ...l } }) as Pick<PodSandboxConfig, 'linux'>;
  const ns = (o: Record<string, string>) => ({ namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD', ...o } });
  t.deepEqual(sysctlFlags(linux({ sysctls: { 'kernel.shm_rmid_forced': '1', 'net.ipv4.ping_group_range': '0 2147483647' } })), [
    '--sysctl=kernel.shm_rmid_forced=1',
    '--sysctl=net.ipv4.ping_group_range=0 2147483647',
  ]);
  const invalid = (f: () => unknown, re: RegExp) => {
    const e = t.throws(f);
    t.is(criStatusOf(e).code, GrpcCode.INVALID_ARGUMENT, e?.message);
    t.regex(e!.message, re);
  };
  invalid(() => sysctlFlags(linux({ sysctls: { 'kernel.panic': '1' } })), /kernel\.panic: not a namespaced sysctl/);
  invalid(() => sysctlFlags(linux({ sysctls: { 'net.ipv4.ip_forward': '1' }, security_context: ns({ network: 'NODE' }) })), /host network namespace/);
  invalid(() => sysctlFlags(linux({ sysctls: { 'fs.mqueue.msg_max': '100' }, security_context: ns({ ipc: 'NODE' }) })), /host IPC namespace/);
  t.deepEqual(cgroupParentFlags(linux({ cgroup_parent: '/kubepods/besteffort/pod1' })), ['--cgroup-parent=/kubepods/besteffort/pod1']);
  t.deepEqual(cgroupParentFlags(linux({})), []);
  invalid(() => cgroupParentFlags(linux({ cgroup_parent: '/kubepods/../x' })), /cgroup_parent/);
  t.deepEqual(sandboxPidFlags(linux({ security_context: ns({ pid: 'NODE' }) })), ['--pid=host']);
  t.deepEqual(sandboxPidFlags(linux({ security_context: ns({ pid: 'CONTAINER' }) })), []);
  const args = sandboxArgs({ ...sandboxConfig(), ...linux({ sysctls: { 'kernel.msgmax': '1' }, cgroup_parent: 'kubepods', security_context: ns({ pid: 'NODE' }) }) }, 'abc', '/d/uuid');
  t.deepEqual(args.slice(-3), ['--sysctl=kernel.msgmax=1', '--cgroup-parent=/kubepods', '--pid=host']);
});

test('a container\'s pid namespace and its mounts\' propagation', (t) => {
  t.deepEqual(containerPidFlags({ network: 'POD', pid: 'CONTAINER', ipc: 'POD' }, 'POD'), ['--pid-namespace=private']);
  t.deepEqual(containerPidFlags({ network: 'POD', pid: 'POD', ipc: 'POD' }, 'POD'), []);
  t.deepEqual(containerPidFlags(null, undefined), []);
  t.deepEqual(containerPidFlags({ network: 'NODE', pid: 'NODE', ipc: 'NODE' }, 'NODE'), []);
  for (const [pid, sandbox] of [['NODE', 'POD'], ['TARGET', 'POD']] as const) {
    t.is(criStatusOf(t.throws(() => containerPidFlags({ network: 'POD', pid, ipc: 'POD' }, sandbox))).code, GrpcCode.INVALID_ARGUMENT);
  }
  t.deepEqual(
    (['PROPAGATION_PRIVATE', 'PROPAGATION_HOST_TO_CONTAINER', 'PROPAGATION_BIDIRECTIONAL', undefined] as const).map((p) => mountPropagation({ propagation: p })),
    ['rprivate', 'rslave', 'rshared', 'rprivate'],
  );
  const config = containerConfig({ mounts: [{ container_path: '/m', host_path: '/srv/m', readonly: false, propagation: 'PROPAGATION_BIDIRECTIONAL' }] });
  config.linux!.security_context!.namespace_options = { network: 'POD', pid: 'CONTAINER', ipc: 'POD' };
  const args = appAddArgs(config, { uuid: 'U', imageKey: 'k', app: 'a', logPath: '', sandboxPid: 'POD' });
  t.true(args.includes('--mnt-volume=name=a-m0,kind=host,source=/srv/m,readOnly=false,propagation=rshared,target=/m'));
  t.true(args.includes('--pid-namespace=private'));
});

test('the rkt commands of the server run without its NOTIFY_SOCKET', (t) => {
  t.deepEqual(childEnv({ PATH: '/bin', NOTIFY_SOCKET: '/run/systemd/notify' }), { PATH: '/bin' });
  t.deepEqual(childEnv({ PATH: '/bin' }), { PATH: '/bin' });
});
