/**
 * The CRI server under a kubelet's concurrency, end to end as root (fixtures of cri-fixture.ts,
 * host-network sandboxes to keep it fast): sandboxes run in parallel with a duplicate name
 * among them, containers created and started in parallel, lists polled all the while (no id
 * twice, never more than there are), the server killed while a sandbox starts and a new one
 * taking over the same state, then stops, removals and a container creation racing its
 * sandbox's removal, all at once. Nothing may be left: records, pods, mounts, cgroups.
 */
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { busyboxTree, hasBusybox, hasTool, isRoot, leakCheck } from '@rktnetes/testkit';
import { bundlesPresent, criClient, grpc, pushImage, rktOf, startCri, startRegistry, type CriClient } from './cri-fixture';

const enabled = isRoot() && hasBusybox() && bundlesPresent() && hasTool('docker-registry') && hasTool('skopeo');
const it = enabled ? test : test.skip;
const Code = grpc.status;
const N = 8;

const hostNetwork = { security_context: { namespace_options: { network: 'NODE' } } };
const sandboxConfig = (name: string) => ({ metadata: { name, namespace: 'stress', uid: `uid-${name}`, attempt: 0 }, labels: { stress: 'yes', name }, linux: hostNetwork });

interface Listed {
  id: string;
  state: string;
  metadata: { name: string };
}

/**
 * Polls ListPodSandbox and ListContainers until stopped; records every list that shows an id
 * twice or more than `max()` items.
 */
function poller(client: CriClient, max: () => { sandboxes: number; containers: number }) {
  const problems: string[] = [];
  let running = true;
  let rounds = 0;
  const loop = (async () => {
    while (running) {
      const [sb, ct] = await Promise.all([client.runtime('ListPodSandbox', {}), client.runtime('ListContainers', {})]).catch(() => [{ items: [] }, { containers: [] }]);
      for (const [what, items, limit] of [
        ['sandboxes', sb.items as Listed[], max().sandboxes],
        ['containers', ct.containers as Listed[], max().containers],
      ] as const) {
        const ids = items.map((i) => i.id);
        if (new Set(ids).size !== ids.length) problems.push(`${what} listed twice: ${ids.join(' ')}`);
        if (ids.length > limit) problems.push(`${ids.length} ${what} listed, at most ${limit} exist`);
      }
      rounds++;
      await sleep(20);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { problems, rounds };
    },
  };
}

/** Stops (forcibly) and garbage-collects every pod of a data directory. */
async function forceRemovePods(rkt: ReturnType<typeof rktOf>): Promise<void> {
  const running = async () =>
    (await rkt('list', '--no-legend', '--full')).stdout
      .split('\n')
      .filter((l) => /\brunning\b/.test(l))
      .map((l) => l.split(/\s+/)[0]!);
  for (const uuid of await running()) await rkt('stop', '--force', uuid);
  for (let i = 0; i < 100 && (await running()).length; i++) await sleep(100);
  await rkt('gc', '--grace-period=0s');
}

const byName = (items: Listed[]) => items.map((i) => [i.metadata.name, i.state]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1));

