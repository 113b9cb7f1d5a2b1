/**
 * Docker semantics of pods (src/pod/docker-image.ts, docker-volumes.ts) and overlay mount data
 * for layered images (src/pod/overlay.ts), without running pods.
 */
import test from 'ava';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePodManifest, type ImageManifest, type PodManifest } from '@rktnetes/schema';
import { openStore } from '@rktnetes/store';
import { realSys } from '@rktnetes/sys';
import { buildOciLayout, isRoot, runCommand, testIf, tmpDir, writeAci } from '@rktnetes/testkit';
import { convertedFromDocker, dockerEntrypoint, execWithArgs, implicitDockerVolumes, withImplicitVolumes } from '../src/pod/docker-image';
import { fillVolumeFromImage } from '../src/pod/docker-volumes';
import { fitLowerDirs, MAX_MOUNT_DATA, mountImageOverlay, overlayMountData, overlayOptions } from '../src/pod/overlay';
import { treesLowerDirs } from '../src/pod/trees';
import { rktEnv } from './registry-fixture';

const ID = `sha512-${'a'.repeat(128)}`;

function image(exec: string[] | undefined, annotations: Record<string, string> = {}, extra: Partial<NonNullable<ImageManifest['app']>> = {}): ImageManifest {
  return {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: 'registry-1.docker.io/library/app',
    app: { user: '0', group: '0', ...(exec ? { exec } : {}), ...extra },
    annotations: Object.entries(annotations).map(([name, value]) => ({ name, value })),
  } as ImageManifest;
}

const docker = (ep: string[] | undefined, cmd: string[] | undefined, extra: Partial<NonNullable<ImageManifest['app']>> = {}) =>
  image([...(ep ?? []), ...(cmd ?? [])], {
    ...(ep ? { 'appc.io/docker/entrypoint': JSON.stringify(ep) } : {}),
    ...(cmd ? { 'appc.io/docker/cmd': JSON.stringify(cmd) } : {}),
    'appc.io/docker/imageid': `sha256:${'b'.repeat(64)}`,
  }, extra);

test('arguments replace the Cmd of Docker images and are appended for other images', (t) => {
  const both = docker(['/entry', '-v'], ['default', 'args']);
  t.deepEqual(dockerEntrypoint(both), ['/entry', '-v']);
  t.deepEqual(execWithArgs(both, both.app?.exec, ['a', 'b']), ['/entry', '-v', 'a', 'b']);
  // only a Cmd (busybox's `sh`): the arguments are the whole command, as with docker run
  const cmdOnly = docker(undefined, ['sh']);
  t.deepEqual(dockerEntrypoint(cmdOnly), []);
  t.deepEqual(execWithArgs(cmdOnly, cmdOnly.app?.exec, ['echo', 'hi']), ['echo', 'hi']);
  // only an Entrypoint
  const epOnly = docker(['/entry'], undefined);
  t.deepEqual(execWithArgs(epOnly, epOnly.app?.exec, ['x']), ['/entry', 'x']);
  // no arguments: the image's command as it is
  t.deepEqual(execWithArgs(both, both.app?.exec, []), ['/entry', '-v', 'default', 'args']);
  // an ACI: rkt appends
  const aci = image(['/bin/app', '--flag']);
  t.is(dockerEntrypoint(aci), undefined);
  t.deepEqual(execWithArgs(aci, aci.app?.exec, ['x']), ['/bin/app', '--flag', 'x']);
  // annotations that no longer describe the exec (edited image), or are not JSON lists: rkt's rule
  const edited = docker(['/entry'], ['cmd'], { exec: ['/other'] });
  t.is(dockerEntrypoint(edited), undefined);
  t.deepEqual(execWithArgs(edited, edited.app?.exec, ['x']), ['/other', 'x']);
  const bad = image(['/e'], { 'appc.io/docker/entrypoint': '"/e"' });
  t.is(dockerEntrypoint(bad), undefined);
});

