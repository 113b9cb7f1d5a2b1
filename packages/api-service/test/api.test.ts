import test from 'ava';
import { createServer } from 'node:net';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { podDir } from '@rktnetes/common';
import { openStore } from '@rktnetes/store';
import { Readable } from 'node:stream';
import { busyboxImage, hasBusybox, tmpDir } from '@rktnetes/testkit';
import { apiClient, grpc, startService, type ServiceChild } from './helpers/server';
import { fakeKey, holdLocks, writePod, type WrittenPod } from './helpers/pods';

const Status = grpc.status;

interface World {
  data: string;
  svc: ServiceChild;
  pods: Record<string, WrittenPod>;
  images: { web: string; db: string; old: string };
}

let building: Promise<World> | undefined;

/** One data directory and service for the serial tests below (built once). */
function setUp(_t?: unknown): Promise<World> {
  building ??= build();
  return building;
}

async function build(): Promise<World> {
  const data = await tmpDir('api-grpc');
  const webId = await fakeKey('web-image');
  const pods = {
    embryo: await writePod(data, { state: 'embryo' }),
    preparing: await writePod(data, { state: 'prepare' }),
    aborted: await writePod(data, { state: 'prepare' }),
    prepared: await writePod(data, { state: 'prepared', apps: [{ name: 'db' }], annotations: [{ name: 'name', value: 'prep' }] }),
    running: await writePod(data, {
      state: 'run',
      apps: [{ name: 'web', imageId: webId.slice(0, 7 + 64) }, { name: 'side', exitCode: 2 }],
      annotations: [{ name: 'team', value: 'blue' }, { name: 'tier', value: 'front' }],
      networks: [{ netName: 'default', ip: '172.16.28.2' }, { netName: 'lan', ip: 'fd00::2' }],
      subcgroup: '/machine.slice/machine-rkt-x.scope',
    }),
    exited: await writePod(data, { state: 'run', apps: [{ name: 'web', exitCode: 0 }], annotations: [{ name: 'team', value: 'blue' }] }),
    exitedGarbage: await writePod(data, { state: 'exited-garbage', apps: [{ name: 'web', exitCode: 1 }] }),
    garbage: await writePod(data, { state: 'garbage' }),
  };
  const holder = await holdLocks(pods.preparing.path, pods.running.path);
  cleanup.push(() => holder.release(), () => rm(data, { recursive: true, force: true }));
  const images = { web: '', db: '', old: '' };
  if (hasBusybox()) {
    const store = openStore(data);
    images.old = (await store.importImage(Readable.from(await busyboxImage({ name: 'example.com/legacy/etcd-backup', labels: { version: '0.9' } })))).key;
    await new Promise((r) => setTimeout(r, 1100)); // distinct import seconds
    images.web = (await store.importImage(Readable.from(await busyboxImage({ name: 'example.com/web', labels: { version: '1.2' }, annotations: { owner: 'team-blue' } })))).key;
    images.db = (await store.importImage(Readable.from(await busyboxImage({ name: 'k8s.io/etcd', labels: { version: '3.5', arch: 'aarch64' } })))).key;
    store.close();
  }
  const svc = await startService(['--dir', data, '--listen', '127.0.0.1:0', '--listen', `unix:${join(data, 'api.sock')}`, '--local-config', '/etc/x']);
  cleanup.unshift(() => svc.stop());
  return { data, svc, pods, images };
}

const cleanup: Array<() => Promise<unknown>> = [];
test.after.always(async () => {
  for (const fn of cleanup) await fn();
});

const ids = (res: { pods: Array<{ id: string }> }) => res.pods.map((p) => p.id).sort();

test.serial('GetInfo reports versions and the flags the service was started with', async (t) => {
  const w = await setUp(t);
  t.deepEqual(w.svc.addresses.length, 2);
  const c = apiClient(w.svc.addresses[0]!);
  t.teardown(() => c.close());
  const { info } = await c.call('GetInfo');
  t.is(info.api_version, '1.0.0-alpha');
  t.is(info.appc_version, '0.8.11');
  t.regex(info.rkt_version, /^\d+\.\d+\.\d+/);
  t.is(info.global_flags.dir, w.data);
  t.is(info.global_flags.local_config_dir, '/etc/x');
  // the unix socket serves the same API
  const u = apiClient(`unix:${w.svc.addresses[1]}`);
  t.teardown(() => u.close());
  t.is((await u.call('GetInfo')).info.global_flags.dir, w.data);
});

