/**
 * The CRI server's stats, events, log reopening and resource updates end to end, as root: the
 * bundled `rkt-api-service cri` over a temp data dir with the real rkt and stage1-coreos, a
 * busybox image from Debian's docker-registry on 127.0.0.1, a grpc-js runtime.v1 client. Apps
 * burn CPU, allocate memory and write to their root and the stats follow; a renamed log is
 * recreated by ReopenContainerLog; UpdateContainerResources changes the app's cgroup files;
 * GetContainerEvents streams what the server does and what it observes.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasBusybox, hasTool, isRoot, type LeakCompare } from '@rktnetes/testkit';
import { cgroupSetOf, controllerDir, parseCgroupMounts } from '../src/cri/cgroups';
import { bundlesPresent, fails, finishCri, grpc, startCriSuite, type CriClient, type CriServer } from './cri-fixture';

const enabled = isRoot() && hasBusybox() && bundlesPresent() && hasTool('docker-registry') && hasTool('skopeo');
const it = enabled ? test.serial : test.skip;
const Code = grpc.status;

interface Env {
  cri: CriServer;
  client: CriClient;
  check: LeakCompare;
  image: string;
  seen: Set<string>;
  logDir: string;
  /** the main sandbox and its pod uuid */
  sb: string;
  podUuid: string;
  podConfig: Record<string, unknown>;
}

let env: Env | undefined;
const cleanups: Array<() => unknown> = [];
const hooks = { teardown: (fn: () => unknown) => void cleanups.push(fn) };

test.before(async () => {
  if (!enabled) return;
  const { check, cri, client, image } = await startCriSuite(hooks);
  const logDir = join(cri.dataDir, '..', 'logs');
  const podConfig = { metadata: { name: 'stats', namespace: 'default', uid: 'uid-stats', attempt: 0 }, log_directory: logDir, labels: { app: 'stats' } };
  const { pod_sandbox_id: sb } = await client.runtime('RunPodSandbox', { config: podConfig });
  const podUuid = JSON.parse((await client.runtime('PodSandboxStatus', { pod_sandbox_id: sb, verbose: true })).info.info).podUuid as string;
  env = { cri, client, check, image, seen: new Set([cri.dataDir, podUuid]), logDir, sb, podUuid, podConfig };
});

test.after.always(async (t) => {
  if (env) await finishCri(t, env, cleanups);
});


async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const num = (v: { value: string } | null | undefined) => (v ? Number(v.value) : undefined);

/** Creates (and optionally starts) a busybox container running `script` in the main sandbox. */
async function container(name: string, script: string, opts: { start?: boolean; labels?: Record<string, string>; resources?: Record<string, unknown>; sandbox?: string } = {}): Promise<string> {
  const { client, image, sb, podConfig } = env!;
  const config = {
    metadata: { name, attempt: 0 },
    image: { image },
    command: ['sh', '-c', script],
    log_path: `${name}.log`,
    labels: { name, ...opts.labels },
    linux: opts.resources ? { resources: opts.resources } : {},
  };
  const { container_id: id } = await client.runtime('CreateContainer', { pod_sandbox_id: opts.sandbox ?? sb, config, sandbox_config: podConfig });
  if (opts.start ?? true) await client.runtime('StartContainer', { container_id: id });
  return id;
}

const stats = async (id: string) => (await env!.client.runtime('ContainerStats', { container_id: id })).stats;

// ------------------------------------------------------------------------------ container stats