test('Docker-converted images: layered images, and ACIs with docker2aci annotations', (t) => {
  t.true(convertedFromDocker(image(['/x']), true));
  t.false(convertedFromDocker(image(['/x']), false));
  t.true(convertedFromDocker(image(['/x'], { 'appc.io/docker/repository': 'library/x' }), false));
  t.true(convertedFromDocker(docker(['/x'], undefined), false));
});

function pod(apps: Array<{ name: string; mounts?: Array<{ volume: string; path: string }> }>, volumes: PodManifest['volumes'] = []): PodManifest {
  return parsePodManifest({
    acKind: 'PodManifest',
    acVersion: '0.8.11',
    apps: apps.map((a) => ({ name: a.name, image: { id: ID }, ...(a.mounts ? { mounts: a.mounts } : {}) })),
    ...(volumes.length ? { volumes } : {}),
  });
}

test('implicit volumes: one per uncovered mount point, named after it unless another app has it too', (t) => {
  const mps = [
    { name: 'volume-data', path: '/data' },
    { name: 'volume-cache', path: '/cache' },
    { name: 'volume-logs', path: '/logs' },
    { name: 'volume-etc', path: '/etc/app' },
  ];
  const img = docker(['/x'], undefined, { mountPoints: mps });
  const other = docker(['/y'], undefined, { mountPoints: [{ name: 'volume-data', path: '/data' }] });
  const aci = image(['/z'], {}, { mountPoints: [{ name: 'volume-data', path: '/data' }] });
  const m = pod(
    [
      // /cache mounted by path, /logs by volume name
      { name: 'one', mounts: [{ volume: 'mine', path: '/cache' }, { volume: 'volume-logs', path: '/elsewhere' }] },
      { name: 'two' },
      { name: 'plain' },
    ],
    [
      { name: 'mine', kind: 'empty' },
      { name: 'volume-logs', kind: 'empty' },
      { name: 'volume-etc', kind: 'host', source: '/srv' },
    ],
  );
  const dockerApps = new Map([
    ['one', img],
    ['two', other],
  ]);
  // `plain` is an ACI: no implicit volumes for it (stage1 handles its mount points), but it has
  // volume-data too, so the Docker apps' volumes get app-specific names
  const pm = { ...m, apps: m.apps.map((a) => (a.name === 'plain' ? { ...a, app: aci.app } : a)) } as PodManifest;
  const got = implicitDockerVolumes(pm, dockerApps);
  t.deepEqual(
    got.map((v) => [v.app, v.name, v.path]),
    [
      ['one', 'one-volume-data', '/data'],
      ['two', 'two-volume-data', '/data'],
    ],
  );
  // a single app: the mount point's own name (fly matches mount points by name)
  const single = implicitDockerVolumes(pod([{ name: 'one' }]), new Map([['one', img]]));
  t.deepEqual(
    single.map((v) => v.name),
    ['volume-data', 'volume-cache', 'volume-logs', 'volume-etc'],
  );
  const added = withImplicitVolumes(pod([{ name: 'one' }]), single.slice(0, 1).map((v) => ({ ...v, mode: '0750', uid: 5, gid: 6 })));
  t.deepEqual(added.volumes, [{ name: 'volume-data', kind: 'empty', mode: '0750', uid: 5, gid: 6 }]);
  t.deepEqual(added.apps[0]?.mounts, [{ volume: 'volume-data', path: '/data' }]);
  t.is(withImplicitVolumes(m, []), m);
});

