/**
 * `rkt image ...` through the built CLI (dist/rkt.mjs) against a store seeded with the store
 * API. Build first: cd packages/stage0 && node ../../tools/build.mjs
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore, type ImageInfo } from '@rktnetes/store';
import { aciImageId, buildAci, busyboxImage, hasBusybox, runCommand, tmpDir, writeAci, type FileTree } from '@rktnetes/testkit';

const RKT = fileURLToPath(new URL('../dist/rkt.mjs', import.meta.url));

interface Env {
  dir: string;
  work: string;
  rkt: (...args: string[]) => Promise<{ code: number | null; stdout: string; stderr: string; stdoutBuffer: Buffer }>;
}

async function env(t: Parameters<typeof tmpDir>[1]): Promise<Env> {
  const work = await tmpDir('image-cli', t);
  const dir = join(work, 'data');
  const cfg = join(work, 'cfg');
  mkdirSync(cfg);
  const rkt = (...args: string[]) =>
    runCommand(process.execPath, [RKT, '--dir', dir, '--local-config', cfg, '--system-config', cfg, '--user-config', cfg, ...args], { timeoutMs: 60_000 });
  return { dir, work, rkt };
}

function manifest(name: string, extra: { labels?: Record<string, string>; dependencies?: unknown[] } = {}): Record<string, unknown> {
  return {
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name,
    labels: Object.entries({ os: 'linux', arch: 'amd64', ...extra.labels }).map(([n, value]) => ({ name: n, value })),
    ...(extra.dependencies ? { dependencies: extra.dependencies } : {}),
  };
}

/** Imports an ACI built from `files` through the store API. */
async function add(e: Env, name: string, files: FileTree, extra: Parameters<typeof manifest>[1] = {}): Promise<ImageInfo> {
  const path = join(e.work, `${name.replace(/\W/g, '_')}-${Math.random().toString(16).slice(2)}.aci`);
  await writeAci(path, { manifest: manifest(name, extra), files });
  const store = openStore(e.dir);
  try {
    return await store.importImage(path);
  } finally {
    store.close();
  }
}

async function withStore<T>(e: Env, fn: (s: ReturnType<typeof openStore>) => T | Promise<T>): Promise<T> {
  const s = openStore(e.dir);
  try {
    return await fn(s);
  } finally {
    s.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha512 = (b: Buffer) => `sha512-${createHash('sha512').update(b).digest('hex')}`;

/** Writes a pod directory in `state` whose manifest runs `imageIDs`, optionally with a stage1 tree. */
function fakePod(e: Env, state: string, uuid: string, imageIDs: string[], stage1Tree?: string): void {
  const pod = join(e.dir, 'pods', state, uuid);
  mkdirSync(pod, { recursive: true });
  const apps = imageIDs.map((id, i) => ({ name: `app${i}`, image: { id } }));
  writeFileSync(join(pod, 'pod'), JSON.stringify({ acKind: 'PodManifest', acVersion: '0.8.11', apps }));
  if (stage1Tree) writeFileSync(join(pod, 'stage1TreeStoreID'), stage1Tree);
}

const UUID1 = '11111111-2222-4333-8444-555555555555';
const UUID2 = '66666666-7777-4888-8999-aaaaaaaaaaaa';

// --- list ---------------------------------------------------------------------------------------

test('image list on a data dir without a store prints the legend and creates nothing', async (t) => {
  const e = await env(t);
  const r = await e.rkt('image', 'list');
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'ID\tNAME\tIMPORT TIME\tLAST USED\tSIZE\tLATEST\n');
  t.false(existsSync(join(e.dir, 'cas')));
  const j = await e.rkt('image', 'list', '--format=json');
  t.is(j.stdout, '[]\n');
});

test('image list shows short ids, name:version, relative times, sizes incl. the tree, latest', async (t) => {
  const e = await env(t);
  const a = await add(e, 'example.com/alpha', { 'a.txt': 'a' }, { labels: { version: '1.0' } });
  const b = await add(e, 'example.com/beta', { 'b.txt': 'bb' });
  const rendered = await withStore(e, (s) => s.render(b.key));
  t.true(rendered.rendered);
  const r = await e.rkt('image', 'list');
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n').map((l) => l.split(/\t+/));
  t.deepEqual(lines[0], ['ID', 'NAME', 'IMPORT TIME', 'LAST USED', 'SIZE', 'LATEST']);
  t.deepEqual(lines.slice(1).map((l) => [l[0], l[1], l[5]]), [
    [a.key.slice(0, 19), 'example.com/alpha:1.0', 'false'],
    [b.key.slice(0, 19), 'example.com/beta', 'false'],
  ]);
  t.regex(lines[1]?.[2] ?? '', /^(now|\d+ seconds? ago)$/);
  t.regex(lines[1]?.[4] ?? '', /^\d+(\.\d)? KiB$/);

  const full = await e.rkt('image', 'list', '--full', '--no-legend');
  const fl = full.stdout.trimEnd().split('\n').map((l) => l.split(/\t+/));
  t.is(fl.length, 2);
  t.is(fl[0]?.[0], a.key);
  t.is(fl[0]?.[4], String(a.size));
  const bSize = await withStore(e, (s) => s.getImage(b.key));
  t.true(bSize.treeStoreSize > 0);
  t.is(fl[1]?.[4], String(bSize.size + bSize.treeStoreSize));
  t.regex(fl[0]?.[2] ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,3})? [+-]\d{4} \S+$/);
});