it('parallel sandboxes and containers are each listed once, survive a server killed midway and leave nothing', async (t) => {
  t.timeout(300_000);
  const started = Date.now();
  const check = await leakCheck({ cgroupRoots: ['/sys/fs/cgroup'] });
  const registry = await startRegistry(t);
  await pushImage(t, registry, ['stress/busybox:1'], { layers: [busyboxTree()], config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });
  const image = `${registry.host}/stress/busybox:1`;
  let cri = await startCri(t);
  let client = criClient(cri.socket);
  t.teardown(() => client.close());
  // a failed assertion leaves pods running: stopped and collected before the data dir goes
  t.teardown(() => forceRemovePods(rktOf(cri)));
  await client.image('PullImage', { image: { image } });
  const setup = Date.now();

  // --- N sandboxes at once, and a second RunPodSandbox with the first one's name
  let lists = poller(client, () => ({ sandboxes: N, containers: 0 }));
  const runs = await Promise.allSettled([...Array.from({ length: N }, (_, i) => client.runtime('RunPodSandbox', { config: sandboxConfig(`p${i}`) })), client.runtime('RunPodSandbox', { config: sandboxConfig('p0') })]);
  let polled = await lists.stop();
  t.deepEqual(polled.problems, []);
  const ok = runs.filter((r): r is PromiseFulfilledResult<{ pod_sandbox_id: string }> => r.status === 'fulfilled').map((r) => r.value.pod_sandbox_id);
  const failed = runs.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as grpc.ServiceError);
  t.is(ok.length, N, failed.map((e) => e.message).join('; '));
  t.deepEqual(
    failed.map((e) => e.code),
    [Code.ALREADY_EXISTS],
  );
  let sandboxes = (await client.runtime('ListPodSandbox', {})).items as Listed[];
  t.deepEqual(sandboxes.map((s) => s.id).sort(), [...ok].sort());
  t.deepEqual(
    byName(sandboxes),
    Array.from({ length: N }, (_, i) => [`p${i}`, 'SANDBOX_READY']),
  );
  const idOf = new Map(sandboxes.map((s) => [s.metadata.name, s.id]));
  const sandboxesAt = Date.now();

  // --- a container in each, created and started in parallel; a duplicate name in p0
  lists = poller(client, () => ({ sandboxes: N, containers: N }));
  const container = (name: string) => ({ metadata: { name: 'c', attempt: 0 }, image: { image }, command: ['sleep', '600'], labels: { of: name } });
  const creates = await Promise.allSettled([...[...idOf].map(([name, id]) => client.runtime('CreateContainer', { pod_sandbox_id: id, config: container(name) })), client.runtime('CreateContainer', { pod_sandbox_id: idOf.get('p0'), config: container('p0') })]);
  const cids = creates.filter((r): r is PromiseFulfilledResult<{ container_id: string }> => r.status === 'fulfilled').map((r) => r.value.container_id);
  t.is(cids.length, N);
  t.deepEqual(
    creates.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as grpc.ServiceError).code),
    [Code.ALREADY_EXISTS],
  );
  await Promise.all(cids.map((id) => client.runtime('StartContainer', { container_id: id })));
  polled = await lists.stop();
  t.deepEqual(polled.problems, []);
  t.true(polled.rounds > 0);
  const containers = (await client.runtime('ListContainers', {})).containers as Array<Listed & { pod_sandbox_id: string; labels: { of: string } }>;
  t.deepEqual(containers.map((c) => c.id).sort(), [...cids].sort());
  t.true(containers.every((c) => c.state === 'CONTAINER_RUNNING' && idOf.get(c.labels.of) === c.pod_sandbox_id));
  const containersAt = Date.now();

  // --- the server dies while one more sandbox starts; a new one takes over
  const snapshot = async (c: CriClient) => ({
    sandboxes: ((await c.runtime('ListPodSandbox', {})).items as Listed[]).map((s) => [s.id, s.state, s.metadata.name]).sort(),
    containers: ((await c.runtime('ListContainers', {})).containers as Listed[]).map((s) => [s.id, s.state]).sort(),
  });
  const before = await snapshot(client);
  const late = client.runtime('RunPodSandbox', { config: sandboxConfig('late') }).catch((e: grpc.ServiceError) => e);
  const sandboxRoot = join(cri.dataDir, 'cri', 'sandboxes');
  const lateDir = async () => {
    for (let i = 0; i < 1000; i++) {
      const d = readdirSync(sandboxRoot).find((id) => !ok.includes(id) && existsSync(join(sandboxRoot, id, 'uuid')));
      if (d) return d;
      await sleep(10);
    }
    throw new Error('the late sandbox never got a pod');
  };
  const lateId = await lateDir();
  cri.child.kill('SIGKILL');
  t.true((await late) instanceof Error);
  client.close();
  await cri.stop();
  cri = await startCri(t, [], cri);
  client = criClient(cri.socket);
  const after = await snapshot(client);
  t.deepEqual(after.containers, before.containers);
  t.deepEqual(
    after.sandboxes.filter((s) => s[0] !== lateId),
    before.sandboxes,
  );
  t.deepEqual(
    after.sandboxes.filter((s) => s[0] === lateId).map((s) => s[2]),
    ['late'],
  );
  t.is(((await client.runtime('RunPodSandbox', { config: sandboxConfig('late') }).catch((e: grpc.ServiceError) => e)) as grpc.ServiceError).code, Code.ALREADY_EXISTS);
  const uuids = await Promise.all([...ok, lateId].map(async (id) => JSON.parse((await client.runtime('PodSandboxStatus', { pod_sandbox_id: id, verbose: true })).info.info).podUuid as string));
  t.true(uuids.every((u) => /^[0-9a-f-]{36}$/.test(u)), uuids.join(' '));
  const restartAt = Date.now();

  // --- everything stopped and removed at once: stop and removal of each sandbox racing, a
  // container creation racing its sandbox's removal
  lists = poller(client, () => ({ sandboxes: N + 1, containers: N + 1 }));
  const racingCreate = client.runtime('CreateContainer', { pod_sandbox_id: idOf.get('p1'), config: { ...container('p1'), metadata: { name: 'racer', attempt: 0 } } }).then(
    () => 'created',
    (e: grpc.ServiceError) => e.code,
  );
  const ends = await Promise.allSettled([
    ...[...ok, lateId].flatMap((id) => [client.runtime('StopPodSandbox', { pod_sandbox_id: id }), client.runtime('RemovePodSandbox', { pod_sandbox_id: id })]),
    ...cids.map((id) => client.runtime('StopContainer', { container_id: id, timeout: 1 })),
  ]);
  polled = await lists.stop();
  t.deepEqual(polled.problems, []);
  // a StopPodSandbox or StopContainer that found its object removed is NOT_FOUND, nothing else fails
  t.deepEqual(
    ends.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as grpc.ServiceError).code).filter((c) => c !== Code.NOT_FOUND),
    [],
  );
  t.true(['created', Code.NOT_FOUND, Code.FAILED_PRECONDITION].includes((await racingCreate) as never), String(await racingCreate));
  t.deepEqual((await client.runtime('ListPodSandbox', {})).items, []);
  t.deepEqual((await client.runtime('ListContainers', {})).containers, []);
  t.deepEqual(readdirSync(sandboxRoot), []);
  t.deepEqual(readdirSync(join(cri.dataDir, 'cri', 'containers')), []);
  t.deepEqual(readdirSync(join(cri.dataDir, 'cri', 'tmp')), []);
  const removedAt = Date.now();

  client.close();
  await cri.stop();
  const rkt = rktOf(cri);
  t.is((await rkt('list', '--no-legend')).stdout.trim(), '', 'every pod was removed');
  await rkt('gc', '--grace-period=0s');
  t.deepEqual((await check()).filter((l) => uuids.some((u) => l.includes(u)) || l.includes(cri.dataDir)), []);
  t.log(
    `setup ${setup - started} ms, ${N} sandboxes ${sandboxesAt - setup} ms, containers ${containersAt - sandboxesAt} ms, restart ${restartAt - containersAt} ms, removal ${removedAt - restartAt} ms`,
  );
});