test('overlay mount data: lower dirs uppermost first, escaped; relative names when absolute ones are too long', (t) => {
  t.is(overlayOptions(['/a:b', '/c,d'], '/u', '/w'), 'lowerdir=/a\\:b:/c\\,d,upperdir=/u,workdir=/w');
  t.is(overlayOptions('/r', '/u', '/w'), 'lowerdir=/r,upperdir=/u,workdir=/w');
  t.deepEqual(overlayMountData(['/x/l1', '/x/l2'], '/u', '/w'), { data: 'lowerdir=/x/l1:/x/l2,upperdir=/u,workdir=/w' });
  const parent = `/var/lib/rkt/cas/layer`;
  const many = Array.from({ length: 55 }, (_, i) => `${parent}/${i.toString(16).padStart(64, '0')}`);
  const fitted = overlayMountData(many, '/u', '/w');
  t.is(fitted.cwd, parent);
  t.true(fitted.data.startsWith(`lowerdir=${'0'.repeat(64)}:`));
  t.true(fitted.data.length <= MAX_MOUNT_DATA);
  const tooMany = Array.from({ length: 70 }, (_, i) => `${parent}/${i.toString(16).padStart(64, '0')}`);
  t.throws(() => fitLowerDirs(tooMany, (l) => l.join(':')), { message: /70 layers/ });
});

const rtest = testIf(test, isRoot(), 'needs root (mounts, ownership)');

rtest('a volume is filled from a directory root: content, owner and mode of the image directory', async (t) => {
  const dir = await tmpDir('fill-dir', t);
  const root = join(dir, 'root');
  mkdirSync(join(root, 'var/lib/db/sub'), { recursive: true });
  writeFileSync(join(root, 'var/lib/db/seed'), 'seed');
  symlinkSync('seed', join(root, 'var/lib/db/link'));
  chownSync(join(root, 'var/lib/db'), 1000, 1001);
  chmodSync(join(root, 'var/lib/db'), 0o750);
  symlinkSync('/etc', join(root, 'escape'));
  writeFileSync(join(root, 'file'), 'x');
  const dest = join(dir, 'sharedVolumes', 'v');
  const res = await fillVolumeFromImage({ dir: root }, '/var/lib/db', dest, join(dir, 'tmp'));
  t.deepEqual(res, { kind: 'copied', mode: '0750', uid: 1000, gid: 1001 });
  t.is(readFileSync(join(dest, 'seed'), 'utf8'), 'seed');
  t.true(lstatSync(join(dest, 'link')).isSymbolicLink());
  t.true(lstatSync(join(dest, 'sub')).isDirectory());
  t.is(lstatSync(dest).mode & 0o7777, 0o750);
  t.is(lstatSync(dest).uid, 1000);
  // absent: an empty volume; through a symlink or onto a file: nothing copied
  t.deepEqual(await fillVolumeFromImage({ dir: root }, '/nope/x', join(dir, 'sharedVolumes', 'a'), join(dir, 'tmp')), { kind: 'absent' });
  t.deepEqual(await fillVolumeFromImage({ dir: root }, '/escape/ssl', join(dir, 'sharedVolumes', 'b'), join(dir, 'tmp')), { kind: 'not-a-directory' });
  t.deepEqual(await fillVolumeFromImage({ dir: root }, '/file', join(dir, 'sharedVolumes', 'c'), join(dir, 'tmp')), { kind: 'not-a-directory' });
  t.deepEqual(readdirSync(join(dir, 'sharedVolumes', 'b')), []);
});