test('image list --fields selects and orders columns; --sort/--order sort', async (t) => {
  const e = await env(t);
  await add(e, 'example.com/mid', { f: 'x'.repeat(5000) });
  await add(e, 'example.com/aaa', { f: 'x'.repeat(20000) });
  await add(e, 'example.com/zzz', { f: 'x' });
  const names = async (...args: string[]) => {
    const r = await e.rkt('image', 'list', '--no-legend', '--fields=name', ...args);
    t.is(r.code, 0, r.stderr);
    return r.stdout.trimEnd().split('\n');
  };
  t.deepEqual(await names(), ['example.com/mid', 'example.com/aaa', 'example.com/zzz']);
  t.deepEqual(await names('--order=desc'), ['example.com/zzz', 'example.com/aaa', 'example.com/mid']);
  t.deepEqual(await names('--sort=name'), ['example.com/aaa', 'example.com/mid', 'example.com/zzz']);
  t.deepEqual(await names('--sort=size', '--order=desc'), ['example.com/aaa', 'example.com/mid', 'example.com/zzz']);
  t.deepEqual(await names('--sort=latest,name'), ['example.com/aaa', 'example.com/mid', 'example.com/zzz']);
  const two = await e.rkt('image', 'list', '--fields=size,name', '--sort=name');
  t.regex(two.stdout.split('\n')[0] ?? '', /^SIZE\t+NAME$/);
  t.regex(two.stdout.split('\n')[1] ?? '', /^\S+ KiB\t+example\.com\/aaa$/);
});

