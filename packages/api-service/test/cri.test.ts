/**
 * The CRI server end to end, as root: the bundled `rkt-api-service cri` on a temp socket over a
 * temp data dir, driving the real rkt and stage1-coreos; images served by Debian's
 * docker-registry on 127.0.0.1 (pushed with skopeo from testkit busybox layouts); a grpc-js
 * runtime.v1 client. Two pods go through their whole life in parallel; bad requests get the
 * CRI's status codes; everything is removed and checked for leaks at the end.
 */
import test from 'ava';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { busyboxTree, hasBusybox, hasTool, isRoot, leakCheck, type LeakCompare } from '@rktnetes/testkit';
import { bundlesPresent, criClient, fails, finishCri, grpc, pushImage, startCri, startRegistry, type CriClient, type CriServer, type Registry } from './cri-fixture';

const enabled = isRoot() && hasBusybox() && bundlesPresent() && hasTool('docker-registry') && hasTool('skopeo') && hasTool('htpasswd');
const it = enabled ? test : test.skip;
const Code = grpc.status;
const CREDS = { user: 'kube', password: 's3cret' };

interface Env {
  cri: CriServer;
  client: CriClient;
  registry: Registry;
  privateRegistry: Registry;
  check: LeakCompare;
  /** pod uuids and IPs seen, for the leak check */
  seen: Set<string>;
  work: string;
}

let env: Env | undefined;
const cleanups: Array<() => unknown> = [];
const hooks = { teardown: (fn: () => unknown) => void cleanups.push(fn) };

const busybox = (config: Record<string, unknown> = {}) => ({
  layers: [busyboxTree()],
  config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'], ...config },
});

test.before(async () => {
  if (!enabled) return;
  const check = await leakCheck({ cgroupRoots: ['/sys/fs/cgroup'] });
  const registry = await startRegistry(hooks);
  const privateRegistry = await startRegistry(hooks, { htpasswd: CREDS });
  await pushImage(hooks, registry, ['test/busybox:1.0', 'test/busybox:latest', 'test/busybox:extra'], busybox({ User: 'user' }));
  await pushImage(hooks, registry, ['test/numeric:1'], busybox({ User: '1003:1004', Labels: { n: '1' } }));
  await pushImage(hooks, registry, ['test/pod:1'], busybox());
  await pushImage(hooks, privateRegistry, ['private/busybox:1'], busybox({ Labels: { private: 'yes' } }), CREDS);
  const cri = await startCri(hooks);
  const work = join(cri.dataDir, '..', 'work');
  mkdirSync(work);
  env = { cri, client: criClient(cri.socket), registry, privateRegistry, check, seen: new Set([cri.dataDir]), work };
});

test.after.always(async (t) => {
  if (env) await finishCri(t, env, cleanups, { checkRemoved: true });
});

/** The gRPC error of a call that must fail. */

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// ------------------------------------------------------------------------------ runtime

