import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { getAnnotation, getLabel } from '@rktnetes/schema';
import { isRoot, readTar, canCompress } from '@rktnetes/testkit';
import { openStore, type Store } from '@rktnetes/store';
import { tempDir } from './helpers';
import { layeredSource, listTree, mountOverlay, sha256, type TestLayer } from './oci-helpers';

/** Three layers: a base, one deleting and replacing things, one making a dir opaque. */
const STACK: TestLayer[] = [
  {
    files: {
      'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n',
      'etc/group': 'root:x:0:\napp:x:1000:\nstaff:x:50:app\naudio:x:29:app,other\n',
      'bin/tool': { type: 'file', content: 'tool v1', mode: 0o755 },
      'bin/tool-link': { type: 'hardlink', target: 'bin/tool' },
      'data/keep': 'keep',
      'data/gone': 'gone',
      'data/sub/deep': 'deep',
      'cache/a': 'old a',
      'cache/b': 'old b',
      'lib': { type: 'symlink', target: 'usr/lib' },
      'usr/lib/libc.so': 'libc',
      'secret': { type: 'file', content: 'setuid', mode: 0o4750, uid: 12, gid: 34 },
    },
  },
  {
    compression: 'zstd',
    files: {
      'data/gone': { type: 'whiteout' },
      'data/sub': { type: 'whiteout' },
      'bin/tool': { type: 'file', content: 'tool v2', mode: 0o755 },
      'new/file': 'new',
    },
  },
  {
    compression: 'none',
    files: {
      cache: { type: 'opaque' },
      'cache/c': 'new c',
      'hl/one': 'same',
      'hl/two': { type: 'hardlink', target: 'hl/one' },
      'data/sub/again': 'again',
    },
  },
];

const EXPECTED_VIEW = [
  'bin/ d 755 0:0',
  'bin/tool f 755 0:0 "tool v2"',
  'bin/tool-link f 755 0:0 "tool v1"',
  'cache/ d 755 0:0',
  'cache/c f 644 0:0 "new c"',
  'data/ d 755 0:0',
  'data/keep f 644 0:0 "keep"',
  'data/sub/ d 755 0:0',
  'data/sub/again f 644 0:0 "again"',
  'etc/ d 755 0:0',
];

function open(t: { teardown(fn: () => void): void }, dir: string): Store {
  const store = openStore(dir);
  t.teardown(() => store.close());
  return store;
}

const zstd = canCompress('zstd');