test('image list --format=json and json-pretty have rkt shape: full id, ns times, size', async (t) => {
  const e = await env(t);
  const a = await add(e, 'example.com/j', { f: 'j' }, { labels: { version: 'v2' } });
  const r = await e.rkt('image', 'list', '--format=json');
  t.is(r.code, 0, r.stderr);
  t.notRegex(r.stdout.trimEnd(), /\n/);
  const m = /"import_time":(\d+),"last_used_time":(\d+)/.exec(r.stdout);
  t.truthy(m);
  t.is(m?.[1], `${a.importTime.getTime()}000000`);
  const parsed = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
  t.deepEqual(Object.keys(parsed[0] ?? {}), ['id', 'name', 'import_time', 'last_used_time', 'size']);
  t.is(parsed[0]?.id, a.key);
  t.is(parsed[0]?.name, 'example.com/j:v2');
  t.is(parsed[0]?.size, a.size);
  const p = await e.rkt('image', 'list', '--format=json-pretty');
  t.regex(p.stdout, /^\[\n\t\{\n\t\t"id": "sha512-/);
  t.deepEqual(JSON.parse(p.stdout), parsed);
});

test('image list rejects bad flags with one line and exit 254', async (t) => {
  const e = await env(t);
  for (const [args, msg] of [
    [['--fields=id,colour'], /--fields: unknown value "colour"/],
    [['--sort=nope'], /--sort: unknown value "nope"/],
    [['--order=sideways'], /--order: invalid value "sideways"/],
    [['--format=xml'], /--format: invalid value "xml"/],
  ] as const) {
    const r = await e.rkt('image', 'list', ...args);
    t.is(r.code, 254, args.join(' '));
    t.is(r.stderr.trim().split('\n').length, 1);
    t.regex(r.stderr, msg);
  }
});

// --- rm -------------------------------------------------------------------------------------------

test('image rm removes by id, short id and name; partial failure removes the rest and exits 254', async (t) => {
  const e = await env(t);
  const a = await add(e, 'example.com/one', { f: '1' });
  const b = await add(e, 'example.com/two', { f: '2' });
  const c = await add(e, 'example.com/three', { f: '3' }, { labels: { version: '3.0' } });
  const r = await e.rkt('image', 'rm', a.key, b.key.slice(0, 19), 'example.com/nope', 'example.com/three:3.0');
  t.is(r.code, 254);
  t.regex(r.stdout, new RegExp(`successfully removed aci for image: "${a.key}" \\("example.com/one"\\)`));
  t.regex(r.stdout, new RegExp(`"${b.key}"`));
  t.regex(r.stdout, new RegExp(`"${c.key}" \\("example.com/three"\\)`));
  t.regex(r.stderr, /^rkt: image "example.com\/nope" not found in the store$/m);
  t.regex(r.stderr, /^rkt: 3 image\(s\) successfully removed$/m);
  t.regex(r.stderr, /^rkt: 1 image\(s\) cannot be removed: "example.com\/nope"$/m);
  t.deepEqual(await withStore(e, (s) => s.listImages()), []);
  t.false(existsSync(await withStore(e, (s) => s.layout.blob(a.key))));
});

test('image rm: ambiguous prefix, invalid id and a missing image each fail naming the image', async (t) => {
  const e = await env(t);
  // build images until two IDs share their first two hex digits (the shortest prefix accepted)
  const seen = new Map<string, number>();
  let shared = '';
  for (let i = 0; !shared; i++) {
    const id = aciImageId(await buildAci({ manifest: manifest(`example.com/p${i}`), files: { f: String(i) } }));
    const prefix = id.slice(0, 'sha512-'.length + 2);
    if (seen.has(prefix)) {
      shared = prefix;
      await add(e, `example.com/p${seen.get(prefix)}`, { f: String(seen.get(prefix)) });
      await add(e, `example.com/p${i}`, { f: String(i) });
    }
    seen.set(prefix, i);
  }
  for (const [ref, msg] of [
    [shared, /is ambiguous/],
    ['sha512-xyz', /invalid image ID "sha512-xyz"/],
    ['sha512-' + '0'.repeat(128), /not found/],
  ] as const) {
    const r = await e.rkt('image', 'rm', ref);
    t.is(r.code, 254, ref);
    t.regex(r.stderr, msg);
    t.true(r.stderr.includes(ref), r.stderr);
  }
  t.is((await withStore(e, (s) => s.listImages())).length, 2);
});

test('image rm refuses images used by prepared or running pods, naming the pod', async (t) => {
  const e = await env(t);
  const used = await add(e, 'example.com/used', { f: 'u' });
  const stage1 = await add(e, 'example.com/stage1', { s: 's' });
  const free = await add(e, 'example.com/free', { f: 'f' });
  const exited = await add(e, 'example.com/exited', { f: 'x' });
  const tree = await withStore(e, (s) => s.render(stage1.key));
  fakePod(e, 'run', UUID1, [used.key], tree.treeStoreID);
  fakePod(e, 'exited-garbage', UUID2, [exited.key]);
  const r = await e.rkt('image', 'rm', 'example.com/used', 'example.com/stage1', 'example.com/free', 'example.com/exited');
  t.is(r.code, 254);
  t.regex(r.stderr, new RegExp(`image "example.com/used" \\(${used.key}\\) is used by pod ${UUID1} \\(run\\)`));
  t.regex(r.stderr, /image "example.com\/stage1" .* is used by pod/);
  t.regex(r.stdout, new RegExp(free.key));
  t.regex(r.stdout, new RegExp(exited.key));
  t.deepEqual(await withStore(e, (s) => s.listImages().map((i) => i.name).sort()), ['example.com/stage1', 'example.com/used']);

  // a pod manifest may carry a shortened image id
  const short = await add(e, 'example.com/short', { f: 's2' });
  fakePod(e, 'prepared', UUID2.replace('6', '7'), [short.key.slice(0, 7 + 64)]);
  const r2 = await e.rkt('image', 'rm', short.key);
  t.is(r2.code, 254);
  t.regex(r2.stderr, /\(prepared\)/);
});

// --- gc -------------------------------------------------------------------------------------------

test('image gc removes images unused within the grace period, keeps pod images, removes unused trees', async (t) => {
  const e = await env(t);
  const old = await add(e, 'example.com/old', { f: 'old' });
  const podImg = await add(e, 'example.com/in-pod', { f: 'pod' });
  const stage1 = await add(e, 'example.com/stage1', { f: 's1' });
  const oldTree = await withStore(e, (s) => s.render(old.key));
  const s1Tree = await withStore(e, (s) => s.render(stage1.key));
  fakePod(e, 'exited-garbage', UUID1, [podImg.key], s1Tree.treeStoreID);
  // The grace period leaves room for a loaded machine: `fresh` must stay younger than it
  // until gc reads the store, `old` is older by the sleep.
  await sleep(6000);
  const fresh = await add(e, 'example.com/fresh', { f: 'fresh' });
  const freshTree = await withStore(e, (s) => s.render(fresh.key));

  const r = await e.rkt('image', 'gc', '--grace-period=5s');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`successfully removed aci for image: "${old.key}" \\("example.com/old"\\)`));
  t.regex(r.stderr, new RegExp(`removed treestore "${oldTree.treeStoreID}"`));
  t.regex(r.stderr, new RegExp(`removed treestore "${freshTree.treeStoreID}"`));
  t.regex(r.stderr, /1 image\(s\) successfully removed/);
  t.deepEqual(await withStore(e, (s) => s.listImages().map((i) => i.name).sort()), ['example.com/fresh', 'example.com/in-pod', 'example.com/stage1']);
  t.deepEqual(await withStore(e, (s) => s.listTrees().map((x) => x.treeStoreID)), [s1Tree.treeStoreID]);
  t.true(existsSync(join(e.dir, 'locks', 'prepareLock')));

  // a zero grace period removes every image no pod uses
  const r2 = await e.rkt('image', 'gc', '--grace-period=0s');
  t.is(r2.code, 0, r2.stderr);
  t.deepEqual(await withStore(e, (s) => s.listImages().map((i) => i.name).sort()), ['example.com/in-pod', 'example.com/stage1']);

  // and once the pod is gone, its images and tree go too
  rmSync(join(e.dir, 'pods', 'exited-garbage', UUID1), { recursive: true });
  const r3 = await e.rkt('image', 'gc', '--grace-period=0s');
  t.is(r3.code, 0, r3.stderr);
  t.deepEqual(await withStore(e, (s) => s.listImages()), []);
  t.deepEqual(await withStore(e, (s) => s.listTrees()), []);
});

test('image gc with the default grace period keeps recently used images', async (t) => {
  const e = await env(t);
  await add(e, 'example.com/recent', { f: 'r' });
  const r = await e.rkt('image', 'gc');
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, '');
  t.is((await withStore(e, (s) => s.listImages())).length, 1);
  const bad = await e.rkt('image', 'gc', '--grace-period=3d');
  t.is(bad.code, 254);
  t.regex(bad.stderr, /--grace-period: invalid duration "3d"/);
});

