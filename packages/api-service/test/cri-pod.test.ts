/**
 * The pod-level and namespace settings of the CRI end to end, as root (fixtures of
 * cri-fixture.ts): sandbox sysctls and cgroup parent, container and node pid namespaces, mount
 * propagation, and ExecSync timeouts leaving nothing behind in the pod. Everything is removed
 * and checked for leaks at the end.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { podDir } from '@rktnetes/common';
import { MNT_DETACH, MS_BIND, MS_REC, MS_SHARED, realSys } from '@rktnetes/sys';
import { busyboxTree, hasBusybox, hasTool, isRoot, type LeakCompare } from '@rktnetes/testkit';
import { bundlesPresent, fails, finishCri, grpc, startCriSuite, type CriClient, type CriServer, type Registry } from './cri-fixture';

const enabled = isRoot() && hasBusybox() && bundlesPresent() && hasTool('docker-registry') && hasTool('skopeo');
const it = enabled ? test.serial : test.skip;
const Code = grpc.status;
/** the cgroup parent of the test sandboxes, below each hierarchy's root */
const PARENT = `rktnetes-cri-pod-${process.pid}`;

interface Env {
  cri: CriServer;
  client: CriClient;
  registry: Registry;
  check: LeakCompare;
  seen: Set<string>;
  image: string;
  work: string;
}

let env: Env | undefined;
const cleanups: Array<() => unknown> = [];
const hooks = { teardown: (fn: () => unknown) => void cleanups.push(fn) };
const sys = realSys();

test.before(async () => {
  if (!enabled) return;
  const { check, registry, cri, client, image } = await startCriSuite(hooks, 'test/busybox:1', busyboxTree({ extraApplets: ['pgrep'] }));
  const work = join(cri.dataDir, '..', 'work');
  mkdirSync(work);
  env = { cri, client, registry, check, seen: new Set([cri.dataDir, PARENT]), image, work };
});

test.after.always(async (t) => {
  if (!env) return;
  await finishCri(t, env, cleanups, {
    beforeLeakCheck: () => {
      for (const h of readdirSync('/sys/fs/cgroup')) {
        try {
          rmdirSync(join('/sys/fs/cgroup', h, PARENT));
        } catch {
          // not there
        }
      }
    },
  });
});