it('container stats: created ones too; CPU, memory and the writable layer follow what the apps do; filters', async (t) => {
  const { client, sb } = env!;
  const idle = await container('idle', 'sleep 600', { start: false });
  const burn = await container('burn', 'while :; do :; done', { labels: { kind: 'busy' } });
  // the shell keeps the 32 MB string in its memory (no exec of the last command: the loop)
  const mem = await container('mem', "a=$(head -c 33554432 /dev/zero | tr '\\0' x); echo ready; while :; do sleep 1; done", { resources: { memory_limit_in_bytes: '268435456' } });
  const disk = await container('disk', 'dd if=/dev/urandom of=/blob bs=1024 count=3072 2>/dev/null; echo done; exec sleep 600');

  const created = await stats(idle);
  t.is(created.attributes.id, idle);
  t.is(created.attributes.metadata.name, 'idle');
  t.deepEqual(created.attributes.labels, { name: 'idle' });
  t.true(BigInt(created.cpu.timestamp) > 0n && BigInt(created.memory.timestamp) > 0n);
  t.is(num(created.cpu.usage_core_nano_seconds), 0, 'a created container has used no CPU');
  t.is(created.writable_layer.fs_id.mountpoint, join(env!.cri.dataDir, 'pods'));
  t.true(num(created.writable_layer.inodes_used)! >= 0);

  const first = await stats(burn);
  await sleep(1500);
  const second = await stats(burn);
  t.true(num(second.cpu.usage_core_nano_seconds)! > num(first.cpu.usage_core_nano_seconds)!, 'CPU time grows');
  t.true(num(second.cpu.usage_nano_cores)! > 50_000_000, `a spinning app uses a good part of a core: ${num(second.cpu.usage_nano_cores)}`);
  t.true(BigInt(second.cpu.timestamp) > BigInt(first.cpu.timestamp));

  const m = await waitFor('the mem container to hold its memory', async () => {
    const s = await stats(mem);
    return num(s.memory.working_set_bytes)! > 30_000_000 ? s.memory : undefined;
  });
  t.true(num(m.usage_bytes)! >= num(m.working_set_bytes)!);
  t.true(num(m.rss_bytes)! > 30_000_000, `rss ${num(m.rss_bytes)}`);
  t.true(num(m.page_faults)! > 1000);
  t.true(num(m.major_page_faults)! >= 0);
  t.is(num(m.available_bytes), 268435456 - num(m.working_set_bytes)!, 'limit less working set');
  t.is((await stats(burn)).memory.available_bytes, null, 'no limit, no available bytes');

  const layer = await waitFor('the disk container to fill its layer', async () => {
    const s = await stats(disk);
    return num(s.writable_layer?.used_bytes)! >= 3072 * 1024 ? s.writable_layer : undefined;
  });
  t.true(num(layer.inodes_used)! >= 1);

  const ids = (r: { stats: Array<{ attributes: { id: string } }> }) => r.stats.map((s) => s.attributes.id);
  const all = ids(await client.runtime('ListContainerStats', {}));
  for (const id of [idle, burn, mem, disk]) t.true(all.includes(id), id);
  t.deepEqual(ids(await client.runtime('ListContainerStats', { filter: { id: burn.slice(0, 12) } })), [burn]);
  t.deepEqual(ids(await client.runtime('ListContainerStats', { filter: { label_selector: { kind: 'busy' } } })), [burn]);
  t.deepEqual(ids(await client.runtime('ListContainerStats', { filter: { pod_sandbox_id: sb } })).sort(), [idle, burn, mem, disk].sort());
  t.deepEqual(ids(await client.runtime('ListContainerStats', { filter: { pod_sandbox_id: 'f'.repeat(64) } })), []);
  t.is((await fails(client.runtime('ContainerStats', { container_id: 'a'.repeat(64) }))).code, Code.NOT_FOUND);

  // stopped: still listed, no CPU rate to speak of
  await client.runtime('StopContainer', { container_id: burn, timeout: 2 });
  for (const id of [idle, burn, mem, disk]) await client.runtime('RemoveContainer', { container_id: id });
  t.deepEqual(ids(await client.runtime('ListContainerStats', { filter: { pod_sandbox_id: sb } })), []);
});

// ------------------------------------------------------------------------------ sandbox stats

