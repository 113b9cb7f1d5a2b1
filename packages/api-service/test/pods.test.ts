import test from 'ava';
import { mkdir, rename, rm, writeFile, utimes } from 'node:fs/promises';
import { podDir, podManifestPath, overlayPreparedPath, stage1TreeStoreIdPath, overlayUpperDir, appStatusPathIn } from '@rktnetes/common';
import { recordingSys } from '@rktnetes/sys';
import { tmpDir } from '@rktnetes/testkit';
import { PodView, createLockProbe, podMessage } from '@rktnetes/api-service';
import { holdLocks, writePod } from './helpers/pods';

test('PodView reads pods in every state, with locks probed like rkt', async (t) => {
  const data = await tmpDir('api-pods', t);
  const embryo = await writePod(data, { state: 'embryo' });
  const preparing = await writePod(data, { state: 'prepare' });
  const aborted = await writePod(data, { state: 'prepare' });
  const prepared = await writePod(data, { state: 'prepared', createdAt: new Date('2024-01-02T03:04:05Z') });
  const running = await writePod(data, {
    state: 'run',
    apps: [{ name: 'web' }, { name: 'side', exitCode: 3 }],
    networks: [{ netName: 'default', ip: '172.16.28.2' }],
    subcgroup: 'machine.slice/machine-rkt.scope',
    pid: 1234,
  });
  const exited = await writePod(data, { state: 'run', apps: [{ name: 'web', exitCode: 0 }], networks: [{ netName: 'default', ip: '172.16.28.3' }] });
  const exitedGarbage = await writePod(data, { state: 'exited-garbage', apps: [{ name: 'web', exitCode: 1 }] });
  const garbage = await writePod(data, { state: 'garbage' });
  const holder = await holdLocks(preparing.path, running.path);
  t.teardown(() => holder.release());

  const view = new PodView(data);
  const pods = await view.list();
  const byId = new Map(pods.map((p) => [p.uuid, p]));
  t.is(pods.length, 8);
  t.is(byId.get(embryo.uuid)?.state, 'embryo');
  t.is(byId.get(preparing.uuid)?.state, 'preparing');
  t.is(byId.get(aborted.uuid)?.state, 'aborted prepare');
  t.is(byId.get(prepared.uuid)?.state, 'prepared');
  t.is(byId.get(running.uuid)?.state, 'running');
  t.is(byId.get(exited.uuid)?.state, 'exited');
  t.is(byId.get(exitedGarbage.uuid)?.state, 'exited garbage');
  t.is(byId.get(garbage.uuid)?.state, 'garbage');

  const p = byId.get(prepared.uuid)!;
  t.is(p.createdAt, BigInt(Date.parse('2024-01-02T03:04:05Z')) * 1_000_000n);
  t.is(p.startedAt, undefined);
  t.is(p.pid, undefined);

  const r = byId.get(running.uuid)!;
  t.is(r.pid, 1234);
  t.is(r.cgroup, '/machine.slice/machine-rkt.scope');
  t.deepEqual(r.networks.map((n) => n.ip), ['172.16.28.2']);
  t.deepEqual(r.apps.map((a) => [a.name, a.exitCode, a.imageName, a.imageVersion]), [
    ['web', undefined, 'example.com/web', '1.0.0'],
    ['side', 3, 'example.com/side', '1.0.0'],
  ]);
  const msg = podMessage(r, false);
  t.is(msg.state, 'POD_STATE_RUNNING');
  t.deepEqual(msg.apps.map((a) => [a.state, a.exit_code]), [
    ['APP_STATE_RUNNING', -1],
    ['APP_STATE_RUNNING', 3],
  ]);
  t.is(msg.manifest.length, 0);
  t.true(podMessage(r, true).manifest.length > 0);
  t.is(podMessage(byId.get(exitedGarbage.uuid)!, false).state, 'POD_STATE_GARBAGE');
  t.true(byId.get(exitedGarbage.uuid)!.gcMarkedAt! > 0n);
  t.is(podMessage(byId.get(embryo.uuid)!, false).pid, -1);

  await holder.release();
  t.is((await view.get(running.uuid)).state, 'exited', 'the lock is gone once the holder dies');
  t.is((await view.get(running.uuid.slice(0, 8))).uuid, running.uuid, 'unique prefixes resolve');
  await t.throwsAsync(view.get('ffffffff'), { code: 'pod.not-found' } as never);
});