// --- export / extract / render / cat-manifest -----------------------------------------------------

test('image export writes the uncompressed ACI with the same hash as imported; --overwrite', async (t) => {
  const e = await env(t);
  const gz = join(e.work, 'in.aci.gz');
  await writeAci(gz, { manifest: manifest('example.com/exp'), files: { 'etc/hello': 'hello\n' }, compression: 'gzip' });
  const info = await withStore(e, (s) => s.importImage(gz));
  const out = join(e.work, 'out.aci');
  const r = await e.rkt('image', 'export', 'example.com/exp', out);
  t.is(r.code, 0, r.stderr);
  t.is(sha512(readFileSync(out)), info.key);
  t.is(statSync(out).size, info.size);

  const again = await e.rkt('image', 'export', info.key.slice(0, 20), out);
  t.is(again.code, 254);
  t.regex(again.stderr, /^rkt: export image "sha512-\w+": output file .*out\.aci exists \(use --overwrite\)$/m);
  writeFileSync(out, 'junk');
  const ow = await e.rkt('image', 'export', '--overwrite', info.key, out);
  t.is(ow.code, 0, ow.stderr);
  t.is(sha512(readFileSync(out)), info.key);

  const missing = await e.rkt('image', 'export', 'example.com/none', join(e.work, 'x.aci'));
  t.is(missing.code, 254);
  t.regex(missing.stderr, /image "example.com\/none" not found/);
  t.false(existsSync(join(e.work, 'x.aci')));
});