it('sandbox stats: the pod cgroup, its processes, its network interface and its containers; filters', async (t) => {
  const { client, sb, seen, podConfig } = env!;
  const busy = await container('sb-busy', 'while :; do :; done');
  const quiet = await container('sb-quiet', 'exec sleep 600');
  const before = (await client.runtime('PodSandboxStats', { pod_sandbox_id: sb })).stats;
  t.is(before.attributes.id, sb);
  t.deepEqual(before.attributes.labels, { app: 'stats' });
  t.is(before.windows, null);
  const net0 = before.linux.network;
  t.truthy(net0, 'a pod network');
  t.is(net0.default_interface.name, 'eth0');
  t.false(net0.interfaces.some((i: { name: string }) => i.name === 'lo'));
  // some traffic: a ping to the pod's gateway side of the bridge, whatever answers
  const ip = (await client.runtime('PodSandboxStatus', { pod_sandbox_id: sb })).status.network.ip as string;
  await client.runtime('ExecSync', { container_id: quiet, cmd: ['ping', '-c', '2', '-W', '1', ip.replace(/\.\d+$/, '.1')], timeout: 10 });
  await sleep(1200);
  const s = (await client.runtime('PodSandboxStats', { pod_sandbox_id: sb })).stats;
  t.true(num(s.linux.network.default_interface.tx_bytes)! > num(net0.default_interface.tx_bytes)!, 'bytes sent');
  t.true(num(s.linux.cpu.usage_core_nano_seconds)! > num(before.linux.cpu.usage_core_nano_seconds)!);
  t.true(num(s.linux.cpu.usage_nano_cores)! > 50_000_000);
  t.true(num(s.linux.memory.working_set_bytes)! > 0);
  // the stage1 init, its parent, the two apps
  t.true(num(s.linux.process.process_count)! >= 4, `processes: ${num(s.linux.process.process_count)}`);
  t.deepEqual(s.linux.containers.map((c: { attributes: { id: string } }) => c.attributes.id).sort(), [busy, quiet].sort());

  const other = (await client.runtime('RunPodSandbox', { config: { ...podConfig, metadata: { name: 'other', namespace: 'default', uid: 'uid-other', attempt: 0 }, labels: { app: 'other' } } })).pod_sandbox_id;
  seen.add(JSON.parse((await client.runtime('PodSandboxStatus', { pod_sandbox_id: other, verbose: true })).info.info).podUuid);
  const ids = (r: { stats: Array<{ attributes: { id: string } }> }) => r.stats.map((x) => x.attributes.id);
  t.deepEqual(ids(await client.runtime('ListPodSandboxStats', {})).sort(), [sb, other].sort());
  t.deepEqual(ids(await client.runtime('ListPodSandboxStats', { filter: { id: other.slice(0, 10) } })), [other]);
  t.deepEqual(ids(await client.runtime('ListPodSandboxStats', { filter: { label_selector: { app: 'stats' } } })), [sb]);
  t.is((await fails(client.runtime('PodSandboxStats', { pod_sandbox_id: 'b'.repeat(64) }))).code, Code.NOT_FOUND);
  await client.runtime('StopPodSandbox', { pod_sandbox_id: other });
  const stopped = (await client.runtime('PodSandboxStats', { pod_sandbox_id: other })).stats;
  t.is(stopped.linux.network, null, 'a stopped sandbox has no network');
  t.is(stopped.linux.cpu.usage_core_nano_seconds, null);
  await client.runtime('RemovePodSandbox', { pod_sandbox_id: other });
  for (const id of [busy, quiet]) {
    await client.runtime('StopContainer', { container_id: id, timeout: 2 });
    await client.runtime('RemoveContainer', { container_id: id });
  }
});

// ------------------------------------------------------------------------------ log reopening