test.serial('ListPods lists pods in every state with rkt state names', async (t) => {
  const w = await setUp(t);
  const c = apiClient(w.svc.addresses[0]!);
  t.teardown(() => c.close());
  const { pods } = await c.call('ListPods');
  const state = Object.fromEntries(pods.map((p: any) => [p.id, p.state]));
  t.is(pods.length, 8);
  t.is(state[w.pods.embryo!.uuid], 'POD_STATE_EMBRYO');
  t.is(state[w.pods.preparing!.uuid], 'POD_STATE_PREPARING');
  t.is(state[w.pods.aborted!.uuid], 'POD_STATE_ABORTED_PREPARE');
  t.is(state[w.pods.prepared!.uuid], 'POD_STATE_PREPARED');
  t.is(state[w.pods.running!.uuid], 'POD_STATE_RUNNING');
  t.is(state[w.pods.exited!.uuid], 'POD_STATE_EXITED');
  t.is(state[w.pods.exitedGarbage!.uuid], 'POD_STATE_GARBAGE');
  t.is(state[w.pods.garbage!.uuid], 'POD_STATE_GARBAGE');
  t.true(pods.every((p: any) => p.manifest.length === 0), 'no manifests without detail');
  const detailed = await c.call('ListPods', { detail: true });
  const running = detailed.pods.find((p: any) => p.id === w.pods.running!.uuid);
  t.is(JSON.parse(running.manifest.toString()).acKind, 'PodManifest');
  t.is(running.pid, 4242);
  t.is(running.cgroup, '/machine.slice/machine-rkt-x.scope');
  t.deepEqual(running.networks, [
    { name: 'default', ipv4: '172.16.28.2', ipv6: '' },
    { name: 'lan', ipv4: '', ipv6: 'fd00::2' },
  ]);
  t.true(BigInt(running.created_at) > 0n && BigInt(running.started_at) >= BigInt(running.created_at) - 1_000_000_000n);
  t.is(running.gc_marked_at, '0');
  t.deepEqual(running.apps.map((a: any) => [a.name, a.state, a.exit_code, a.image.name, a.image.version, a.image.base_format.type]), [
    ['web', 'APP_STATE_RUNNING', -1, 'example.com/web', '1.0.0', 'IMAGE_TYPE_APPC'],
    ['side', 'APP_STATE_RUNNING', 2, 'example.com/side', '1.0.0', 'IMAGE_TYPE_APPC'],
  ]);
  const eg = detailed.pods.find((p: any) => p.id === w.pods.exitedGarbage!.uuid);
  t.true(BigInt(eg.gc_marked_at) > 0n);
  t.deepEqual(eg.apps.map((a: any) => [a.state, a.exit_code]), [['APP_STATE_EXITED', 1]]);
  const embryo = detailed.pods.find((p: any) => p.id === w.pods.embryo!.uuid);
  t.deepEqual([embryo.pid, embryo.apps.length, embryo.created_at], [-1, 0, '0']);
});

test.serial('ListPods filters: each field, AND within a filter, OR across filters', async (t) => {
  const w = await setUp(t);
  const c = apiClient(w.svc.addresses[0]!);
  t.teardown(() => c.close());
  const P = w.pods;
  const list = async (...filters: object[]) => ids(await c.call('ListPods', { filters }));
  const sorted = (...pods: WrittenPod[]) => pods.map((p) => p.uuid).sort();
  t.deepEqual(await list({ ids: [P.running!.uuid, P.garbage!.uuid] }), sorted(P.running!, P.garbage!));
  t.deepEqual(await list({ states: ['POD_STATE_RUNNING', 'POD_STATE_PREPARED'] }), sorted(P.running!, P.prepared!));
  t.deepEqual(await list({ states: [8] }), sorted(P.exitedGarbage!, P.garbage!), 'numeric enum values work too');
  t.deepEqual(await list({ states: ['POD_STATE_EMBRYO'] }), sorted(P.embryo!));
  t.deepEqual(await list({ states: ['POD_STATE_PREPARING'] }), sorted(P.preparing!));
  t.deepEqual(await list({ states: ['POD_STATE_ABORTED_PREPARE'] }), sorted(P.aborted!));
  t.deepEqual(await list({ states: ['POD_STATE_EXITED'] }), sorted(P.exited!));
  t.deepEqual(await list({ app_names: ['web', 'side'] }), sorted(P.running!), 'all app names must match');
  t.deepEqual(await list({ app_names: ['web'] }), sorted(P.running!, P.exited!, P.exitedGarbage!));
  const webId = await fakeKey('web-image');
  t.deepEqual(await list({ image_ids: [webId] }), sorted(P.running!), 'a full key matches the 64-digit id in the manifest');
  t.deepEqual(await list({ network_names: ['default', 'lan'] }), sorted(P.running!));
  t.deepEqual(await list({ network_names: ['nope'] }), []);
  t.deepEqual(await list({ annotations: [{ Key: 'team', value: 'blue' }] }), sorted(P.running!, P.exited!));
  t.deepEqual(await list({ annotations: [{ Key: 'team', value: 'blue' }, { Key: 'tier', value: 'front' }] }), sorted(P.running!));
  t.deepEqual(await list({ cgroups: ['/machine.slice/machine-rkt-x.scope'] }), sorted(P.running!));
  t.deepEqual(await list({ pod_sub_cgroups: ['/machine.slice/machine-rkt-x.scope/system.slice/web.service'] }), sorted(P.running!));
  t.deepEqual(await list({ pod_sub_cgroups: ['/other.slice/x'] }), []);
  t.deepEqual(await list({ app_names: ['web'], states: ['POD_STATE_EXITED'] }), sorted(P.exited!), 'AND within a filter');
  t.deepEqual(await list({ states: ['POD_STATE_EMBRYO'] }, { app_names: ['db'] }), sorted(P.embryo!, P.prepared!), 'OR across filters');
});