test('PodView caches manifests and notices a replaced manifest', async (t) => {
  const data = await tmpDir('api-pods', t);
  const pod = await writePod(data, { state: 'prepared', apps: [{ name: 'one' }] });
  const view = new PodView(data);
  t.deepEqual((await view.get(pod.uuid)).apps.map((a) => a.name), ['one']);
  const other = await writePod(data, { state: 'prepared', apps: [{ name: 'one' }, { name: 'two' }] });
  // app add: the manifest is replaced atomically (new inode)
  await rename(podManifestPath(other.path), podManifestPath(pod.path) + '.new');
  await rename(podManifestPath(pod.path) + '.new', podManifestPath(pod.path));
  t.deepEqual((await view.get(pod.uuid)).apps.map((a) => a.name), ['one', 'two']);
});

test('PodView follows a pod renamed while being read and skips one removed', async (t) => {
  const data = await tmpDir('api-pods', t);
  const pod = await writePod(data, { state: 'run', apps: [{ name: 'web', exitCode: 0 }] });
  const gone = await writePod(data, { state: 'run' });
  let calls = 0;
  const real = createLockProbe();
  const view = new PodView(data, {
    probe: (path) => {
      calls++;
      if (path === pod.path) {
        // gc marks the pod as the probe runs
        return 'gone';
      }
      return real(path);
    },
  });
  await rename(pod.path, podDir(data, 'exited-garbage', pod.uuid));
  await rm(gone.path, { recursive: true });
  const rec = view.read({ uuid: pod.uuid, state: 'run', path: pod.path });
  t.is(rec?.dir, 'exited-garbage');
  t.is(rec?.state, 'exited garbage');
  t.is(view.read({ uuid: gone.uuid, state: 'run', path: gone.path }), undefined);
  t.true(calls >= 2);
});

test('overlay pods: statuses are read from the overlay upper dir', async (t) => {
  const data = await tmpDir('api-pods', t);
  const pod = await writePod(data, { state: 'run', apps: [{ name: 'web' }] });
  const tree = 'deps-sha512-' + 'a'.repeat(64);
  await writeFile(overlayPreparedPath(pod.path), '');
  await writeFile(stage1TreeStoreIdPath(pod.path), tree);
  const upper = overlayUpperDir(pod.path, tree);
  await mkdir(appStatusPathIn(upper, 'web').replace(/\/web$/, ''), { recursive: true });
  await writeFile(appStatusPathIn(upper, 'web'), '7\n');
  const old = new Date(Date.now() - 5000);
  await utimes(appStatusPathIn(upper, 'web'), old, old);
  const rec = await new PodView(data).get(pod.uuid);
  t.is(rec.stage1Root, upper);
  t.is(rec.apps[0]!.exitCode, 7);
  t.true(Math.abs(Number(rec.apps[0]!.exitedAt! / 1_000_000n) - old.getTime()) <= 1);
});

test('the lock probe takes a shared non-blocking lock and releases it at once', (t) => {
  const closed: number[] = [];
  const locked = recordingSys({ openDirFd: 9, flock: false });
  t.is(createLockProbe(locked, (fd) => closed.push(fd))('/pod'), 'locked');
  t.deepEqual(locked.callsOf('flock'), [[9, 'sh', { nonBlocking: true }]]);
  const free = recordingSys({ openDirFd: 10, flock: true });
  t.is(createLockProbe(free, (fd) => closed.push(fd))('/pod'), 'free');
  t.deepEqual(free.callsOf('flock'), [
    [10, 'sh', { nonBlocking: true }],
    [10, 'un'],
  ]);
  t.deepEqual(closed, [9, 10]);
  const gone = recordingSys({ openDirFd: Object.assign(new Error('no'), { code: 'ENOENT' }) });
  t.is(createLockProbe(gone, (fd) => closed.push(fd))('/pod'), 'gone');
});