it('ReopenContainerLog: after a rename a new log is created and written, the old one no longer', async (t) => {
  const { client, logDir } = env!;
  const talker = await container('talker', 'while :; do echo tick; sleep 0.2; done', { start: false });
  t.is((await fails(client.runtime('ReopenContainerLog', { container_id: talker }))).code, Code.FAILED_PRECONDITION, 'not started');
  await client.runtime('StartContainer', { container_id: talker });
  const log = join(logDir, 'talker.log');
  await waitFor('the first log lines', () => (existsSync(log) && statSync(log).size > 0 ? true : undefined));
  renameSync(log, `${log}.1`);
  await client.runtime('ReopenContainerLog', { container_id: talker });
  t.true(existsSync(log), 'a new log file at once');
  await waitFor('lines in the new log', () => (/stdout F tick$/m.test(readFileSync(log, 'utf8')) ? true : undefined));
  const old = statSync(`${log}.1`).size;
  await sleep(1000);
  t.is(statSync(`${log}.1`).size, old, 'the renamed log is no longer written');
  t.true(statSync(log).size > 0);
  await client.runtime('StopContainer', { container_id: talker, timeout: 2 });
  t.is((await fails(client.runtime('ReopenContainerLog', { container_id: talker }))).code, Code.FAILED_PRECONDITION, 'exited');
  t.is((await fails(client.runtime('ReopenContainerLog', { container_id: 'c'.repeat(64) }))).code, Code.NOT_FOUND);
  await client.runtime('RemoveContainer', { container_id: talker });
});

// ------------------------------------------------------------------------------ resources