test('image export of a corrupt blob fails and leaves no output', async (t) => {
  const e = await env(t);
  const info = await add(e, 'example.com/rot', { f: 'x'.repeat(4000) });
  const blob = await withStore(e, (s) => s.layout.blob(info.key));
  const buf = readFileSync(blob);
  buf[2000] = (buf[2000] ?? 0) ^ 0xff;
  writeFileSync(blob, buf);
  const out = join(e.work, 'rot.aci');
  const r = await e.rkt('image', 'export', 'example.com/rot', out);
  t.is(r.code, 254);
  t.regex(r.stderr, /corrupt/);
  t.false(existsSync(out));
});

const TREE: FileTree = {
  'bin/tool': { type: 'file', content: '#!/bin/sh\necho hi\n', mode: 0o755, uid: 1000, gid: 1001 },
  'etc/conf': 'conf\n',
  'etc/link': { type: 'symlink', target: 'conf' },
  'etc/hard': { type: 'hardlink', target: 'etc/conf' },
  'secret/': { type: 'dir', mode: 0o700 },
  'secret/key': { type: 'file', content: 'k', mode: 0o600 },
};

test('image extract writes manifest and rootfs as plain files; --rootfs-only; --overwrite', async (t) => {
  const e = await env(t);
  const info = await add(e, 'example.com/ext', TREE);
  const out = join(e.work, 'ext');
  const r = await e.rkt('image', 'extract', 'example.com/ext', out);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(JSON.parse(readFileSync(join(out, 'manifest'), 'utf8')).name, 'example.com/ext');
  t.is(readFileSync(join(out, 'rootfs/etc/conf'), 'utf8'), 'conf\n');
  t.is(readlinkSync(join(out, 'rootfs/etc/link')), 'conf');
  t.is(statSync(join(out, 'rootfs/etc/hard')).ino, statSync(join(out, 'rootfs/etc/conf')).ino);
  const tool = statSync(join(out, 'rootfs/bin/tool'));
  t.is(tool.mode & 0o7777, 0o755);
  if (process.getuid?.() === 0) t.deepEqual([tool.uid, tool.gid], [1000, 1001]);
  t.is(statSync(join(out, 'rootfs/secret')).mode & 0o777, 0o700);

  const exists = await e.rkt('image', 'extract', info.key, out);
  t.is(exists.code, 254);
  t.regex(exists.stderr, /^rkt: extract image "sha512-\w+": output directory .* exists \(use --overwrite\)$/m);

  const r2 = await e.rkt('image', 'extract', '--rootfs-only', '--overwrite', info.key.slice(0, 30), out);
  t.is(r2.code, 0, r2.stderr);
  t.false(existsSync(join(out, 'manifest')));
  t.is(readFileSync(join(out, 'etc/conf'), 'utf8'), 'conf\n');
  t.is(statSync(join(out, 'etc/hard')).ino, statSync(join(out, 'etc/conf')).ino);
  t.is(readFileSync(join(out, 'secret/key'), 'utf8'), 'k');

  const root = await e.rkt('image', 'extract', '--overwrite', info.key, '/');
  t.is(root.code, 254);
  t.regex(root.stderr, /refusing to overwrite the root directory/);
});