test.serial('InspectPod returns one pod with its manifest; bad ids are INVALID_ARGUMENT or NOT_FOUND', async (t) => {
  const w = await setUp(t);
  const c = apiClient(w.svc.addresses[0]!);
  t.teardown(() => c.close());
  const { pod } = await c.call('InspectPod', { id: w.pods.prepared!.uuid });
  t.is(pod.state, 'POD_STATE_PREPARED');
  t.deepEqual(pod.annotations, [{ Key: 'name', value: 'prep' }]);
  t.is(JSON.parse(pod.manifest.toString()).apps[0].name, 'db');
  t.true(BigInt(pod.created_at) > 0n);
  t.is(pod.started_at, '0');
  t.is((await c.call('InspectPod', { id: w.pods.prepared!.uuid.slice(0, 13).toUpperCase() })).pod.id, w.pods.prepared!.uuid, 'prefix, any case');
  await t.throwsAsync(c.call('InspectPod', { id: '' }), { code: Status.INVALID_ARGUMENT } as never);
  await t.throwsAsync(c.call('InspectPod', { id: 'not a uuid!' }), { code: Status.INVALID_ARGUMENT } as never);
  await t.throwsAsync(c.call('InspectPod', { id: 'ffffffff-ffff' }), { code: Status.NOT_FOUND } as never);
  await t.throwsAsync(c.call('InspectPod', { id: '' }), { message: /pod id is required/ });
});

test.serial('ListImages and InspectImage over images imported with the store API', async (t) => {
  if (!hasBusybox()) return t.pass('busybox-static missing');
  const w = await setUp(t);
  const c = apiClient(w.svc.addresses[0]!);
  t.teardown(() => c.close());
  const { images } = await c.call('ListImages');
  t.deepEqual(images.map((i: any) => i.id), [w.images.old, w.images.web, w.images.db], 'oldest import first');
  const web = images.find((i: any) => i.id === w.images.web);
  t.is(web.name, 'example.com/web');
  t.is(web.version, '1.2');
  t.is(web.base_format.type, 'IMAGE_TYPE_APPC');
  t.deepEqual(web.annotations, [{ Key: 'owner', value: 'team-blue' }]);
  t.true(web.labels.some((l: any) => l.Key === 'version' && l.value === '1.2'));
  t.true(Number(web.size) > 100_000);
  t.is(web.manifest.length, 0);
  t.true(Number(web.import_timestamp) > 1_600_000_000);

  const list = async (...filters: object[]) => (await c.call('ListImages', { filters })).images.map((i: any) => i.name).sort();
  t.deepEqual(await list({ ids: [w.images.db.slice(0, 7 + 64)] }), ['k8s.io/etcd'], 'rkt-length keys match');
  t.deepEqual(await list({ prefixes: ['example.com/'] }), ['example.com/legacy/etcd-backup', 'example.com/web']);
  t.deepEqual(await list({ base_names: ['etcd'] }), ['k8s.io/etcd'], 'etcd-backup is not base name etcd');
  t.deepEqual(await list({ keywords: ['etcd'] }), ['example.com/legacy/etcd-backup', 'k8s.io/etcd']);
  t.deepEqual(await list({ labels: [{ Key: 'arch', value: 'aarch64' }, { Key: 'version', value: '3.5' }] }), ['k8s.io/etcd']);
  t.deepEqual(await list({ annotations: [{ Key: 'owner', value: 'team-blue' }] }), ['example.com/web']);
  t.deepEqual(await list({ full_names: ['example.com/web', 'k8s.io/etcd'] }), ['example.com/web', 'k8s.io/etcd']);
  const oldTs = Number(images[0].import_timestamp);
  t.deepEqual(await list({ imported_after: oldTs }), ['example.com/web', 'k8s.io/etcd']);
  t.deepEqual(await list({ imported_before: oldTs + 1 }), ['example.com/legacy/etcd-backup']);
  t.deepEqual(await list({ keywords: ['etcd'], prefixes: ['k8s.io/'] }, { full_names: ['example.com/web'] }), ['example.com/web', 'k8s.io/etcd']);

  const detailed = await c.call('ListImages', { detail: true, filters: [{ full_names: ['k8s.io/etcd'] }] });
  t.is(JSON.parse(detailed.images[0].manifest.toString()).name, 'k8s.io/etcd');

  const { image } = await c.call('InspectImage', { id: w.images.web });
  t.is(image.name, 'example.com/web');
  t.is(JSON.parse(image.manifest.toString()).acKind, 'ImageManifest');
  t.is((await c.call('InspectImage', { id: w.images.web.slice(0, 20) })).image.id, w.images.web, 'key prefixes resolve');
  await t.throwsAsync(c.call('InspectImage', { id: '' }), { code: Status.INVALID_ARGUMENT } as never);
  await t.throwsAsync(c.call('InspectImage', { id: 'example.com/web' }), { code: Status.INVALID_ARGUMENT } as never);
  await t.throwsAsync(c.call('InspectImage', { id: `sha512-${'0'.repeat(128)}` }), { code: Status.NOT_FOUND } as never);
  await t.throwsAsync(c.call('InspectImage', { id: 'sha512-' }), { code: Status.INVALID_ARGUMENT } as never);
  await t.throwsAsync(c.call('ListImages', { filters: [{ ids: ['xyz'] }] }), { code: Status.INVALID_ARGUMENT } as never);
});