rtest('a volume is filled from the merged view of layers: whiteouts and opaque dirs applied, nothing left mounted', async (t) => {
  const dir = await tmpDir('fill-layers', t);
  const bottom = join(dir, 'layers', 'l0');
  const top = join(dir, 'layers', 'l1');
  mkdirSync(join(bottom, 'data/old'), { recursive: true });
  writeFileSync(join(bottom, 'data/keep'), 'keep');
  writeFileSync(join(bottom, 'data/gone'), 'gone');
  writeFileSync(join(bottom, 'data/old/inner'), 'inner');
  mkdirSync(join(top, 'data/old'), { recursive: true });
  // a whiteout: the character device 0:0
  t.is((await runCommand('mknod', [join(top, 'data/gone'), 'c', '0', '0'])).code, 0);
  writeFileSync(join(top, 'data/new'), 'new');
  // opaque directory: the bottom layer's content of data/old is hidden
  const r = await runCommand('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(top, 'data/old')]).catch(() => undefined);
  const opaque = r?.code === 0;
  const dest = join(dir, 'vol');
  const res = await fillVolumeFromImage({ lowerDirs: [top, bottom] }, '/data', dest, join(dir, 'tmp'));
  t.is(res.kind, 'copied');
  t.deepEqual(readdirSync(dest).sort(), ['keep', 'new', 'old']);
  if (opaque) t.deepEqual(readdirSync(join(dest, 'old')), []);
  t.false(readFileSync('/proc/self/mountinfo', 'utf8').includes(dir));
  t.deepEqual(readdirSync(join(dir, 'tmp')), [], 'the scratch mount point is removed');
  // a single layer (a read-only overlay needs two lower dirs): whiteouts that hide nothing vanish
  const single = join(dir, 'vol1');
  t.is((await fillVolumeFromImage({ lowerDirs: [top] }, '/data', single, join(dir, 'tmp'))).kind, 'copied');
  t.deepEqual(readdirSync(single).sort(), ['new', 'old']);
  t.false(existsSync(join(single, 'gone')));
});

test('the lower dirs of a pod tree: the rootfs of an ACI tree, the layers of a layered one', async (t) => {
  const dir = await tmpDir('trees', t);
  const rkt = await rktEnv(t);
  const aci = join(dir, 'a.aci');
  await writeAci(aci, { manifest: { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/a', labels: [{ name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }] }, files: { f: 'a' } });
  const layout = join(dir, 'layout');
  await buildOciLayout(layout, { layers: [{ a: 'a' }, { b: 'b' }, {}], ref: 'v1' });
  t.is((await rkt.run('--insecure-options=image', 'fetch', aci)).code, 0);
  t.is((await rkt.run('--insecure-options=image', 'fetch', `oci:${layout}:v1`)).code, 0);
  const s = openStore(rkt.dir);
  let aciTree: string;
  let ociTree: string;
  let layers: string[];
  try {
    const [a, o] = s.listImages().sort((x, y) => x.format.localeCompare(y.format));
    aciTree = (await s.render(a!.key)).treeStoreID;
    const r = await s.render(o!.key);
    ociTree = r.treeStoreID;
    layers = s.imageLayers(o!.key).map((l) => l.path);
  } finally {
    s.close();
  }
  const got = await treesLowerDirs(rkt.dir, [aciTree, ociTree]);
  t.deepEqual(got.get(aciTree), [join(rkt.dir, 'cas', 'tree', aciTree, 'rootfs')]);
  // uppermost first; the empty top layer is left out
  t.deepEqual(got.get(ociTree), layers.filter((p) => readdirSync(p).length > 0));
  t.is(got.get(ociTree)?.length, 2);
  await t.throwsAsync(treesLowerDirs(rkt.dir, ['../../etc']), { message: /invalid tree store id/ });
  await t.throwsAsync(treesLowerDirs(rkt.dir, [`deps-sha512-${'0'.repeat(64)}`]), { message: /is no longer in the store/ });
});

rtest('an overlay of many layers is mounted with lower dirs relative to their parent', async (t) => {
  const dir = await tmpDir('many-layers', t);
  const parent = join(dir, 'cas', 'layer');
  const lowerDirs = Array.from({ length: 55 }, (_, i) => join(parent, i.toString(16).padStart(64, '0')));
  lowerDirs.forEach((d, i) => {
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, `f${i}`), String(i));
  });
  t.true(overlayOptions(lowerDirs, '/u', '/w').length > MAX_MOUNT_DATA);
  const pod = join(dir, 'pod');
  const treeStoreId = `deps-sha512-${'1'.repeat(64)}`;
  const cwd = process.cwd();
  const target = mountImageOverlay(realSys(), pod, { lowerDirs, treeStoreId, dest: join(pod, 'app'), app: 'app' });
  try {
    t.is(process.cwd(), cwd, 'the working directory is restored');
    t.is(readdirSync(target).length, 55);
    t.is(readFileSync(join(target, 'f0'), 'utf8'), '0');
  } finally {
    realSys().umount2(target, 0);
  }
});
