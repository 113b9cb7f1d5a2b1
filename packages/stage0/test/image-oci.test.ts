/**
 * `rkt image ...` of a layered (OCI) image fetched with `oci:`, through the built CLI: list,
 * render and extract (the merged root filesystem, whiteouts applied), export (an ACI of it),
 * verify, rm and gc. Build first: cd packages/stage0 && node ../../tools/build.mjs
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, lstatSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { openStore, type Store } from '@rktnetes/store';
import { buildOciLayout, isRoot, listTar, testIf, tmpDir, type FileTree } from '@rktnetes/testkit';
import { rktEnv, type Rkt } from './registry-fixture';

// extracting layers sets trusted.* xattrs for opaque directories: root only
const rtest = testIf(test, isRoot(), 'needs root');

const LAYERS: FileTree[] = [
  { 'etc/os-release': 'ID=test\n', 'etc/gone': 'gone', 'opt/app/old': 'old', 'bin/tool': { type: 'file', content: 'v1', mode: 0o755 } },
  { 'etc/gone': { type: 'whiteout' }, 'opt/app': { type: 'opaque' }, 'opt/app/new': 'new', 'bin/tool': { type: 'file', content: 'v2', mode: 0o755 } },
];

async function withStore<T>(rkt: Rkt, fn: (s: Store) => T | Promise<T>): Promise<T> {
  const s = openStore(rkt.dir);
  try {
    return await fn(s);
  } finally {
    s.close();
  }
}

async function fetched(t: ExecutionContext): Promise<{ rkt: Rkt; key: string; work: string }> {
  const work = await tmpDir('image-oci', t);
  const layout = join(work, 'app');
  await buildOciLayout(layout, { layers: LAYERS, config: { Cmd: ['/bin/tool'] }, ref: 'v1' });
  const rkt = await rktEnv(t);
  const r = await rkt.run('--insecure-options=image', 'fetch', `oci:${layout}:v1`);
  if (r.code !== 0) throw new Error(r.stderr);
  // rkt fetch prints the short ID
  const key = await withStore(rkt, (s) => s.resolveImage(r.stdout.trim()));
  return { rkt, key, work };
}

/** Checks a root filesystem directory is the merged view of {@link LAYERS}. */
function assertMerged(t: ExecutionContext, rootfs: string): void {
  t.is(readFileSync(join(rootfs, 'bin/tool'), 'utf8'), 'v2');
  t.is(lstatSync(join(rootfs, 'bin/tool')).mode & 0o777, 0o755);
  t.is(readFileSync(join(rootfs, 'etc/os-release'), 'utf8'), 'ID=test\n');
  t.false(existsSync(join(rootfs, 'etc/gone')), 'whited-out file');
  t.deepEqual(readdirSync(join(rootfs, 'opt/app')), ['new'], 'opaque directory');
}

rtest('image list and cat-manifest show a layered image like any other', async (t) => {
  const { rkt, key } = await fetched(t);
  const list = await rkt.run('image', 'list', '--no-legend', '--full');
  t.is(list.code, 0, list.stderr);
  t.regex(list.stdout, new RegExp(`^${key}\\tlocalhost/app:v1\\t`));
  const m = await rkt.run('image', 'cat-manifest', key);
  t.is(m.code, 0, m.stderr);
  t.deepEqual(JSON.parse(m.stdout).app.exec, ['/bin/tool']);
});

rtest('image render copies the flattened tree: whiteouts and opaque directories applied', async (t) => {
  const { rkt, key, work } = await fetched(t);
  const out = join(work, 'rendered');
  const r = await rkt.run('image', 'render', key, out);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(readdirSync(out).sort(), ['manifest', 'rootfs']);
  t.is(JSON.parse(readFileSync(join(out, 'manifest'), 'utf8')).name, 'localhost/app');
  assertMerged(t, join(out, 'rootfs'));
  // no whiteout device made it into the copy
  t.false(existsSync(join(out, 'rootfs/etc/gone')));
  // it came from the flattened tree, which has a real rootfs (the layered tree has none)
  const trees = await withStore(rkt, (s) => ({ flat: s.treeStoreID(key, { flatten: true }), layered: s.treeStoreID(key), all: s.listTrees().map((x) => x.treeStoreID) }));
  t.deepEqual(trees.all, [trees.flat]);
  t.true(existsSync(join(rkt.dir, 'cas', 'tree', trees.flat, 'rootfs')));
  const only = join(work, 'rootfs-only');
  t.is((await rkt.run('image', 'render', '--rootfs-only', key, only)).code, 0);
  assertMerged(t, only);
});

rtest('image extract and export give the merged image as an ACI', async (t) => {
  const { rkt, key, work } = await fetched(t);
  const out = join(work, 'extracted');
  const x = await rkt.run('image', 'extract', key, out);
  t.is(x.code, 0, x.stderr);
  assertMerged(t, join(out, 'rootfs'));
  const aci = join(work, 'app.aci');
  const e = await rkt.run('image', 'export', key, aci);
  t.is(e.code, 0, e.stderr);
  const names = (await listTar(readFileSync(aci))).map((n) => n.replace(/\/$/, ''));
  t.true(names.includes('manifest'));
  t.true(names.includes('rootfs/bin/tool'));
  t.false(names.includes('rootfs/etc/gone'));
  t.false(names.includes('rootfs/opt/app/old'));
  // it imports as an ACI of its own
  const imp = await rkt.run('--insecure-options=image', 'fetch', aci);
  t.is(imp.code, 0, imp.stderr);
  const imported = await withStore(rkt, (s) => s.getImage(imp.stdout.trim()));
  t.not(imported.key, key);
  t.is(imported.format, 'aci');
});

rtest('image verify checks the layers; rm and gc remove the image, its trees and its layers', async (t) => {
  const { rkt, key, work } = await fetched(t);
  t.is((await rkt.run('image', 'render', key, join(work, 'r'))).code, 0);
  const v = await rkt.run('image', 'verify', key);
  t.is(v.code, 0, v.stderr);
  t.regex(v.stdout, /successfully verified checksum/);
  t.is(await withStore(rkt, (s) => s.listLayers().length), 2);
  // gc keeps a recently used image but removes its tree, used by no pod
  const gc = await rkt.run('image', 'gc');
  t.is(gc.code, 0, gc.stderr);
  t.deepEqual(await withStore(rkt, (s) => s.listTrees()), []);
  t.is(await withStore(rkt, (s) => s.listLayers().length), 2);
  const rm = await rkt.run('image', 'rm', 'localhost/app:v1');
  t.is(rm.code, 0, rm.stderr);
  t.regex(rm.stdout, new RegExp(`successfully removed aci for image: "${key}"`));
  const after = await withStore(rkt, (s) => ({ images: s.listImages().length, layers: s.listLayers().length }));
  t.deepEqual(after, { images: 0, layers: 0 });
  t.deepEqual(readdirSync(join(rkt.dir, 'cas', 'layer')), []);
});
