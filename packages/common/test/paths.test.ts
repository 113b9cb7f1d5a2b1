import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import * as c from '@rktnetes/common';

const data = '/var/lib/rkt';
const uuid = '076292e6-54c4-4cc8-9fa7-679c5f7dcfd3';
const pod = c.podDir(data, 'run', uuid);

test('data dir layout', (t) => {
  t.is(c.casDir(data), '/var/lib/rkt/cas');
  t.is(c.locksDir(data), '/var/lib/rkt/locks');
  t.is(c.prepareLockPath(data), '/var/lib/rkt/locks/prepareLock');
  t.is(c.tmpDir(data), '/var/lib/rkt/tmp');
  t.is(c.podsRoot(data), '/var/lib/rkt/pods');
  for (const s of c.POD_DIR_STATES) t.is(c.podsDir(data, s), `/var/lib/rkt/pods/${s}`);
  t.is(pod, `/var/lib/rkt/pods/run/${uuid}`);
  t.is(c.podDir(data, 'exited-garbage', uuid), `/var/lib/rkt/pods/exited-garbage/${uuid}`);
});

test('files in the pod directory', (t) => {
  const rel = (p: string) => p.slice(pod.length + 1);
  t.is(rel(c.podManifestPath(pod)), 'pod');
  t.is(rel(c.podCreatedPath(pod)), 'pod-created');
  t.is(rel(c.podManifestLockPath(pod)), 'pod.lck');
  t.is(rel(c.podPidPath(pod)), 'pid');
  t.is(rel(c.podPpidPath(pod)), 'ppid');
  t.is(rel(c.subcgroupPath(pod)), 'subcgroup');
  t.is(rel(c.netInfoPath(pod)), 'net-info.json');
  t.is(rel(c.netnsPath(pod)), 'netns');
  t.is(rel(c.runtimeConfigPath(pod)), 'runtime-config');
  t.is(rel(c.stage1TreeStoreIdPath(pod)), 'stage1TreeStoreID');
  t.is(rel(c.overlayPreparedPath(pod)), 'overlay-prepared');
  t.is(rel(c.privateUsersPreparedPath(pod)), 'private-users-prepared');
  t.is(rel(c.sharedVolumesPath(pod)), 'sharedVolumes');
  t.is(rel(c.sharedVolumePath(pod, 'data')), 'sharedVolumes/data');
  t.is(rel(c.stage1ImagePath(pod)), 'stage1');
  t.is(rel(c.stage1RootfsPath(pod)), 'stage1/rootfs');
  t.is(rel(c.stage1ManifestPath(pod)), 'stage1/manifest');
  t.is(rel(c.appsInfoDir(pod)), 'appsinfo');
  t.is(rel(c.appInfoDir(pod, 'redis')), 'appsinfo/redis');
  t.is(rel(c.appInfoManifestPath(pod, 'redis')), 'appsinfo/redis/manifest');
  t.is(rel(c.appTreeStoreIdPath(pod, 'redis')), 'appsinfo/redis/treeStoreID');
});

test('overlay dirs', (t) => {
  const rel = (p: string) => p.slice(pod.length + 1);
  const id = 'deps-sha512-abc';
  t.is(rel(c.overlayDir(pod)), 'overlay');
  t.is(rel(c.overlayImageDir(pod, id)), `overlay/${id}`);
  t.is(rel(c.overlayUpperDir(pod, id)), `overlay/${id}/upper`);
  t.is(rel(c.overlayWorkDir(pod, id)), `overlay/${id}/work`);
  t.is(rel(c.overlayUpperDir(pod, id, 'redis')), `overlay/${id}/upper/redis`);
  t.is(rel(c.overlayWorkDir(pod, id, 'redis')), `overlay/${id}/work/redis`);
  t.is(rel(c.effectiveStage1RootfsPath(pod)), 'stage1/rootfs');
  t.is(rel(c.effectiveStage1RootfsPath(pod, id)), `overlay/${id}/upper`);
});

test('apps inside the stage1 rootfs', (t) => {
  const rel = (p: string) => p.slice(pod.length + 1);
  t.is(rel(c.appsDir(pod)), 'stage1/rootfs/opt/stage2');
  t.is(rel(c.appDir(pod, 'redis')), 'stage1/rootfs/opt/stage2/redis');
  t.is(rel(c.appRootfsPath(pod, 'redis')), 'stage1/rootfs/opt/stage2/redis/rootfs');
  t.is(rel(c.appImageManifestPath(pod, 'redis')), 'stage1/rootfs/opt/stage2/redis/manifest');
  t.is(rel(c.appsStatusDir(pod)), 'stage1/rootfs/rkt/status');
  t.is(rel(c.appStatusPath(pod, 'redis')), 'stage1/rootfs/rkt/status/redis');
  t.is(rel(c.appCreatedPath(pod, 'redis')), 'stage1/rootfs/rkt/status/redis-created');
  t.is(rel(c.appStartedPath(pod, 'redis')), 'stage1/rootfs/rkt/status/redis-started');
  t.is(rel(c.appsEnvDir(pod)), 'stage1/rootfs/rkt/env');
  t.is(rel(c.appEnvPath(pod, 'redis')), 'stage1/rootfs/rkt/env/redis');
  t.is(rel(c.ioMuxDir(pod, 'redis')), 'stage1/rootfs/rkt/iottymux/redis');
  t.is(rel(c.supervisorStatusPath(pod)), 'stage1/rootfs/rkt/supervisor-status');
  t.is(c.appStatusPathIn('/s1', 'redis'), '/s1/rkt/status/redis');
  t.is(c.appEnvPathIn('/s1', 'redis'), '/s1/rkt/env/redis');
  t.is(c.resolvConfPathIn('/s1'), '/s1/etc/rkt-resolv.conf');
  t.is(c.hostsPathIn('/s1'), '/s1/etc/rkt-hosts');
  t.is(c.hostsFallbackPathIn('/s1'), '/s1/etc/hosts-fallback');
});

test('paths relative to the stage1 root', (t) => {
  t.is(c.relAppDir('redis'), '/opt/stage2/redis');
  t.is(c.relAppRootfsPath('redis'), '/opt/stage2/redis/rootfs');
  t.is(c.relAppEnvPath('redis'), '/rkt/env/redis');
  t.is(c.relAppStatusPath('redis'), '/rkt/status/redis');
});

test('names that would escape their directory are rejected', (t) => {
  for (const bad of ['', '.', '..', 'a/b', '../x', 'a\0b']) {
    const e = t.throws(() => c.appRootfsPath(pod, bad), undefined, JSON.stringify(bad));
    t.true(hasCode(e, 'path.invalid-component'));
  }
  t.throws(() => c.podDir(data, 'run', '../../etc'));
  t.throws(() => c.overlayImageDir(pod, '..'));
  t.notThrows(() => c.appRootfsPath(pod, 'ok-name'));
});
