/**
 * The CRI server's records outlive it, and so do its pods: a server stopped while a pod runs,
 * and a new one started over the same data dir, sees the same sandbox and container (ready,
 * running), can exec into it and removes it. As root, with the real rkt and stage1-coreos.
 */
import test from 'ava';
import { busyboxTree, hasBusybox, hasTool, isRoot, leakCheck } from '@rktnetes/testkit';
import { bundlesPresent, criClient, pushImage, rktOf, startCri, startRegistry } from './cri-fixture';

const enabled = isRoot() && hasBusybox() && bundlesPresent() && hasTool('docker-registry') && hasTool('skopeo');
const it = enabled ? test : test.skip;

it('a new server over the same data dir takes over the running pods', async (t) => {
  t.timeout(300_000);
  const check = await leakCheck({ cgroupRoots: ['/sys/fs/cgroup'] });
  const registry = await startRegistry(t);
  await pushImage(t, registry, ['restart/busybox:1'], { layers: [busyboxTree()], config: { Env: ['PATH=/bin'], Cmd: ['sh'] } });
  const image = `${registry.host}/restart/busybox:1`;

  const first = await startCri(t);
  let client = criClient(first.socket);
  await client.image('PullImage', { image: { image } });
  const { pod_sandbox_id: sb } = await client.runtime('RunPodSandbox', { config: { metadata: { name: 'keep', namespace: 'default', uid: 'k', attempt: 0 }, labels: { a: 'b' } } });
  const uuid = JSON.parse((await client.runtime('PodSandboxStatus', { pod_sandbox_id: sb, verbose: true })).info.info).podUuid as string;
  const { container_id: cid } = await client.runtime('CreateContainer', { pod_sandbox_id: sb, config: { metadata: { name: 'c' }, image: { image }, command: ['sleep', '600'] } });
  await client.runtime('StartContainer', { container_id: cid });
  client.close();
  await first.stop();

  const second = await startCri(t, [], first);
  client = criClient(second.socket);
  t.teardown(() => client.close());
  const { items } = await client.runtime('ListPodSandbox', {});
  t.deepEqual(
    items.map((i: { id: string; state: string; labels: object }) => [i.id, i.state, i.labels]),
    [[sb, 'SANDBOX_READY', { a: 'b' }]],
  );
  t.is((await client.runtime('ContainerStatus', { container_id: cid })).status.state, 'CONTAINER_RUNNING');
  const ex = await client.runtime('ExecSync', { container_id: cid, cmd: ['echo', 'still here'], timeout: 20 });
  t.is(ex.stdout.toString(), 'still here\n');
  await client.runtime('RemovePodSandbox', { pod_sandbox_id: sb });
  t.deepEqual((await client.runtime('ListContainers', {})).containers, []);
  await second.stop();
  const rkt = rktOf(second);
  await rkt('gc', '--grace-period=0s');
  t.is((await rkt('list', '--no-legend')).stdout.trim(), '');
  t.deepEqual((await check()).filter((l) => l.includes(uuid) || l.includes(second.dataDir)), []);
});
