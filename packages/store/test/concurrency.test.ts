import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { openStore } from '@rktnetes/store';
import { buildAci, files, gzip, keyOf, manifest, tempDir } from './helpers';

const CHILD = fileURLToPath(new URL('./fixtures/child.ts', import.meta.url));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function child(args: string[], opts: { stdin?: boolean } = {}) {
  const p = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout?.on('data', (d) => (stdout += d));
  p.stderr?.on('data', (d) => (stderr += d));
  const done = new Promise<Run>((resolve) => p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { p, done };
}

function bigTree(n: number, size: number): Record<string, string> {
  const tree: Record<string, string> = {};
  for (let i = 0; i < n; i++) tree[`data/f${i}`] = `${i}`.padEnd(size, String.fromCharCode(97 + (i % 26)));
  return tree;
}

test('8 processes importing the same image at once yield one row and no errors', async (t) => {
  const dir = tempDir(t);
  const aci = await buildAci(manifest('example.com/same'), files(bigTree(40, 100_000)));
  const file = join(dir, 'same.aci.gz');
  writeFileSync(file, gzip(aci));
  const runs = await Promise.all(Array.from({ length: 8 }, () => child([dir, 'import', file]).done));
  for (const r of runs) {
    t.is(r.code, 0, r.stderr);
    t.is(JSON.parse(r.stdout), keyOf(aci));
  }
  const store = openStore(dir);
  t.teardown(() => store.close());
  t.is(store.listImages().length, 1);
  const report = await store.fsck();
  t.true(report.ok, JSON.stringify(report.problems));
  t.deepEqual(report.garbage, []);
});

test('8 processes importing different images while gc runs all succeed', async (t) => {
  const dir = tempDir(t);
  const paths: string[] = [];
  for (let i = 0; i < 8; i++) {
    const aci = await buildAci(manifest(`example.com/img${i}`), files(bigTree(10, 50_000 + i)));
    const p = join(dir, `img${i}.aci`);
    writeFileSync(p, aci);
    paths.push(p);
  }
  const imports = paths.map((p) => child([dir, 'import', p]).done);
  const gcs = [child([dir, 'gc']).done, child([dir, 'gc']).done];
  const lists = [child([dir, 'list']).done, child([dir, 'list']).done];
  for (const r of await Promise.all([...imports, ...gcs, ...lists])) t.is(r.code, 0, r.stderr);
  const store = openStore(dir);
  t.teardown(() => store.close());
  t.is(store.listImages().length, 8);
  const report = await store.fsck();
  t.true(report.ok, JSON.stringify(report.problems));
  t.deepEqual(report.garbage, []);
});

async function waitFor(cond: () => boolean, ms = 20_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}

test('kill -9 in the middle of an import leaves fsck clean and the next import succeeds', async (t) => {
  const dir = tempDir(t);
  const aci = await buildAci(manifest('example.com/killed'), files(bigTree(100, 100_000)));
  const store = openStore(dir);
  t.teardown(() => store.close());
  const tmp = join(dir, 'cas', 'tmp');

  const { p, done } = child([dir, 'import-stdin'], { stdin: true });
  p.stdin?.on('error', () => {});
  p.stdin?.write(aci.subarray(0, aci.length / 2));
  const started = await waitFor(() => readdirSync(tmp).some((n) => n.startsWith('import-') && statSync(join(tmp, n)).size > 0));
  t.true(started, 'the child started writing');
  p.kill('SIGKILL');
  const r = await done;
  t.is(r.signal, 'SIGKILL');

  const report = await store.fsck();
  t.true(report.ok, JSON.stringify(report.problems));
  t.deepEqual(report.problems, []);
  t.deepEqual(report.garbage.map((g) => g.kind), ['temp'], 'the dead import left only its temp file');
  t.deepEqual(store.listImages(), []);

  await t.throwsAsync(store.importImage(join(dir, 'x.aci')), { code: 'store.source' } as never);
  writeFileSync(join(dir, 'x.aci'), aci);
  t.is((await store.importImage(join(dir, 'x.aci'))).key, keyOf(aci));
  const gc = await store.gc();
  t.is(gc.removedTemp.length, 1);
  const after = await store.fsck();
  t.true(after.ok);
  t.deepEqual(after.garbage, []);
});

test('kill -9 at random points of concurrent imports never leaves a half image', async (t) => {
  const dir = tempDir(t);
  const aci = await buildAci(manifest('example.com/random-kill'), files(bigTree(60, 300_000)));
  const file = join(dir, 'r.aci');
  writeFileSync(file, aci);
  const store = openStore(dir);
  t.teardown(() => store.close());
  for (let round = 0; round < 8; round++) {
    const kids = Array.from({ length: 3 }, () => child([dir, 'import', file]));
    await new Promise((r) => setTimeout(r, 30 + Math.floor(Math.random() * 400)));
    for (const k of kids) k.p.kill('SIGKILL');
    const runs = await Promise.all(kids.map((k) => k.done));
    const report = await store.fsck();
    t.true(report.ok, JSON.stringify(report.problems));
    const images = store.listImages();
    if (images.length) {
      t.is(images[0]?.key, keyOf(aci));
      t.true(existsSync(join(dir, 'cas', 'blob', 'sha512', keyOf(aci).slice(7, 9), keyOf(aci))));
    }
    t.true(runs.every((r) => r.code === 0 || r.signal === 'SIGKILL'));
  }
  t.is((await store.importImage(file)).key, keyOf(aci));
  await store.gc();
  const report = await store.fsck();
  t.true(report.ok);
  t.deepEqual(report.garbage, []);
});

test('4 processes rendering the same image at once produce one tree', async (t) => {
  const dir = tempDir(t);
  const store = openStore(dir);
  t.teardown(() => store.close());
  await store.importImage(Readable.from([await buildAci(manifest('example.com/rbase'), files(bigTree(30, 50_000)))]));
  const top = await store.importImage(
    Readable.from([await buildAci(manifest('example.com/rtop', { dependencies: [{ imageName: 'example.com/rbase' }] }), files({ top: 't' }))]),
  );
  const runs = await Promise.all(Array.from({ length: 4 }, () => child([dir, 'render', top.key]).done));
  const ids = new Set(runs.map((r) => (t.is(r.code, 0, r.stderr), JSON.parse(r.stdout) as string)));
  t.is(ids.size, 1);
  t.deepEqual(store.listTrees().map((x) => x.treeStoreID), [...ids]);
  t.deepEqual(readdirSync(join(dir, 'cas', 'tmp')), []);
  const report = await store.fsck();
  t.true(report.ok, JSON.stringify(report.problems));
  t.deepEqual(report.garbage, []);
});
