import test from 'ava';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { openStore, type Store } from '@rktnetes/store';
import { buildAci, files, manifest, tempDir, type TEntry } from './helpers';

async function add(store: Store, m: Record<string, unknown>, entries: TEntry[]) {
  return store.importImage(Readable.from([await buildAci(m, entries)]));
}

test("an image's tree store size counts every tree of the image, and drops with each removed tree", async (t) => {
  const dir = tempDir(t);
  const store = openStore(dir);
  t.teardown(() => store.close());
  await add(store, manifest('example.com/base', { labels: { version: '1' } }), files({ 'opt/base': 'x'.repeat(1000) }));
  const app = await add(store, manifest('example.com/app', { dependencies: [{ imageName: 'example.com/base' }] }), files({ 'opt/app': 'y'.repeat(300) }));
  const sizeOf = (path: string) => Number(readFileSync(join(path, 'size'), 'utf8'));
  const first = await store.render(app.key);
  const s1 = sizeOf(first.path);
  // the files of the tree (rootfs and its manifest)
  t.true(s1 >= 1300 && s1 < 1300 + 1000, String(s1));
  t.is(store.getImage(app.key).treeStoreSize, s1);
  // a newer base: the app renders to a second tree, and both count
  await add(store, manifest('example.com/base', { labels: { version: '2' } }), files({ 'opt/base': 'z'.repeat(5000) }));
  const second = await store.render(app.key);
  t.not(second.treeStoreID, first.treeStoreID);
  const s2 = sizeOf(second.path);
  t.is(s2 - s1, 4000);
  t.is(store.getImage(app.key).treeStoreSize, s1 + s2);
  // the size file is metadata: the tree still verifies
  t.true((await store.verifyTree(second.treeStoreID)).ok);
  t.true(await store.removeTree(first.treeStoreID));
  t.is(store.getImage(app.key).treeStoreSize, s2);
  // a tree from before size files existed counts its files
  rmSync(join(second.path, 'size'));
  const third = await store.render(app.key);
  t.false(third.rendered);
  t.true(await store.removeTree(second.treeStoreID));
  t.is(store.getImage(app.key).treeStoreSize, 0);
});