it('Version, Status, RuntimeConfig and UpdateRuntimeConfig', async (t) => {
  const { client, cri } = env!;
  t.like(await client.runtime('Version', { version: '0.1.0' }), { version: '0.1.0', runtime_name: 'rktnetes', runtime_api_version: 'v1' });
  const status = await client.runtime('Status', { verbose: true });
  t.deepEqual(
    status.status.conditions.map((c: { type: string; status: boolean }) => [c.type, c.status]),
    [
      ['RuntimeReady', true],
      ['NetworkReady', true],
    ],
  );
  t.is(status.runtime_handlers[0].name, '');
  t.is((await client.runtime('RuntimeConfig', {})).linux.cgroup_driver, 'CGROUPFS');
  await client.runtime('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: '10.88.0.0/16' } } });
  t.is(JSON.parse(readFileSync(join(cri.dataDir, 'cri', 'runtime-config.json'), 'utf8')).podCidr, '10.88.0.0/16');
  t.is(JSON.parse((await client.runtime('Status', { verbose: true })).info.config).podCidr, '10.88.0.0/16');
});

it('the RPCs not done yet answer UNIMPLEMENTED', async (t) => {
  const { client } = env!;
  for (const [m, req] of [
    ['ListMetricDescriptors', {}],
    ['UpdatePodSandboxResources', { pod_sandbox_id: 'a' }],
  ] as const) {
    const e = await fails(client.runtime(m, req));
    t.is(e.code, Code.UNIMPLEMENTED, m);
    t.regex(e.details, new RegExp(m));
  }
  const stream = client.raw.runtime.StreamContainerStats({});
  const e = await new Promise<grpc.ServiceError>((resolve) => {
    stream.on('error', resolve);
    stream.on('data', () => undefined);
  });
  t.is(e.code, Code.UNIMPLEMENTED);
});

// ------------------------------------------------------------------------------ images

it('images: pull by tag, without tag (latest), by digest; one image per config; status; remove', async (t) => {
  const { client, registry } = env!;
  const host = registry.host;
  const { image_ref: id } = await client.image('PullImage', { image: { image: `${host}/test/busybox:1.0` } });
  t.regex(id, /^sha256:[0-9a-f]{64}$/);
  t.is((await client.image('PullImage', { image: { image: `${host}/test/busybox` } })).image_ref, id, 'latest is the same config');
  t.is((await client.image('PullImage', { image: { image: `${host}/test/busybox:extra` } })).image_ref, id);
  const { image } = await client.image('ImageStatus', { image: { image: `${host}/test/busybox:1.0` } });
  t.is(image.id, id);
  t.deepEqual([...image.repo_tags].sort(), [`${host}/test/busybox:1.0`, `${host}/test/busybox:extra`, `${host}/test/busybox:latest`]);
  t.is(image.repo_digests.length, 1);
  const digest = image.repo_digests[0] as string;
  t.regex(digest, new RegExp(`^${host.replace(/\./g, '\\.')}/test/busybox@sha256:[0-9a-f]{64}$`));
  t.is(image.username, 'user');
  t.is(image.uid, null);
  t.false(image.pinned);
  t.true(Number(image.size) > 0);
  // every way of naming it finds it
  for (const ref of [id, id.slice('sha256:'.length), digest, `${host}/test/busybox`]) {
    t.is((await client.image('ImageStatus', { image: { image: ref } })).image?.id, id, ref);
  }
  t.is((await client.image('PullImage', { image: { image: digest } })).image_ref, id, 'pull by digest');
  t.deepEqual(
    (await client.image('ListImages', { filter: { image: { image: `${host}/test/busybox:extra` } } })).images.map((i: { id: string }) => i.id),
    [id],
  );

  const numeric = await client.image('PullImage', { image: { image: `${host}/test/numeric:1` } });
  t.not(numeric.image_ref, id);
  const n = (await client.image('ImageStatus', { image: { image: numeric.image_ref } })).image;
  t.deepEqual(n.uid, { value: '1003' });
  t.is(n.username, '');
  const all = (await client.image('ListImages', {})).images as Array<{ id: string; pinned: boolean; repo_tags: string[] }>;
  t.true(all.some((i) => i.id === id) && all.some((i) => i.id === numeric.image_ref));
  t.true(all.some((i) => i.pinned && i.repo_tags.some((r) => r.includes('stage1'))) || !all.some((i) => i.repo_tags.some((r) => r.includes('stage1'))), 'stage1 images are pinned');

  await client.image('RemoveImage', { image: { image: `${host}/test/numeric:1` } });
  t.is((await client.image('ImageStatus', { image: { image: numeric.image_ref } })).image, null);
  await client.image('RemoveImage', { image: { image: numeric.image_ref } });
  await client.image('RemoveImage', { image: { image: id } });
  for (const tag of ['1.0', 'latest', 'extra']) t.is((await client.image('ImageStatus', { image: { image: `${host}/test/busybox:${tag}` } })).image, null, tag);
});

it('images: credentials from the request, as username/password or auth', async (t) => {
  const { client, privateRegistry } = env!;
  const image = { image: `${privateRegistry.host}/private/busybox:1` };
  const denied = await fails(client.image('PullImage', { image }));
  t.not(denied.code, Code.OK);
  t.regex(denied.details, /cannot pull image/);
  const { image_ref } = await client.image('PullImage', { image, auth: { username: CREDS.user, password: CREDS.password } });
  t.regex(image_ref, /^sha256:/);
  await client.image('RemoveImage', { image });
  const again = await client.image('PullImage', { image, auth: { auth: Buffer.from(`${CREDS.user}:${CREDS.password}`).toString('base64'), server_address: `http://${privateRegistry.host}` } });
  t.is(again.image_ref, image_ref);
  t.deepEqual(await import('node:fs').then((fs) => fs.readdirSync(join(env!.cri.dataDir, 'cri', 'tmp'))), [], 'no credentials left behind');
  t.is((await fails(client.image('PullImage', { image, auth: { registry_token: 'x' } }))).code, Code.INVALID_ARGUMENT);
  await client.image('RemoveImage', { image });
});

it('ImageFsInfo reports the store', async (t) => {
  const { client, cri } = env!;
  const r = await client.image('ImageFsInfo', {});
  t.is(r.image_filesystems.length, 1);
  t.is(r.image_filesystems[0].fs_id.mountpoint, join(cri.dataDir, 'cas'));
  t.true(BigInt(r.image_filesystems[0].timestamp) > 0n);
  t.truthy(r.image_filesystems[0].used_bytes);
});

// ------------------------------------------------------------------------------ pods

interface PodSpec {
  name: string;
  hostNetwork: boolean;
}

async function podLifecycle(t: import('ava').ExecutionContext, spec: PodSpec): Promise<void> {
  const { client, registry, work, seen } = env!;
  const image = `${registry.host}/test/pod:1`;
  await client.image('PullImage', { image: { image } });
  const logDir = join(work, 'logs', spec.name);
  const hostDir = join(work, 'data', spec.name);
  mkdirSync(hostDir, { recursive: true });
  writeFileSync(join(hostDir, 'file'), `from the host ${spec.name}\n`);
  const config = {
    metadata: { name: spec.name, namespace: 'default', uid: `uid-${spec.name}`, attempt: 0 },
    hostname: spec.hostNetwork ? '' : `${spec.name}-host`,
    log_directory: logDir,
    dns_config: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] },
    port_mappings: spec.hostNetwork ? [] : [{ protocol: 'TCP', container_port: 80, host_port: 0 }],
    labels: { app: spec.name, 'io.kubernetes.pod.name': spec.name },
    annotations: { note: `pod ${spec.name}` },
    linux: spec.hostNetwork ? { security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } } : {},
  };
  const { pod_sandbox_id: sb } = await client.runtime('RunPodSandbox', { config });
  t.regex(sb, /^[0-9a-f]{64}$/);
  const st = await client.runtime('PodSandboxStatus', { pod_sandbox_id: sb, verbose: true });
  const info = JSON.parse(st.info.info);
  seen.add(info.podUuid);
  t.like(st.status, { id: sb, state: 'SANDBOX_READY', labels: config.labels, annotations: config.annotations, metadata: config.metadata });
  t.is(st.status.linux.namespaces.options.network, spec.hostNetwork ? 'NODE' : 'POD');
  if (spec.hostNetwork) t.is(st.status.network.ip, '');
  else {
    t.regex(st.status.network.ip, /^\d+\.\d+\.\d+\.\d+$/);
    seen.add(st.status.network.ip);
  }
  t.deepEqual(
    (await client.runtime('ListPodSandbox', { filter: { label_selector: { app: spec.name } } })).items.map((i: { id: string }) => i.id),
    [sb],
  );
  t.is((await fails(client.runtime('RunPodSandbox', { config }))).code, Code.ALREADY_EXISTS, 'the same name and attempt twice');

  // a long-running container
  const cconfig = {
    metadata: { name: 'main', attempt: 0 },
    image: { image },
    command: ['sh', '-c'],
    args: ['echo out-line; echo err-line >&2; exec sleep 600'],
    working_dir: '/tmp',
    envs: [{ key: 'GREETING', value: Buffer.from(`hello ${spec.name}`) }],
    mounts: [{ container_path: '/data', host_path: hostDir, readonly: true }],
    labels: { role: 'main' },
    annotations: { a: '1' },
    log_path: 'main/0.log',
    linux: { security_context: { run_as_user: { value: '1000' } } },
  };
  const { container_id: cid } = await client.runtime('CreateContainer', { pod_sandbox_id: sb, config: cconfig, sandbox_config: config });
  t.is((await client.runtime('ContainerStatus', { container_id: cid })).status.state, 'CONTAINER_CREATED');
  t.is((await fails(client.runtime('CreateContainer', { pod_sandbox_id: sb, config: cconfig }))).code, Code.ALREADY_EXISTS);
  t.is((await fails(client.runtime('CreateContainer', { pod_sandbox_id: sb, config: { ...cconfig, metadata: { name: 'x' }, image: { image: `${registry.host}/test/absent:1` } } }))).code, Code.NOT_FOUND);
  await client.runtime('StartContainer', { container_id: cid });
  t.is((await fails(client.runtime('StartContainer', { container_id: cid }))).code, Code.FAILED_PRECONDITION, 'started twice');
  const running = (await client.runtime('ContainerStatus', { container_id: cid })).status;
  t.like(running, { id: cid, state: 'CONTAINER_RUNNING', labels: cconfig.labels, annotations: cconfig.annotations, log_path: join(logDir, 'main/0.log') });
  t.true(BigInt(running.started_at) >= BigInt(running.created_at));
  t.regex(running.image_ref, /@sha256:/);
  t.regex(running.image_id, /^sha256:/);
  t.deepEqual(
    (await client.runtime('ListContainers', { filter: { pod_sandbox_id: sb, state: { state: 'CONTAINER_RUNNING' } } })).containers.map((c: { id: string }) => c.id),
    [cid],
  );

  const ex = await client.runtime('ExecSync', { container_id: cid, cmd: ['sh', '-c', 'id -u; pwd; echo "$GREETING"; cat /data/file; hostname; echo oops >&2; exit 3'], timeout: 20 });
  t.is(ex.exit_code, 3);
  const lines = ex.stdout.toString().split('\n');
  t.is(lines[0], '1000');
  t.is(lines[1], '/tmp');
  t.is(lines[2], `hello ${spec.name}`);
  t.is(lines[3], `from the host ${spec.name}`);
  if (!spec.hostNetwork) t.is(lines[4], `${spec.name}-host`);
  t.is(ex.stderr.toString(), 'oops\n');
  const resolv = await client.runtime('ExecSync', { container_id: cid, cmd: ['cat', '/etc/resolv.conf'], timeout: 20 });
  t.regex(resolv.stdout.toString(), /nameserver 10\.96\.0\.10/);
  const slow = await fails(client.runtime('ExecSync', { container_id: cid, cmd: ['sleep', '30'], timeout: 1 }));
  t.is(slow.code, Code.DEADLINE_EXCEEDED);
  const log = await waitFor('the container log', async () => {
    try {
      const text = readFileSync(join(logDir, 'main/0.log'), 'utf8');
      return text.includes('err-line') ? text : undefined;
    } catch {
      return undefined;
    }
  });
  t.regex(log, /^\S+Z stdout F out-line$/m);
  t.regex(log, /^\S+Z stderr F err-line$/m);

  // a container that exits by itself
  const { container_id: quick } = await client.runtime('CreateContainer', {
    pod_sandbox_id: sb,
    config: {
      metadata: { name: 'quick', attempt: 0 },
      image: { image },
      args: ['sh', '-c', 'id -G; exit 3'],
      log_path: 'quick/0.log',
      linux: { security_context: { run_as_user: { value: '1000' }, supplemental_groups: ['4242'] } },
    },
  });
  await client.runtime('StartContainer', { container_id: quick });
  const exited = await waitFor('the quick container to exit', async () => {
    const s = (await client.runtime('ContainerStatus', { container_id: quick })).status;
    return s.state === 'CONTAINER_EXITED' ? s : undefined;
  });
  t.like(exited, { exit_code: 3, reason: 'Error' });
  const groups = await waitFor('the quick container log', async () => {
    try {
      return /stdout F (.*)$/m.exec(readFileSync(join(logDir, 'quick/0.log'), 'utf8'))?.[1];
    } catch {
      return undefined;
    }
  });
  t.is(groups, '1000 4242', 'primary group from the image, supplementary groups added');
  const groupOnly = { metadata: { name: 'group-only' }, image: { image }, linux: { security_context: { run_as_group: { value: '5' } } } };
  t.is((await fails(client.runtime('CreateContainer', { pod_sandbox_id: sb, config: groupOnly }))).code, Code.INVALID_ARGUMENT, 'a group without a user');
  t.true(BigInt(exited.finished_at) >= BigInt(exited.started_at));
  t.is((await fails(client.runtime('ExecSync', { container_id: quick, cmd: ['true'] }))).code, Code.FAILED_PRECONDITION);

  await client.runtime('StopContainer', { container_id: cid, timeout: 2 });
  const stopped = (await client.runtime('ContainerStatus', { container_id: cid })).status;
  t.is(stopped.state, 'CONTAINER_EXITED');
  t.true([137, 143].includes(stopped.exit_code), String(stopped.exit_code));
  await client.runtime('StopContainer', { container_id: cid, timeout: 2 });
  for (const c of [cid, quick]) {
    await client.runtime('RemoveContainer', { container_id: c });
    t.is((await fails(client.runtime('ContainerStatus', { container_id: c }))).code, Code.NOT_FOUND);
    await client.runtime('RemoveContainer', { container_id: c });
  }
  t.deepEqual((await client.runtime('ListContainers', { filter: { pod_sandbox_id: sb } })).containers, []);

  await client.runtime('StopPodSandbox', { pod_sandbox_id: sb });
  t.is((await client.runtime('PodSandboxStatus', { pod_sandbox_id: sb })).status.state, 'SANDBOX_NOTREADY');
  await client.runtime('StopPodSandbox', { pod_sandbox_id: sb });
  t.is((await fails(client.runtime('CreateContainer', { pod_sandbox_id: sb, config: { ...cconfig, metadata: { name: 'late' } } }))).code, Code.FAILED_PRECONDITION);
  await client.runtime('RemovePodSandbox', { pod_sandbox_id: sb });
  t.is((await fails(client.runtime('PodSandboxStatus', { pod_sandbox_id: sb }))).code, Code.NOT_FOUND);
  await client.runtime('RemovePodSandbox', { pod_sandbox_id: sb });
  t.false((await client.runtime('ListPodSandbox', {})).items.some((i: { id: string }) => i.id === sb));
}