test('imports a layered image: layers extracted once, whiteouts in overlayfs form, manifest converted', async (t) => {
  if (!zstd) return t.pass('zstd missing');
  const store = open(t, tempDir(t));
  const src = await layeredSource(STACK, {
    tag: '1.0',
    config: {
      Entrypoint: ['/bin/tool'],
      Cmd: ['--serve'],
      Env: ['PATH=/usr/bin:/bin', 'LANG=C.UTF-8', 'NOEQUALS'],
      User: 'app',
      WorkingDir: '/data',
      ExposedPorts: ['80/tcp', '53/udp', '8000-8002/tcp'],
      Volumes: ['/var/lib/db', '/data'],
      Labels: { 'org.opencontainers.image.source': 'https://example.com/src', Maintainer: 'someone' },
    },
  });
  const info = await store.importLayeredImage(src.source, { latest: false });
  t.is(info.format, 'oci');
  t.is(info.transferredLayers, 3);
  t.deepEqual(src.opens, [1, 1, 1]);
  t.is(info.name, 'example.com/test/app');
  t.regex(info.key, /^sha512-[0-9a-f]{128}$/);

  const m = store.getImageManifest(info.key);
  t.is(getLabel(m.labels, 'version'), '1.0');
  t.is(getLabel(m.labels, 'os'), 'linux');
  t.is(getLabel(m.labels, 'arch'), 'amd64');
  t.deepEqual(m.app?.exec, ['/bin/tool', '--serve']);
  t.is(m.app?.user, '1000');
  t.is(m.app?.group, '1000');
  t.deepEqual(m.app?.supplementaryGIDs, [29, 50]);
  t.is(m.app?.workingDirectory, '/data');
  t.deepEqual(m.app?.environment, [
    { name: 'PATH', value: '/usr/bin:/bin' },
    { name: 'LANG', value: 'C.UTF-8' },
  ]);
  t.deepEqual(m.app?.ports, [
    { name: '53-udp', protocol: 'udp', port: 53 },
    { name: '80-tcp', protocol: 'tcp', port: 80 },
    { name: '8000-8002-tcp', protocol: 'tcp', port: 8000, count: 3 },
  ]);
  t.deepEqual(m.app?.mountPoints, [
    { name: 'volume-data', path: '/data' },
    { name: 'volume-var-lib-db', path: '/var/lib/db' },
  ]);
  t.is(getAnnotation(m.annotations, 'appc.io/docker/entrypoint'), '["/bin/tool"]');
  t.is(getAnnotation(m.annotations, 'appc.io/docker/cmd'), '["--serve"]');
  t.is(getAnnotation(m.annotations, 'appc.io/docker/imageid'), sha256(src.config));
  t.is(getAnnotation(m.annotations, 'org.opencontainers.image.source'), 'https://example.com/src');
  t.is(getAnnotation(m.annotations, 'maintainer'), 'someone');
  t.is(store.getImageConfigJSON(info.key), src.config.toString());

  const layers = store.imageLayers(info.key);
  t.deepEqual(
    layers.map((l) => l.diffID),
    [...src.diffIDs].reverse(),
  );
  const [top, mid, base] = layers.map((l) => l.path) as [string, string, string];
  // whiteouts are 0:0 character devices, opaque dirs carry the overlayfs xattr
  const wh = lstatSync(join(mid, 'data/gone'));
  t.true(wh.isCharacterDevice());
  t.is(wh.rdev, 0);
  t.true(lstatSync(join(mid, 'data/sub')).isCharacterDevice());
  t.is(execFileSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', join(top, 'cache')]).toString(), 'y');
  t.false(existsSync(join(top, 'cache/.wh..wh..opq')));
  t.is(readFileSync(join(base, 'data/gone'), 'utf8'), 'gone');
  t.is(lstatSync(join(base, 'secret')).mode & 0o7777, 0o4750);
  t.is(lstatSync(join(base, 'bin/tool')).ino, lstatSync(join(base, 'bin/tool-link')).ino);

  // reading a file of the merged view
  t.is((await store.readImageFile(info.key, '/bin/tool')).toString(), 'tool v2');
  await t.throwsAsync(store.readImageFile(info.key, '/data/gone'), { code: 'store.not-found' });
  await t.throwsAsync(store.readImageFile(info.key, '/cache/a'), { code: 'store.not-found' });
  t.is((await store.readImageFile(info.key, 'rootfs/data/sub/again')).toString(), 'again');
});

test('a layered render lists the layer dirs; a flattened render applies the whiteouts', async (t) => {
  if (!zstd) return t.pass('zstd missing');
  const dir = tempDir(t);
  const store = open(t, dir);
  const { source } = await layeredSource(STACK);
  const info = await store.importLayeredImage(source);
  const r = await store.render(info.key);
  t.true(r.layered);
  t.is(r.lowerDirs.length, 3);
  t.deepEqual(r.lowerDirs, store.imageLayers(info.key).map((l) => l.path));
  t.true(r.rendered);
  t.false(existsSync(r.rootfs));
  t.deepEqual(JSON.parse(readFileSync(join(r.path, 'layers'), 'utf8')), store.imageLayers(info.key).map((l) => l.diffID));
  t.is(store.treeStoreID(info.key), r.treeStoreID);
  t.true((await store.verifyTree(r.treeStoreID)).ok);
  t.false((await store.render(info.key)).rendered);

  const flat = await store.render(info.key, { flatten: true });
  t.false(flat.layered);
  t.not(flat.treeStoreID, r.treeStoreID);
  t.deepEqual(flat.lowerDirs, [flat.rootfs]);
  const view = listTree(flat.rootfs);
  for (const line of EXPECTED_VIEW) t.true(view.includes(line), line);
  t.false(view.some((l) => l.startsWith('data/gone') || l.startsWith('cache/a') || l.startsWith('data/sub/deep')));
  t.true(view.includes('lib -> usr/lib'));
  t.true(view.includes('secret f 4750 12:34 "setuid"'));
  t.is(lstatSync(join(flat.rootfs, 'hl/one')).ino, lstatSync(join(flat.rootfs, 'hl/two')).ino);
  t.true((await store.verifyTree(flat.treeStoreID)).ok);

  // modifying a layer is detected by verifying the layered tree
  appendFileSync(join(r.lowerDirs[2] as string, 'data/keep'), 'x');
  t.false((await store.verifyTree(r.treeStoreID)).ok);
  const report = await store.fsck();
  t.true(report.problems.some((p) => p.kind === 'layer-hash'));
});

const rootTest = isRoot() ? test : test.skip;

rootTest('the overlay of the lower dirs shows the same tree as the flattened render', async (t) => {
  if (!zstd) return t.pass('zstd missing');
  const dir = tempDir(t);
  const store = open(t, dir);
  const { source } = await layeredSource(STACK);
  const info = await store.importLayeredImage(source);
  const r = await store.render(info.key);
  const flat = await store.render(info.key, { flatten: true });
  const { merged, unmount } = mountOverlay(r.lowerDirs, tempDir(t, 'rkt-ovl-'));
  try {
    t.deepEqual(listTree(merged), listTree(flat.rootfs));
    t.false(existsSync(join(merged, 'data/gone')));
    t.false(existsSync(join(merged, 'cache/a')));
  } finally {
    unmount();
  }
});

test('layers are shared between images and removed with their last user', async (t) => {
  const dir = tempDir(t);
  const store = open(t, dir);
  const base: TestLayer = { files: { 'etc/os-release': 'base' } };
  const a = await layeredSource([base, { files: { a: 'a' } }], { name: 'example.com/a' });
  const b = await layeredSource([base, { files: { b: 'b' } }], { name: 'example.com/b' });
  const ia = await store.importLayeredImage(a.source);
  const ib = await store.importLayeredImage(b.source);
  t.is(ib.transferredLayers, 1, 'the base layer is not read again');
  t.deepEqual(b.opens, [0, 1]);
  t.is(store.listLayers().length, 3);
  await store.removeImage(ia.key);
  t.deepEqual(
    store.listLayers().map((l) => l.diffID).sort(),
    [...b.diffIDs].sort(),
  );
  // a rendered tree keeps its layers until gc removes the tree
  const r = await store.render(ib.key);
  await store.removeImage(ib.key);
  t.is(store.listLayers().length, 2);
  t.true(existsSync(r.lowerDirs[0] as string));
  const gc = await store.gc();
  t.deepEqual(gc.removedTrees, [r.treeStoreID]);
  t.is(gc.removedLayers.length, 2);
  t.is(store.listLayers().length, 0);
  t.false(existsSync(r.lowerDirs[0] as string));
  t.true((await store.fsck()).ok);
});

test('repeated and empty layers: stored once, left out of the lower dirs', async (t) => {
  const store = open(t, tempDir(t));
  const src = await layeredSource([{ files: { a: 'a' } }, { files: {} }, { files: { b: 'b' } }, { files: {} }, { files: { a: 'a' } }]);
  const info = await store.importLayeredImage(src.source);
  t.is(store.listLayers().length, 3);
  t.deepEqual(src.opens.reduce((n, x) => n + x, 0), 3);
  const r = await store.render(info.key);
  t.is(r.lowerDirs.length, 2);
  t.is(new Set(r.lowerDirs).size, 2);
});

test('importing the same image again reads no layer and gives the same key', async (t) => {
  const store = open(t, tempDir(t));
  const src = await layeredSource([{ files: { a: 'a' } }, { files: { b: 'b' } }], { tag: 'latest' });
  const first = await store.importLayeredImage(src.source, { latest: true, remote: { url: 'docker://example.com/test/app:latest', etag: 'sha256:abc' } });
  const again = await store.importLayeredImage(src.source, { latest: true });
  t.is(again.key, first.key);
  t.is(again.transferredLayers, 0);
  t.deepEqual(src.opens, [1, 1]);
  t.is(store.resolveImage('example.com/test/app'), first.key);
  t.is(store.getRemote('docker://example.com/test/app:latest')?.blobKey, first.key);
  t.is(store.listImages().length, 1);
});

test('a blob not matching its digest is refused and leaves no layer', async (t) => {
  const store = open(t, tempDir(t));
  const src = await layeredSource([{ files: { a: 'a'.repeat(5000) } }, { files: { b: 'b' } }], { corrupt: 0 });
  const e = await t.throwsAsync(store.importLayeredImage(src.source, { concurrency: 1 }), { code: 'image.corrupt' });
  t.regex(e?.message ?? '', /digest/);
  t.deepEqual(store.listImages(), []);
  t.false(store.hasLayer(src.diffIDs[0] as string));
});

test('a layer not matching its diff ID is refused', async (t) => {
  const store = open(t, tempDir(t));
  const src = await layeredSource([{ files: { a: 'a' } }], { badDiffID: 0 });
  const e = await t.throwsAsync(store.importLayeredImage(src.source), { code: 'image.corrupt' });
  t.regex(e?.message ?? '', /diff ID/);
  t.deepEqual(store.listLayers(), []);
});

test('a config not matching its digest is refused before any layer is read', async (t) => {
  const store = open(t, tempDir(t));
  const src = await layeredSource([{ files: { a: 'a' } }]);
  await t.throwsAsync(store.importLayeredImage({ ...src.source, configDigest: sha256('other') }), { code: 'image.corrupt' });
  t.deepEqual(src.opens, [0]);
});

test('layers with unsafe paths are refused as ACIs are', async (t) => {
  const store = open(t, tempDir(t));
  const escape = await layeredSource([{ files: { evil: { type: 'symlink', target: '../../../etc' } } }]);
  await t.throwsAsync(store.importLayeredImage(escape.source), { code: 'image.unsafe-path' });
  // an escape only the combination of two layers creates
  const combo = await layeredSource([{ files: { l: { type: 'symlink', target: '/' } } }, { files: { s: { type: 'symlink', target: 'l/..' } } }]);
  await t.throwsAsync(store.importLayeredImage(combo.source), { code: 'image.unsafe-path' });
  const below = await layeredSource([{ files: { d: { type: 'symlink', target: '/etc' }, 'd/passwd': 'x' } }]);
  await t.throwsAsync(store.importLayeredImage(below.source), { code: 'image.unsafe-path' });
  t.deepEqual(store.listImages(), []);
});

test('exports a layered image as a flattened ACI', async (t) => {
  if (!zstd) return t.pass('zstd missing');
  const store = open(t, tempDir(t));
  const { source } = await layeredSource(STACK);
  const info = await store.importLayeredImage(source);
  const chunks: Buffer[] = [];
  for await (const c of await store.exportImage(info.key)) chunks.push(c as Buffer);
  const aci = Buffer.concat(chunks);
  const entries = await readTar(aci);
  const names = entries.map((e) => e.name);
  t.is(names[0], 'manifest');
  t.true(names.includes('rootfs/cache/c'));
  t.false(names.includes('rootfs/cache/a'));
  t.false(names.includes('rootfs/data/gone'));
  // a hard link whose first name is hidden by an upper layer becomes a file of its own
  t.is(entries.find((e) => e.name === 'rootfs/bin/tool-link')?.type, 'file');
  const link = entries.find((e) => e.name === 'rootfs/hl/two');
  t.is(link?.type, 'link');
  t.is(link?.linkname, 'rootfs/hl/one');
  // deterministic, and importable as an ACI of its own
  const again: Buffer[] = [];
  for await (const c of await store.exportImage(info.key)) again.push(c as Buffer);
  t.true(Buffer.concat(again).equals(aci));
  const file = join(tempDir(t), 'flat.aci');
  writeFileSync(file, aci);
  const imported = await store.importImage(file);
  t.is(imported.format, 'aci');
  t.is(imported.name, info.name);
});

test('an index picks the host platform or lists what it has', async (t) => {
  const { selectPlatform } = await import('@rktnetes/store');
  const d = (architecture: string, variant?: string) => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: sha256(architecture + (variant ?? '')),
    size: 1,
    platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
  });
  const index = [d('arm64', 'v8'), d('amd64'), d('arm', 'v7')];
  t.is(selectPlatform(index, 'x', { os: 'linux', architecture: 'amd64' }).digest, sha256('amd64'));
  t.is(selectPlatform(index, 'x', { os: 'linux', architecture: 'arm64' }).digest, sha256('arm64v8'));
  const e = t.throws(() => selectPlatform([d('arm64'), d('s390x')], 'docker://x', { os: 'linux', architecture: 'amd64' }));
  t.is(e?.message, 'image docker://x has no linux/amd64 variant; available: linux/arm64, linux/s390x');
});

test('user specs resolve like Docker does', async (t) => {
  const { resolveUser } = await import('@rktnetes/store');
  const files: Record<string, string> = {
    '/etc/passwd': 'root:x:0:0::/root:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n',
    '/etc/group': 'root:x:0:\nwheel:x:10:root\nweb:x:33:\nlog:x:4:web\n',
  };
  const read = (p: string) => (files[p] === undefined ? undefined : Buffer.from(files[p] as string));
  t.deepEqual(resolveUser(undefined, read), { user: '0', group: '0', supplementaryGIDs: [10] });
  t.deepEqual(resolveUser('web', read), { user: '33', group: '33', supplementaryGIDs: [4] });
  t.deepEqual(resolveUser('33', read), { user: '33', group: '33', supplementaryGIDs: [4] });
  t.deepEqual(resolveUser('web:root', read), { user: '33', group: '0', supplementaryGIDs: [4] });
  t.deepEqual(resolveUser('1234', read), { user: '1234', group: '0' });
  t.deepEqual(resolveUser('ghost', read), { user: 'ghost', group: 'ghost' });
  t.deepEqual(resolveUser('ghost:ghosts', () => undefined), { user: 'ghost', group: 'ghosts' });
});