test('image render includes dependencies, writes the manifest, checks and repairs the cached tree', async (t) => {
  const e = await env(t);
  const base = await add(e, 'example.com/base', { 'etc/base': 'base\n', 'etc/shared': 'from base\n' }, { labels: { version: '1' } });
  await add(e, 'example.com/app', { 'app/run': 'run\n', 'etc/shared': 'from app\n' }, {
    dependencies: [{ imageName: 'example.com/base', labels: [{ name: 'version', value: '1' }] }],
  });
  const out = join(e.work, 'rendered');
  const r = await e.rkt('image', 'render', 'example.com/app', out);
  t.is(r.code, 0, r.stderr);
  t.is(JSON.parse(readFileSync(join(out, 'manifest'), 'utf8')).name, 'example.com/app');
  t.is(readFileSync(join(out, 'rootfs/etc/base'), 'utf8'), 'base\n');
  t.is(readFileSync(join(out, 'rootfs/etc/shared'), 'utf8'), 'from app\n');
  t.is(readFileSync(join(out, 'rootfs/app/run'), 'utf8'), 'run\n');

  // tamper with the cached tree: render notices and rebuilds it
  const tree = await withStore(e, (s) => s.listTrees()[0]);
  writeFileSync(join(tree?.rootfs ?? '', 'etc/base'), 'evil\n');
  const out2 = join(e.work, 'rootfs-only');
  const r2 = await e.rkt('image', 'render', '--rootfs-only', 'example.com/app', out2);
  t.is(r2.code, 0, r2.stderr);
  t.regex(r2.stderr, /was modified on disk; rebuilding it/);
  t.is(readFileSync(join(out2, 'etc/base'), 'utf8'), 'base\n');
  t.false(existsSync(join(out2, 'manifest')));

  const dep = await e.rkt('image', 'render', base.key, out2);
  t.is(dep.code, 254);
  t.regex(dep.stderr, /output directory .* exists \(use --overwrite\)/);
});

test('image render of a busybox image gives a runnable tree with symlinked applets', async (t) => {
  if (!hasBusybox()) return t.pass('busybox-static is not installed');
  const e = await env(t);
  const path = join(e.work, 'bb.aci');
  writeFileSync(path, await busyboxImage({ name: 'example.com/bb' }));
  await withStore(e, (s) => s.importImage(path));
  const out = join(e.work, 'bb');
  const r = await e.rkt('image', 'render', '--rootfs-only', 'example.com/bb', out);
  t.is(r.code, 0, r.stderr);
  t.true(lstatSync(join(out, 'bin/busybox')).isFile());
  t.true(lstatSync(join(out, 'bin/sh')).isSymbolicLink());
  const sh = await runCommand(join(out, 'bin/busybox'), ['echo', 'ok']);
  t.is(sh.stdout, 'ok\n');
});