it('two pods in parallel: sandbox, containers, exec, status, logs, stop, remove', async (t) => {
  t.timeout(600_000);
  await Promise.all([podLifecycle(t, { name: 'alpha', hostNetwork: false }), podLifecycle(t, { name: 'beta', hostNetwork: true })]);
});

it('OOM kills are OOMKilled; containers go with their sandbox, records too', async (t) => {
  t.timeout(300_000);
  const { client, registry, cri } = env!;
  const image = `${registry.host}/test/pod:1`;
  const { image_ref: imageId } = await client.image('PullImage', { image: { image } });
  const { pod_sandbox_id: sb } = await client.runtime('RunPodSandbox', { config: { metadata: { name: 'gamma', namespace: 'default', uid: 'g', attempt: 1 } } });
  env!.seen.add(JSON.parse((await client.runtime('PodSandboxStatus', { pod_sandbox_id: sb, verbose: true })).info.info).podUuid);
  // the kubelet names the image by the id PullImage answered, and the reference as user_specified_image
  const { container_id: cid } = await client.runtime('CreateContainer', {
    pod_sandbox_id: sb,
    config: { metadata: { name: 'c' }, image: { image: imageId, user_specified_image: image }, command: ['sleep', '600'] },
  });
  await client.runtime('StartContainer', { container_id: cid });
  const { status } = await client.runtime('ContainerStatus', { container_id: cid });
  t.like(status, { image_id: imageId, image: { image, user_specified_image: image } });
  t.true(readFileSync(join(cri.dataDir, 'cri', 'containers', `${cid}.json`), 'utf8').includes(sb));
  // dd's 128 MiB buffer in a 32 MiB cgroup: the kernel's OOM killer, seen in the app's memory cgroup
  const { container_id: hog } = await client.runtime('CreateContainer', {
    pod_sandbox_id: sb,
    config: { metadata: { name: 'hog' }, image: { image }, command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=128M', 'count=2'], linux: { resources: { memory_limit_in_bytes: String(32 << 20) } } },
  });
  await client.runtime('StartContainer', { container_id: hog });
  const oom = await waitFor('the OOM kill', async () => {
    const s = (await client.runtime('ContainerStatus', { container_id: hog })).status;
    return s.state === 'CONTAINER_EXITED' ? s : undefined;
  });
  t.like(oom, { exit_code: 137, reason: 'OOMKilled' });
  await client.runtime('RemovePodSandbox', { pod_sandbox_id: sb });
  t.is((await fails(client.runtime('ContainerStatus', { container_id: cid }))).code, Code.NOT_FOUND);
  t.throws(() => readFileSync(join(cri.dataDir, 'cri', 'containers', `${cid}.json`)));
  t.throws(() => readFileSync(join(cri.dataDir, 'cri', 'sandboxes', sb, 'sandbox.json')));
});

// ------------------------------------------------------------------------------ bad requests

it('bad requests: INVALID_ARGUMENT and NOT_FOUND', async (t) => {
  const { client } = env!;
  const unknown = 'ab'.repeat(32);
  const cases: Array<[string, 'runtime' | 'image', object, number]> = [
    ['RunPodSandbox', 'runtime', {}, Code.INVALID_ARGUMENT],
    ['RunPodSandbox', 'runtime', { config: { metadata: { name: '', namespace: 'x' } } }, Code.INVALID_ARGUMENT],
    ['RunPodSandbox', 'runtime', { config: { metadata: { name: 'a', namespace: 'x' } }, runtime_handler: 'kata' }, Code.INVALID_ARGUMENT],
    ['RunPodSandbox', 'runtime', { config: { metadata: { name: 'a', namespace: 'x' }, hostname: 'bad host' } }, Code.INVALID_ARGUMENT],
    ['PodSandboxStatus', 'runtime', { pod_sandbox_id: '' }, Code.INVALID_ARGUMENT],
    ['PodSandboxStatus', 'runtime', { pod_sandbox_id: 'not-hex!' }, Code.INVALID_ARGUMENT],
    ['PodSandboxStatus', 'runtime', { pod_sandbox_id: unknown }, Code.NOT_FOUND],
    ['StopPodSandbox', 'runtime', { pod_sandbox_id: unknown }, Code.NOT_FOUND],
    ['CreateContainer', 'runtime', { pod_sandbox_id: unknown, config: { metadata: { name: 'c' }, image: { image: 'busybox' } } }, Code.NOT_FOUND],
    ['CreateContainer', 'runtime', { pod_sandbox_id: unknown, config: { metadata: { name: 'c' } } }, Code.INVALID_ARGUMENT],
    ['StartContainer', 'runtime', { container_id: unknown }, Code.NOT_FOUND],
    ['StopContainer', 'runtime', { container_id: unknown, timeout: 1 }, Code.NOT_FOUND],
    ['ContainerStatus', 'runtime', { container_id: unknown }, Code.NOT_FOUND],
    ['ContainerStatus', 'runtime', { container_id: '' }, Code.INVALID_ARGUMENT],
    ['ExecSync', 'runtime', { container_id: unknown, cmd: ['true'] }, Code.NOT_FOUND],
    ['ImageStatus', 'image', { image: { image: 'Not A Reference' } }, Code.INVALID_ARGUMENT],
    ['ImageStatus', 'image', { image: { image: '' } }, Code.INVALID_ARGUMENT],
    ['PullImage', 'image', { image: { image: '' } }, Code.INVALID_ARGUMENT],
    ['PullImage', 'image', { image: { image: 'bad//ref' } }, Code.INVALID_ARGUMENT],
    ['RemoveImage', 'image', {}, Code.INVALID_ARGUMENT],
  ];
  for (const [method, service, req, code] of cases) {
    const e = await fails(service === 'runtime' ? client.runtime(method, req) : client.image(method, req));
    t.is(e.code, code, `${method} ${JSON.stringify(req)}: ${e.details}`);
    t.truthy(e.details, method);
  }
  // idempotent removals, absent images
  await client.runtime('RemovePodSandbox', { pod_sandbox_id: unknown });
  await client.runtime('RemoveContainer', { container_id: unknown });
  await client.image('RemoveImage', { image: { image: `${env!.registry.host}/never/pulled:1` } });
  t.is((await client.image('ImageStatus', { image: { image: `${env!.registry.host}/never/pulled:1` } })).image, null);
  const missing = await fails(client.image('PullImage', { image: { image: `${env!.registry.host}/never/pushed:1` } }));
  t.is(missing.code, Code.FAILED_PRECONDITION);
  t.regex(missing.details, /not found/);
});
