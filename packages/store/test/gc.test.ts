import test from 'ava';
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { openStore, type Store } from '@rktnetes/store';
import { FileLock } from '../src/lock';
import { buildAci, files, manifest, tempDir, type TEntry } from './helpers';

async function add(store: Store, m: Record<string, unknown>, entries: TEntry[]) {
  return store.importImage(Readable.from([await buildAci(m, entries)]));
}

test('gc removes images past the grace period except kept ones and dependencies of survivors', async (t) => {
  const store = openStore(tempDir(t));
  t.teardown(() => store.close());
  const old = await add(store, manifest('example.com/old'), files({ a: '1' }));
  const kept = await add(store, manifest('example.com/kept'), files({ a: '2' }));
  const dep = await add(store, manifest('example.com/dep'), files({ a: '3' }));
  const user = await add(store, manifest('example.com/user', { dependencies: [{ imageName: 'example.com/dep' }] }), files({ a: '4' }));
  const later = new Date(Date.now() + 3_600_000);
  const r0 = await store.gc({ now: later });
  t.deepEqual(r0.removedImages, [], 'no grace period: no image removed');
  // the user was used recently (rendered), the others not
  await new Promise((resolve) => setTimeout(resolve, 50));
  const r = await store.render(user.key);
  const usedAt = store.getImage(user.key).lastUsed.getTime();
  t.true(usedAt - store.getImage(dep.key).lastUsed.getTime() >= 40);
  const res = await store.gc({ gracePeriod: 20, keep: new Set([kept.key]), now: new Date(usedAt + 1) });
  t.deepEqual(res.removedImages, [old.key]);
  t.deepEqual(
    store.listImages().map((i) => i.key).sort(),
    [kept.key, dep.key, user.key].sort(),
  );
  t.deepEqual(res.removedTrees, []);
  const res2 = await store.gc({ keepTrees: new Set() });
  t.deepEqual(res2.removedTrees, [r.treeStoreID], 'trees nobody keeps go when keepTrees is given');
  t.true((await store.fsck()).ok);
});

test('gc removes orphan trees, temp files, orphan blobs and unused lock files, but not busy ones', async (t) => {
  const dir = tempDir(t);
  const store = openStore(dir);
  t.teardown(() => store.close());
  const a = await add(store, manifest('example.com/a'), files({ a: '1' }));
  const b = await add(store, manifest('example.com/b'), files({ b: '1' }));
  const ra = await store.render(a.key);
  const rb = await store.render(b.key);
  // what a crash between blob rename and row insert leaves: a blob without a row
  const blobA = join(dir, 'cas', 'blob', 'sha512', a.key.slice(7, 9), a.key);
  const saved = join(dir, 'saved');
  copyFileSync(blobA, saved);
  await store.removeImage(a.key);
  mkdirSync(join(dir, 'cas', 'blob', 'sha512', a.key.slice(7, 9)), { recursive: true });
  copyFileSync(saved, blobA);
  writeFileSync(join(dir, 'cas', 'tmp', 'import-1-dead'), 'partial');
  const busyTmp = join(dir, 'cas', 'tmp', 'import-2-busy');
  writeFileSync(busyTmp, 'in progress');
  const busy = await FileLock.acquire(busyTmp, 'ex');
  const treeLock = await FileLock.acquire(join(dir, 'cas', 'treestorelocks', rb.treeStoreID), 'sh');

  const before = await store.fsck();
  t.true(before.ok);
  t.deepEqual(before.garbage.map((g) => g.kind).sort(), ['orphan-blob', 'orphan-tree', 'temp']);

  const res = await store.gc({ keepTrees: new Set() });
  t.deepEqual(res.removedTrees, [ra.treeStoreID]);
  t.deepEqual(res.skipped, [rb.treeStoreID]);
  t.deepEqual(res.removedOrphanBlobs, [a.key]);
  t.deepEqual(res.removedTemp, [join(dir, 'cas', 'tmp', 'import-1-dead')]);
  t.true(existsSync(busyTmp));
  t.false(readdirSync(join(dir, 'cas', 'imagelocks')).includes(a.key), 'lock file of a gone image removed');
  t.true(readdirSync(join(dir, 'cas', 'imagelocks')).includes(b.key));
  busy?.release();
  treeLock?.release();
  const res2 = await store.gc({ keepTrees: new Set() });
  t.deepEqual(res2.removedTrees, [rb.treeStoreID]);
  const after = await store.fsck();
  t.true(after.ok);
  t.deepEqual(after.garbage, []);
  // the blob of a is gone with its row: importing again works
  const again = await store.importImage(saved);
  t.is(again.key, a.key);
});

test('locks: shared locks coexist, exclusive excludes, and a replaced lock file is re-taken', async (t) => {
  const dir = tempDir(t);
  const p = join(dir, 'l');
  const s1 = await FileLock.acquire(p, 'sh');
  const s2 = await FileLock.acquire(p, 'sh', { tryOnly: true });
  t.truthy(s2);
  t.is(await FileLock.acquire(p, 'ex', { tryOnly: true }), undefined);
  s1?.release();
  s2?.release();
  const ex = await FileLock.acquire(p, 'ex');
  let got = false;
  const waiter = FileLock.acquire(p, 'sh').then((l) => {
    got = true;
    return l;
  });
  await new Promise((r) => setTimeout(r, 30));
  t.false(got, 'waits for the exclusive holder');
  // the holder removes the lock file (as gc does); the waiter must end up on the new file
  const { unlinkSync } = await import('node:fs');
  unlinkSync(p);
  ex?.release();
  const w = await waiter;
  t.true(got);
  t.true(existsSync(p));
  t.is(await FileLock.acquire(p, 'ex', { tryOnly: true }), undefined, 'the waiter holds the new file');
  w?.release();
  t.is(await FileLock.acquire(join(dir, 'missing'), 'sh', { create: false }).then((l) => l?.held), false);
});