test('image cat-manifest prints the manifest indented or on one line', async (t) => {
  const e = await env(t);
  const info = await add(e, 'example.com/cat', { f: 'c' }, { labels: { version: '9' } });
  const r = await e.rkt('image', 'cat-manifest', 'example.com/cat:9');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^\{\n\t"acKind": "ImageManifest",/);
  t.is(JSON.parse(r.stdout).name, 'example.com/cat');
  const one = await e.rkt('image', 'cat-manifest', '--pretty-print=false', info.key);
  t.is(one.stdout.split('\n').length, 2);
  t.deepEqual(JSON.parse(one.stdout), JSON.parse(r.stdout));
  const none = await e.rkt('image', 'cat-manifest', 'example.com/cat:8');
  t.is(none.code, 254);
  t.regex(none.stderr, /^rkt: image "example.com\/cat" with labels version=8 not found in the store$/m);
});

// --- verify ---------------------------------------------------------------------------------------

test('image verify checks blob and tree, repairs a tampered tree and reports what it did', async (t) => {
  const e = await env(t);
  const a = await add(e, 'example.com/va', { 'etc/a': 'a\n' });
  await add(e, 'example.com/vb', { 'etc/b': 'b\n' });
  const tree = await withStore(e, (s) => s.render(a.key));

  const ok = await e.rkt('image', 'verify', 'example.com/va', 'example.com/vb');
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, new RegExp(`^successfully verified checksum for image: "example.com/va" \\("${a.key}"\\)$`, 'm'));
  t.regex(ok.stdout, /"example.com\/vb" .*not rendered/);

  writeFileSync(join(tree.rootfs, 'etc/a'), 'tampered\n');
  const fixed = await e.rkt('image', 'verify', a.key.slice(0, 25));
  t.is(fixed.code, 0, fixed.stderr);
  t.regex(fixed.stdout, new RegExp(`tree ${tree.treeStoreID} of image "${a.key.slice(0, 25)}" .* did not match its checksum; rendered it again`));
  t.is(readFileSync(join(tree.rootfs, 'etc/a'), 'utf8'), 'a\n');
  t.true(await withStore(e, async (s) => (await s.verifyTree(tree.treeStoreID)).ok));
});

test('image verify reports a corrupt blob and unknown images, still checking the others', async (t) => {
  const e = await env(t);
  const bad = await add(e, 'example.com/bad', { f: 'y'.repeat(3000) });
  const good = await add(e, 'example.com/good', { f: 'g' });
  const blob = await withStore(e, (s) => s.layout.blob(bad.key));
  const buf = readFileSync(blob);
  buf[1500] = (buf[1500] ?? 0) ^ 1;
  writeFileSync(blob, buf);
  const r = await e.rkt('image', 'verify', 'example.com/bad', 'example.com/missing', 'example.com/good');
  t.is(r.code, 254);
  t.regex(r.stderr, new RegExp(`image ${bad.key} is corrupt`));
  t.regex(r.stderr, /image "example.com\/missing" not found/);
  t.regex(r.stdout, new RegExp(`"example.com/good" \\("${good.key}"\\)`));
  t.regex(r.stderr, /2 image\(s\) failed verification: "example.com\/bad", "example.com\/missing"$/m);
});

test('image subcommands need their arguments', async (t) => {
  const e = await env(t);
  for (const args of [['rm'], ['verify'], ['export', 'x'], ['extract', 'x'], ['render'], ['cat-manifest'], []]) {
    const r = await e.rkt('image', ...args);
    t.is(r.code, 254, args.join(' '));
    t.regex(r.stderr, /^rkt: /m);
  }
});

test('image list into a pipe whose reader is gone ends quietly', async (t) => {
  const e = await env(t);
  await add(e, 'example.com/pipe', { f: 'p' });
  // `true` exits before rkt writes, so the write fails with EPIPE
  const r = await runCommand('sh', ['-c', `"${process.execPath}" "${RKT}" --dir "${e.dir}" image list --full | true`]);
  t.is(r.code, 0);
  t.is(r.stderr, '');
});