/** The app's cgroup directory for a controller, from the pod's runtime-config (mounts parsed as unit-tested in cri-stats-unit). */
function appCgroup(app: string, controller: string): string | undefined {
  const { cri, podUuid } = env!;
  const cfg = JSON.parse(readFileSync(join(cri.dataDir, 'pods', 'run', podUuid, 'runtime-config'), 'utf8')) as { cgroups: string[] };
  const set = cgroupSetOf(cfg.cgroups, parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8')));
  const d = controllerDir(set, controller);
  return d ? join(d.dir, app) : undefined;
}

const cat = (dir: string | undefined, file: string) => readFileSync(join(dir!, file), 'utf8').trim();

it('UpdateContainerResources: the app cgroup files change, created or running; ContainerStatus reports the resources', async (t) => {
  const { client } = env!;
  const id = await container('limited', 'exec sleep 600', { start: false, resources: { cpu_shares: '512', memory_limit_in_bytes: '67108864', cpu_period: '100000', cpu_quota: '50000' } });
  const app = JSON.parse((await client.runtime('ContainerStatus', { container_id: id, verbose: true })).info.info).app as string;
  const created = (await client.runtime('ContainerStatus', { container_id: id })).status;
  t.like(created.resources.linux, { cpu_shares: '512', memory_limit_in_bytes: '67108864', cpu_period: '100000', cpu_quota: '50000', oom_score_adj: '0' });
  const memDir = appCgroup(app, 'memory');
  const cpuDir = appCgroup(app, 'cpu');
  const v1 = existsSync(join(memDir!, 'memory.limit_in_bytes'));
  const memFile = v1 ? 'memory.limit_in_bytes' : 'memory.max';
  t.is(cat(memDir, memFile), '67108864', 'the limit CreateContainer gave');

  await client.runtime('UpdateContainerResources', { container_id: id, linux: { memory_limit_in_bytes: '100663296' } });
  t.is(cat(memDir, memFile), '100663296', 'updated before the start');
  await client.runtime('StartContainer', { container_id: id });
  await client.runtime('UpdateContainerResources', { container_id: id, linux: { cpu_shares: '256', cpu_quota: '20000', cpu_period: '50000', cpuset_cpus: '0' } });
  if (v1) {
    t.is(cat(cpuDir, 'cpu.shares'), '256');
    t.is(cat(cpuDir, 'cpu.cfs_period_us'), '50000');
    t.is(cat(cpuDir, 'cpu.cfs_quota_us'), '20000');
    t.is(cat(appCgroup(app, 'cpuset'), 'cpuset.cpus'), '0');
  } else {
    t.is(cat(cpuDir, 'cpu.max'), '20000 50000');
  }
  t.is(cat(memDir, memFile), '100663296', 'untouched fields stay');
  const status = (await client.runtime('ContainerStatus', { container_id: id })).status;
  t.like(status.resources.linux, { cpu_shares: '256', cpu_quota: '20000', cpu_period: '50000', memory_limit_in_bytes: '100663296', cpuset_cpus: '0' });
  t.is((await fails(client.runtime('UpdateContainerResources', { container_id: id, linux: { cpu_shares: '-5' } }))).code, Code.INVALID_ARGUMENT);
  await client.runtime('StopContainer', { container_id: id, timeout: 2 });
  t.is((await fails(client.runtime('UpdateContainerResources', { container_id: id, linux: { cpu_shares: '128' } }))).code, Code.FAILED_PRECONDITION, 'exited');
  await client.runtime('RemoveContainer', { container_id: id });
});

// ------------------------------------------------------------------------------ events

interface Ev {
  container_id: string;
  container_event_type: string;
  created_at: string;
  pod_sandbox_status: { id: string; state: string } | null;
  containers_statuses: Array<{ id: string; state: string }>;
}

function eventsOf(t: ExecutionContext): { events: Ev[]; close: () => void } {
  const events: Ev[] = [];
  const stream = env!.client.raw.runtime.GetContainerEvents({});
  stream.on('data', (e: Ev) => events.push(e));
  stream.on('error', (e: grpc.ServiceError) => {
    if (e.code !== Code.CANCELLED) t.fail(`events stream: ${e.message}`);
  });
  return { events, close: () => stream.cancel() };
}

it('GetContainerEvents: created, started, stopped and deleted, for the server calls and for an app exiting by itself', async (t) => {
  const { client, sb, seen, podConfig } = env!;
  const ev = eventsOf(t);
  const other = eventsOf(t);
  await sleep(500);
  const self = await container('self-exit', 'sleep 1; exit 0', { start: false });
  await client.runtime('StartContainer', { container_id: self });
  const long = await container('long', 'exec sleep 600');
  const types = (id: string) => ev.events.filter((e) => e.container_id === id).map((e) => e.container_event_type);
  await waitFor('the exit to be observed', () => (types(self).includes('CONTAINER_STOPPED_EVENT') ? true : undefined), 30_000);
  await client.runtime('StopContainer', { container_id: long, timeout: 2 });
  for (const id of [self, long]) await client.runtime('RemoveContainer', { container_id: id });
  for (const id of [self, long]) t.deepEqual(types(id), ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT'], id);
  const started = ev.events.find((e) => e.container_id === long && e.container_event_type === 'CONTAINER_STARTED_EVENT')!;
  t.is(started.pod_sandbox_status?.id, sb);
  t.is(started.pod_sandbox_status?.state, 'SANDBOX_READY');
  t.is(started.containers_statuses.find((c) => c.id === long)?.state, 'CONTAINER_RUNNING');
  t.true(BigInt(started.created_at) > 0n);
  const deleted = ev.events.find((e) => e.container_id === long && e.container_event_type === 'CONTAINER_DELETED_EVENT')!;
  t.false(deleted.containers_statuses.some((c) => c.id === long));
  t.deepEqual(
    other.events.map((e) => [e.container_id, e.container_event_type]),
    ev.events.map((e) => [e.container_id, e.container_event_type]),
    'every subscriber gets the same',
  );
  other.close();

  // a sandbox's life, with the sandbox id as the container id
  const { pod_sandbox_id: psb } = await client.runtime('RunPodSandbox', { config: { ...podConfig, metadata: { name: 'ev', namespace: 'default', uid: 'uid-ev', attempt: 0 } } });
  seen.add(JSON.parse((await client.runtime('PodSandboxStatus', { pod_sandbox_id: psb, verbose: true })).info.info).podUuid);
  await client.runtime('StopPodSandbox', { pod_sandbox_id: psb });
  await client.runtime('RemovePodSandbox', { pod_sandbox_id: psb });
  t.deepEqual(types(psb), ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT']);
  const gone = ev.events.find((e) => e.container_id === psb && e.container_event_type === 'CONTAINER_DELETED_EVENT')!;
  t.like(gone.pod_sandbox_status, { id: psb, state: 'SANDBOX_NOTREADY' });
  ev.close();
});