const metadata = (name: string) => ({ name, namespace: 'default', uid: `uid-${name}`, attempt: 0 });
const ns = (o: Record<string, string>) => ({ namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD', ...o } });

/** Runs a sandbox; its pod uuid is remembered for the leak check. */
async function runSandbox(config: Record<string, unknown>): Promise<{ id: string; uuid: string }> {
  const { client, seen } = env!;
  const { pod_sandbox_id: id } = await client.runtime('RunPodSandbox', { config });
  const uuid = JSON.parse((await client.runtime('PodSandboxStatus', { pod_sandbox_id: id, verbose: true })).info.info).podUuid as string;
  seen.add(uuid);
  return { id, uuid };
}

/** Creates and starts a container. */
async function runContainer(sb: string, config: Record<string, unknown>): Promise<string> {
  const { client, image } = env!;
  const { container_id: id } = await client.runtime('CreateContainer', { pod_sandbox_id: sb, config: { image: { image }, ...config } });
  await client.runtime('StartContainer', { container_id: id });
  return id;
}

async function exec(id: string, cmd: string[], timeout = 20): Promise<{ out: string; code: number }> {
  const r = await env!.client.runtime('ExecSync', { container_id: id, cmd, timeout });
  return { out: r.stdout.toString(), code: r.exit_code };
}

const LOOP = ['sh', '-c', 'trap "exit 0" TERM; : marker; while :; do sleep 1; done'];

it('a sandbox with sysctls and a cgroup parent; a container in its own pid namespace; ExecSync timeouts leave nothing', async (t: ExecutionContext) => {
  t.timeout(300_000);
  const { client, cri } = env!;
  const config = {
    metadata: metadata('settings'),
    linux: {
      cgroup_parent: `/${PARENT}`,
      sysctls: { 'kernel.shm_rmid_forced': '1', 'fs.mqueue.msg_max': '100', 'net.ipv4.ping_group_range': '0 2147483647' },
      security_context: ns({ pid: 'CONTAINER' }),
    },
  };
  const { id: sb, uuid } = await runSandbox(config);
  t.is(readFileSync(join(podDir(cri.dataDir, 'run', uuid), 'subcgroup'), 'utf8'), `${PARENT}/rkt-${uuid}`);
  t.true(existsSync(`/sys/fs/cgroup/memory/${PARENT}/rkt-${uuid}`));
  t.is((await client.runtime('PodSandboxStatus', { pod_sandbox_id: sb })).status.linux.namespaces.options.pid, 'CONTAINER');

  const own = await runContainer(sb, { metadata: { name: 'own' }, command: LOOP, linux: { security_context: ns({ pid: 'CONTAINER' }) } });
  const shared = await runContainer(sb, { metadata: { name: 'shared' }, command: LOOP });
  const sysctls = await exec(own, ['cat', '/proc/sys/kernel/shm_rmid_forced', '/proc/sys/fs/mqueue/msg_max', '/proc/sys/net/ipv4/ping_group_range']);
  t.deepEqual(sysctls.out.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')), ['1', '100', '0 2147483647', '']);
  const pid1 = await exec(own, ['sh', '-c', 'tr "\\0" " " < /proc/1/cmdline; echo; ps -o args | grep -c "[m]arker"']);
  const [cmdline, markers] = pid1.out.trim().split('\n');
  t.regex(cmdline ?? '', /: marker/, 'the container is PID 1 of its namespace');
  t.is(markers, '1', 'it sees no other container');
  const pod = await exec(shared, ['sh', '-c', 'ps -o args | grep -c "[m]arker"']);
  t.is(pod.out.trim(), '2', 'the pod\'s namespace holds both');

  // as critest checks: the command killed at the timeout is gone, zombies included
  t.is((await fails(client.runtime('ExecSync', { container_id: shared, cmd: ['sh', '-c', 'sleep 4321; echo not reached'], timeout: 1 }))).code, Code.DEADLINE_EXCEEDED);
  const left = async () => (await exec(shared, ['sh', '-c', 'pgrep sleep | while read p; do grep -l "4321" /proc/$p/cmdline; grep "^State:.*Z" /proc/$p/status; done; true'])).out.trim();
  const deadline = Date.now() + 5000;
  let remaining = await left();
  while (remaining !== '' && Date.now() < deadline) {
    await sleep(200);
    remaining = await left();
  }
  t.is(remaining, '', 'no sleep 4321 and no zombie in the pod');
  t.is((await fails(client.runtime('ExecSync', { container_id: own, cmd: ['sleep', '4321'], timeout: 1 }))).code, Code.DEADLINE_EXCEEDED);
  t.is((await exec(own, ['sh', '-c', 'ps -o args | grep -c "[s]leep 4321"'])).out.trim(), '0', 'in the container\'s namespace too');

  await client.runtime('StopContainer', { container_id: own, timeout: 5 });
  t.is((await client.runtime('ContainerStatus', { container_id: own })).status.exit_code, 0, 'SIGTERM reached the namespace\'s PID 1 (it traps it)');
  await client.runtime('RemovePodSandbox', { pod_sandbox_id: sb });
  t.false(existsSync(`/sys/fs/cgroup/memory/${PARENT}/rkt-${uuid}`));
});

it('a sandbox in the node\'s pid namespace', async (t: ExecutionContext) => {
  t.timeout(120_000);
  const { client } = env!;
  const { id: sb } = await runSandbox({ metadata: metadata('hostpid'), linux: { security_context: ns({ pid: 'NODE' }) } });
  t.is((await client.runtime('PodSandboxStatus', { pod_sandbox_id: sb })).status.linux.namespaces.options.pid, 'NODE');
  // a duration no other test uses: in the node's pid namespace every host process is visible
  const c = await runContainer(sb, { metadata: { name: 'c' }, command: ['sh', '-c', 'exec sleep 6017'], linux: { security_context: ns({ pid: 'NODE' }) } });
  const seen = (await exec(c, ['pidof', 'sleep'])).out.trim().split(/\s+/).map(Number);
  const cmdline = (p: number) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8');
    } catch {
      return ''; // another test's sleep that ended meanwhile
    }
  };
  const pid = seen.find((p) => /^sleep.6017/.test(cmdline(p))) ?? 0;
  t.true(pid > 1, `pidof sleep in the container: ${seen.join(' ')}`);
  t.regex(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /^sleep.6017/, 'the pid is a host pid');
  t.is(readFileSync(`/proc/${pid}/status`, 'utf8').match(/^NSpid:(.*)$/m)?.[1]?.trim().split(/\s+/).length, 1);
  await client.runtime('StopPodSandbox', { pod_sandbox_id: sb });
  t.true(existsSync('/proc/1'));
  await client.runtime('RemovePodSandbox', { pod_sandbox_id: sb });
});

it('mount propagation: PRIVATE, HOST_TO_CONTAINER, BIDIRECTIONAL', async (t: ExecutionContext) => {
  t.timeout(180_000);
  const { client, work } = env!;
  const mounted: string[] = [];
  t.teardown(() => {
    for (const m of mounted.reverse()) {
      try {
        sys.umount2(m, MNT_DETACH);
      } catch {
        // gone
      }
    }
  });
  const { id: sb } = await runSandbox({ metadata: metadata('propagation') });
  const kinds = ['PROPAGATION_PRIVATE', 'PROPAGATION_HOST_TO_CONTAINER', 'PROPAGATION_BIDIRECTIONAL'] as const;
  const src = (k: string) => join(work, 'prop', k);
  for (const k of kinds) {
    mkdirSync(join(src(k), 'in'), { recursive: true });
    mkdirSync(join(src(k), 'out'), { recursive: true });
    sys.mount(src(k), src(k), null, MS_BIND | MS_REC);
    mounted.push(src(k));
    sys.mount(null, src(k), null, MS_SHARED | MS_REC);
  }
  const mounts = kinds.map((k) => ({ container_path: `/m/${k}`, host_path: src(k), readonly: false, propagation: k }));
  const c = await runContainer(sb, { metadata: { name: 'c' }, command: LOOP, mounts, linux: { security_context: { privileged: true } } });
  t.deepEqual(
    (await client.runtime('ContainerStatus', { container_id: c })).status.mounts.map((m: { propagation: string }) => m.propagation),
    [...kinds],
  );
  for (const k of kinds) {
    sys.mount('/etc', join(src(k), 'in'), null, MS_BIND);
    mounted.push(join(src(k), 'in'));
  }
  const seen = await exec(c, ['sh', '-c', `for k in ${kinds.join(' ')}; do ls /m/$k/in | grep -c "^hostname$"; done`]);
  t.deepEqual(seen.out.trim().split('\n'), ['0', '1', '1']);
  for (const k of kinds) mounted.push(join(src(k), 'out'));
  const m = await exec(c, ['sh', '-c', `for k in ${kinds.join(' ')}; do mount --bind /etc /m/$k/out || exit 1; done`]);
  t.is(m.code, 0, m.out);
  t.deepEqual(
    kinds.map((k) => readdirSync(join(src(k), 'out')).includes('hostname')),
    [false, false, true],
  );
  // BIDIRECTIONAL needs a shared host mount: a plain directory is refused
  const plain = join(work, 'plain');
  mkdirSync(plain, { recursive: true });
  const e = await fails(client.runtime('CreateContainer', { pod_sandbox_id: sb, config: { metadata: { name: 'bad' }, image: { image: env!.image }, mounts: [{ container_path: '/p', host_path: plain, propagation: 'PROPAGATION_BIDIRECTIONAL' }] } }));
  t.regex(e.details, /not a shared mount/);
  await client.runtime('RemovePodSandbox', { pod_sandbox_id: sb });
});

it('bad pod settings are INVALID_ARGUMENT', async (t: ExecutionContext) => {
  const { client } = env!;
  const bad = async (linux: Record<string, unknown>, re: RegExp) => {
    const e = await fails(client.runtime('RunPodSandbox', { config: { metadata: metadata(`bad-${Math.random().toString(36).slice(2, 8)}`), linux } }));
    t.is(e.code, Code.INVALID_ARGUMENT, e.details);
    t.regex(e.details, re);
  };
  await bad({ sysctls: { 'kernel.panic': '1' } }, /not a namespaced sysctl/);
  await bad({ sysctls: { 'net.ipv4.ip_forward': '1' }, security_context: ns({ network: 'NODE' }) }, /host network namespace/);
  await bad({ sysctls: { 'kernel.shmmax': '1' }, security_context: ns({ ipc: 'NODE' }) }, /host IPC namespace/);
  await bad({ cgroup_parent: '/a/../../b' }, /cgroup_parent/);
  const { id: sb } = await runSandbox({ metadata: metadata('podpid') });
  const e = await fails(client.runtime('CreateContainer', { pod_sandbox_id: sb, config: { metadata: { name: 'c' }, image: { image: env!.image }, linux: { security_context: ns({ pid: 'NODE' }) } } }));
  t.is(e.code, Code.INVALID_ARGUMENT);
  await client.runtime('RemovePodSandbox', { pod_sandbox_id: sb });
});
