import test from 'ava';
import { appendFileSync, chmodSync, existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { openStore, type Store } from '@rktnetes/store';
import { buildAci, files, keyOf, listing, manifest, tempDir, type TEntry } from './helpers';

async function add(store: Store, m: Record<string, unknown>, entries: TEntry[]) {
  return store.importImage(Readable.from([await buildAci(m, entries)]));
}

test('renders a dependency chain with precedence and a path whitelist', async (t) => {
  const dir = tempDir(t);
  const store = openStore(dir);
  t.teardown(() => store.close());
  const base = await add(store, manifest('example.com/base', { labels: { version: '1' } }), [
    ...files({ 'bin/sh': 'base sh', 'etc/os-release': 'base', 'etc/base-only': 'b', 'usr/lib/libx.so': 'lib', 'etc/dropped': 'd' }),
    { path: 'rootfs/bin/ash', type: 'link', target: 'rootfs/bin/sh' },
    { path: 'rootfs/lib', type: 'symlink', target: 'usr/lib' },
    { path: 'rootfs/secret', content: 'mode', mode: 0o4750, uid: 12, gid: 34 },
  ]);
  // a newer base that the name+labels dependency must not pick (version pinned)
  await add(store, manifest('example.com/base', { labels: { version: '2' } }), files({ 'etc/os-release': 'base v2' }));
  const extra1 = await add(store, manifest('example.com/extra1'), files({ 'opt/x': 'extra1', 'opt/only1': '1' }));
  const extra2 = await add(store, manifest('example.com/extra2'), files({ 'opt/x': 'extra2' }));
  const mid = await add(
    store,
    manifest('example.com/mid', {
      dependencies: [{ imageName: 'example.com/base', labels: [{ name: 'version', value: '1' }] }],
    }),
    files({ 'etc/os-release': 'mid', 'mid/file': 'm' }),
  );
  const app = await add(
    store,
    manifest('example.com/app', {
      dependencies: [
        { imageName: 'example.com/mid', imageID: mid.key.slice(0, 7 + 64) },
        { imageName: 'example.com/extra1' },
        { imageName: 'example.com/extra2', imageID: extra2.key },
      ],
      pathWhitelist: ['/bin/sh', '/bin/ash', '/lib', '/etc/os-release', '/etc/base-only', '/usr/lib/libx.so', '/mid/file', '/opt/x', '/opt/only1', '/app', '/secret'],
    }),
    files({ app: 'app' }),
  );
  const r = await store.render(app.key);
  t.true(r.rendered);
  t.deepEqual(r.images, [app.key, extra2.key, extra1.key, mid.key, base.key]);
  t.is(r.treeStoreID, store.treeStoreID(app.key));
  t.regex(r.treeStoreID, /^deps-sha512-[0-9a-f]{64}$/);
  t.is(r.rootfs, join(dir, 'cas', 'tree', r.treeStoreID, 'rootfs'));
  const read = (p: string) => readFileSync(join(r.rootfs, p), 'utf8');
  t.is(read('app'), 'app');
  t.is(read('etc/os-release'), 'mid', 'upper image wins');
  t.is(read('etc/base-only'), 'b');
  t.is(read('opt/x'), 'extra2', 'a later dependency wins over an earlier one');
  t.is(read('opt/only1'), '1');
  t.is(read('mid/file'), 'm');
  t.false(existsSync(join(r.rootfs, 'etc/dropped')), 'not in the whitelist');
  t.is(readlinkSync(join(r.rootfs, 'lib')), 'usr/lib');
  t.is(read('lib/libx.so'), 'lib');
  t.is(lstatSync(join(r.rootfs, 'bin/ash')).ino, lstatSync(join(r.rootfs, 'bin/sh')).ino);
  const st = lstatSync(join(r.rootfs, 'secret'));
  t.is(st.mode & 0o7777, 0o4750);
  if (process.getuid?.() === 0) {
    t.is(st.uid, 12);
    t.is(st.gid, 34);
  }
  t.is(JSON.parse(readFileSync(join(r.path, 'manifest'), 'utf8')).name, 'example.com/app');
  t.is(readFileSync(join(r.path, 'image'), 'utf8'), app.key);
  t.is(readFileSync(join(r.path, 'hash'), 'utf8'), r.hash);
  t.true(store.getImage(app.key).treeStoreSize > 0);
  t.deepEqual(readdirSync(join(dir, 'cas', 'tmp')), [], 'no temp dir left');

  const again = await store.render(app.key);
  t.false(again.rendered);
  t.is(again.hash, r.hash);
  t.deepEqual(store.listTrees().map((x) => x.treeStoreID), [r.treeStoreID]);
});

test('verifyTree detects tampering and remove + render repairs', async (t) => {
  const store = openStore(tempDir(t));
  t.teardown(() => store.close());
  const img = await add(store, manifest('example.com/v'), files({ 'bin/tool': 'tool', 'etc/conf': 'a=1' }));
  const r = await store.render(img.key);
  t.like(await store.verifyTree(r.treeStoreID), { ok: true, expected: r.hash, actual: r.hash });

  appendFileSync(join(r.rootfs, 'etc/conf'), '\nb=2');
  const bad = await store.verifyTree(r.treeStoreID);
  t.false(bad.ok);
  t.not(bad.actual, r.hash);
  const report = await store.fsck();
  t.false(report.ok);
  t.deepEqual(report.problems.map((p) => p.kind), ['tree-hash']);

  t.true(await store.removeTree(r.treeStoreID));
  t.false(await store.removeTree(r.treeStoreID));
  const r2 = await store.render(img.key);
  t.is(r2.hash, r.hash);
  t.true((await store.verifyTree(r.treeStoreID)).ok);

  chmodSync(join(r2.rootfs, 'bin/tool'), 0o777);
  t.false((await store.verifyTree(r.treeStoreID)).ok, 'mode changes count');
  await store.render(img.key, { rebuild: true });
  writeFileSync(join(r2.rootfs, 'new-file'), '');
  t.false((await store.verifyTree(r.treeStoreID)).ok, 'added files count');
  await t.throwsAsync(store.verifyTree('deps-sha512-' + '0'.repeat(64)), { code: 'store.not-found' } as never);
  await t.throwsAsync(store.verifyTree('../../etc'), { code: 'store.invalid-tree' } as never);
});

test('a missing dependency and a dependency cycle fail the render and leave nothing behind', async (t) => {
  const dir = tempDir(t);
  const store = openStore(dir);
  t.teardown(() => store.close());
  const lonely = await add(store, manifest('example.com/lonely', { dependencies: [{ imageName: 'example.com/nowhere' }] }), files({ a: 'a' }));
  const err = await t.throwsAsync(store.render(lonely.key), { code: 'store.not-found' } as never);
  t.regex(err?.message ?? '', /example\.com\/nowhere/);
  const a = await add(store, manifest('example.com/ca', { dependencies: [{ imageName: 'example.com/cb' }] }), files({ a: 'a' }));
  await add(store, manifest('example.com/cb', { dependencies: [{ imageName: 'example.com/ca' }] }), files({ b: 'b' }));
  await t.throwsAsync(store.render(a.key), { code: 'image.invalid', message: /cycle/ } as never);
  const wrongName = await add(
    store,
    manifest('example.com/wn', { dependencies: [{ imageName: 'example.com/other', imageID: lonely.key }] }),
    files({ a: 'a' }),
  );
  await t.throwsAsync(store.render(wrongName.key), { code: 'store.not-found' } as never);
  t.deepEqual(readdirSync(join(dir, 'cas', 'tree')), []);
  t.deepEqual(readdirSync(join(dir, 'cas', 'tmp')), []);
});

test('an escape only formed by stacking images is refused at render', async (t) => {
  const dir = tempDir(t);
  const store = openStore(dir);
  t.teardown(() => store.close());
  await add(store, manifest('example.com/lower'), [
    { path: 'rootfs', type: 'dir' },
    { path: 'rootfs/z', type: 'symlink', target: 'a/b/c/up/../escape' },
  ]);
  const upper = await add(store, manifest('example.com/upper', { dependencies: [{ imageName: 'example.com/lower' }] }), [
    { path: 'rootfs', type: 'dir' },
    { path: 'rootfs/a/b/c', type: 'dir' },
    { path: 'rootfs/a/b/c/up', type: 'symlink', target: '../../..' },
  ]);
  const before = listing(join(dir, 'cas', 'tree'));
  await t.throwsAsync(store.render(upper.key), { code: 'image.unsafe-path' } as never);
  t.deepEqual(listing(join(dir, 'cas', 'tree')), before);
  t.deepEqual(readdirSync(join(dir, 'cas', 'tmp')), []);
});

test('lower images cannot write below an upper symlink, and a corrupt blob is caught', async (t) => {
  const dir = tempDir(t);
  const store = openStore(dir);
  t.teardown(() => store.close());
  const lower = await add(store, manifest('example.com/lo'), files({ 'etc/passwd': 'lower', 'keep/me': 'k' }));
  const upper = await add(store, manifest('example.com/up', { dependencies: [{ imageName: 'example.com/lo' }] }), [
    { path: 'rootfs', type: 'dir' },
    { path: 'rootfs/etc', type: 'symlink', target: '/host-etc' },
  ]);
  const r = await store.render(upper.key);
  t.is(readlinkSync(join(r.rootfs, 'etc')), '/host-etc');
  t.is(readFileSync(join(r.rootfs, 'keep/me'), 'utf8'), 'k');
  t.false(existsSync('/host-etc'));

  // flip a byte of the lower blob: its content no longer matches its key
  const blob = join(dir, 'cas', 'blob', 'sha512', lower.key.slice(7, 9), lower.key);
  const data = readFileSync(blob);
  data[data.length - 2000] = (data[data.length - 2000] ?? 0) ^ 1;
  writeFileSync(blob, data);
  await t.throwsAsync(store.render(upper.key, { rebuild: true }), { code: 'store.corrupt' } as never);
  const report = await store.fsck();
  t.deepEqual(report.problems.map((p) => p.kind), ['blob-hash']);
  t.is(keyOf(data) === lower.key, false);
});

test('renders fifos, device nodes (when imported with allowDevices) and skips hard links whose target is whitelisted out', async (t) => {
  const store = openStore(tempDir(t));
  t.teardown(() => store.close());
  const img = await store.importImage(
    Readable.from([
      await buildAci(manifest('example.com/special'), [
        ...files({ 'bin/busybox': 'bb', 'bin/other': 'o' }),
        { path: 'rootfs/bin/ls', type: 'link', target: 'rootfs/bin/busybox' },
        { path: 'rootfs/bin/cat', type: 'link', target: 'rootfs/bin/other' },
        { path: 'rootfs/dev', type: 'dir' },
        { path: 'rootfs/dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
        { path: 'rootfs/run', type: 'dir', mode: 0o700 },
        { path: 'rootfs/run/fifo', type: 'fifo', mode: 0o620 },
      ]),
    ]),
    { allowDevices: true },
  );
  const top = await add(
    store,
    manifest('example.com/special-top', {
      dependencies: [{ imageName: 'example.com/special' }],
      pathWhitelist: ['/bin/busybox', '/bin/ls', '/bin/cat', '/dev/null', '/run/fifo', '/run'],
    }),
    files({}),
  );
  const r = await store.render(top.key);
  const fifo = lstatSync(join(r.rootfs, 'run/fifo'));
  t.true(fifo.isFIFO());
  t.is(fifo.mode & 0o777, 0o620);
  t.is(lstatSync(join(r.rootfs, 'run')).mode & 0o777, 0o700);
  const dev = lstatSync(join(r.rootfs, 'dev/null'));
  t.true(dev.isCharacterDevice());
  t.is(dev.rdev, lstatSync('/dev/null').rdev);
  t.is(lstatSync(join(r.rootfs, 'bin/ls')).ino, lstatSync(join(r.rootfs, 'bin/busybox')).ino);
  t.false(existsSync(join(r.rootfs, 'bin/other')));
  t.false(existsSync(join(r.rootfs, 'bin/cat')), 'a hard link to a left-out file is left out');
  t.true((await store.verifyTree(r.treeStoreID)).ok);
  t.true((await store.fsck()).ok);
  t.is(img.name, 'example.com/special');
});

test('a render of an existing tree writes last_used only when it is more than a minute old (relatime)', async (t) => {
  const dir = tempDir(t);
  const store = openStore(dir);
  t.teardown(() => store.close());
  const img = await add(store, manifest('example.com/used'), files({ a: '1' }));
  await store.render(img.key);
  const first = store.getImage(img.key).lastUsed.getTime();
  await new Promise((resolve) => setTimeout(resolve, 20));
  await store.render(img.key);
  t.is(store.getImage(img.key).lastUsed.getTime(), first, 'used a moment ago: nothing written');
  const Database = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => import('better-sqlite3').Database;
  const db = new Database(join(dir, 'cas', 'db', 'store.sqlite'));
  db.prepare('UPDATE images SET last_used = ? WHERE key = ?').run(first - 120_000, img.key);
  db.close();
  const before = Date.now();
  await store.render(img.key);
  t.true(store.getImage(img.key).lastUsed.getTime() >= before, 'two minutes old: updated');
});