test.serial('bad filters are INVALID_ARGUMENT', async (t) => {
  const w = await setUp(t);
  const c = apiClient(w.svc.addresses[0]!);
  t.teardown(() => c.close());
  await t.throwsAsync(c.call('ListPods', { filters: [{ states: [99] }] }), { code: Status.INVALID_ARGUMENT } as never);
  await t.throwsAsync(c.call('ListImages', { filters: [{ imported_after: -5 }] }), { code: Status.INVALID_ARGUMENT } as never);
});

test.serial('requests survive pod directories moved and removed while they run', async (t) => {
  const w = await setUp(t);
  const c = apiClient(w.svc.addresses[0]!);
  t.teardown(() => c.close());
  const churn: WrittenPod[] = [];
  for (let i = 0; i < 40; i++) churn.push(await writePod(w.data, { state: i % 2 ? 'run' : 'prepared', apps: [{ name: 'web', exitCode: 0 }] }));
  let stop = false;
  const mover = (async () => {
    for (const p of churn) {
      if (p.path.includes('/run/')) await rename(p.path, podDir(w.data, 'exited-garbage', p.uuid));
      else await rm(p.path, { recursive: true });
      await new Promise((r) => setImmediate(r));
    }
    stop = true;
  })();
  let calls = 0;
  while (!stop) {
    const res = await c.call('ListPods', { detail: true });
    t.true(res.pods.length >= 8);
    const target = churn[calls % churn.length]!;
    await c.call('InspectPod', { id: target.uuid }).catch((e: { code: number }) => t.is(e.code, Status.NOT_FOUND));
    calls++;
  }
  await mover;
  t.true(calls > 0);
  t.is((await c.call('ListPods')).pods.length, 8 + 20, 'the moved pods are still listed, the removed ones are not');
  for (const p of churn) await rm(podDir(w.data, 'exited-garbage', p.uuid), { recursive: true, force: true });
});

test('socket activation: the service serves a listening socket passed as fd 3 with LISTEN_FDS', async (t) => {
  const data = await tmpDir('api-activation', t);
  await writePod(data, { state: 'prepared' });
  const listener = createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  const port = (listener.address() as { port: number }).port;
  const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
  const svc = await startService(['--dir', data], { viaShell: true, env: { ...process.env, LISTEN_FDS: '1' }, stdio: ['ignore', 'ignore', 'pipe', fd] });
  t.teardown(() => svc.stop());
  listener.close(); // the child has its own copy
  const c = apiClient(`127.0.0.1:${port}`);
  t.teardown(() => c.close());
  t.is((await c.call('ListPods')).pods.length, 1);
  t.deepEqual(svc.addresses, [`127.0.0.1:${port}`]);
  t.notRegex(svc.stderr(), /15441/, 'the default address is not used');
});

test('the service refuses --listen together with systemd sockets, and bad addresses', async (t) => {
  await t.throwsAsync(startService(['--listen', 'nowhere']), { message: /exited with 254.*invalid listen address "nowhere"/s });
  const listener = createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => listener.close());
  const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
  await t.throwsAsync(startService(['--listen', '127.0.0.1:0'], { viaShell: true, env: { ...process.env, LISTEN_FDS: '1' }, stdio: ['ignore', 'ignore', 'pipe', fd] }), {
    message: /sockets from systemd \(LISTEN_FDS\) and --listen/,
  });
});
