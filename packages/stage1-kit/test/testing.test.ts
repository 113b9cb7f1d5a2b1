import test from 'ava';
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appInfoDir, podManifestPath, stage1RootfsPath } from '@rktnetes/common';
import { parsePodManifest } from '@rktnetes/schema';
import { ensureBuilt, lockHeld, makePod, newestMtime, readPodPid, runEntrypoint, startEntrypoint, waitFor } from '@rktnetes/stage1-kit/testing';
import { aciImageId, buildAci, tmpDir } from '@rktnetes/testkit';

/** A stage1 image whose `run` reports what it was started with, then waits for `go` in the pod dir. */
const stage1Image = () =>
  buildAci({
    manifest: { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/stage1-test' },
    files: {
      run: {
        type: 'file',
        mode: 0o755,
        content: '#!/bin/sh\necho "cwd=$(pwd) lock=$RKT_LOCK_FD args=$*"\nwhile [ ! -e go ]; do sleep 0.02; done\nread line; echo "stdin=$line"; echo oops >&2; exit 3\n',
      },
      gc: { type: 'file', mode: 0o755, content: '#!/bin/sh\necho "gc lock=${RKT_LOCK_FD:-none} args=$*"\n' },
    },
  });

const appImage = (name: string) =>
  buildAci({ manifest: { acKind: 'ImageManifest', acVersion: '0.8.11', name: `example.com/${name}`, app: { exec: ['/bin/true'], user: '0', group: '0' } }, files: { 'etc/marker': `${name}\n` } });

async function testPod(t: Parameters<typeof makePod>[0]) {
  const dir = await tmpDir('stage1-kit', t);
  const aci = join(dir, 'stage1-test.aci');
  writeFileSync(aci, await stage1Image());
  const image = await appImage('one');
  return { image, pod: await makePod(t, aci, [{ name: 'one', image, runtime: { app: { exec: ['/bin/sh'], user: '0', group: '0' } } }], { annotations: [{ name: 'example.com/a', value: 'b' }] }) };
}

test('makePod lays out a pod directory as stage0 prepares one', async (t) => {
  const { pod, image } = await testPod(t);
  t.is(pod.dir, join(pod.dataDir, 'pods', 'run', pod.uuid));
  t.is(pod.stage1Rootfs, stage1RootfsPath(pod.dir));
  t.true(existsSync(join(pod.stage1Rootfs, 'run')));
  t.is(readFileSync(join(pod.rootfs('one'), 'etc/marker'), 'utf8'), 'one\n');
  t.true(existsSync(join(appInfoDir(pod.dir, 'one'), 'manifest')));
  const m = parsePodManifest(JSON.parse(readFileSync(podManifestPath(pod.dir), 'utf8')));
  t.deepEqual(m.apps.map((a) => [a.name, a.image.name, a.image.id, a.app?.exec]), [['one', 'example.com/busybox-probe', aciImageId(image), ['/bin/sh']]]);
  t.deepEqual(m.annotations, [{ name: 'example.com/a', value: 'b' }]);
});

test('run starts in the pod directory with the pod locked on RKT_LOCK_FD; other entrypoints without', async (t) => {
  const { pod } = await testPod(t);
  const run = startEntrypoint(pod, 'run', ['--debug', pod.uuid], { input: 'hello\n' });
  await waitFor('run to start', () => (run.stdout().includes('args=') ? true : undefined), 10_000);
  t.is(run.stdout(), `cwd=${pod.dir} lock=9 args=--debug ${pod.uuid}\n`);
  t.true(lockHeld(pod.dir));
  writeFileSync(join(pod.dir, 'go'), '');
  const r = await run.done;
  t.deepEqual([r.code, r.signal, r.stderr], [3, null, 'oops\n']);
  t.is(r.stdout, `cwd=${pod.dir} lock=9 args=--debug ${pod.uuid}\nstdin=hello\n`);
  t.true(r.firstOutputMs !== undefined && r.firstOutputMs >= 0);
  t.false(lockHeld(pod.dir));
  const gc = await runEntrypoint(pod, 'gc', [pod.uuid]);
  t.deepEqual([gc.code, gc.stdout], [0, `gc lock=none args=${pod.uuid}\n`]);
});

test('a locked pod makes run fail as stage0 would (251)', async (t) => {
  const { pod } = await testPod(t);
  const first = startEntrypoint(pod, 'run', [pod.uuid]);
  await waitFor('the lock', () => (lockHeld(pod.dir) ? true : undefined), 10_000);
  const second = await runEntrypoint(pod, 'run', [pod.uuid]);
  t.is(second.code, 251);
  writeFileSync(join(pod.dir, 'go'), '');
  t.is((await first.done).code, 3);
});

test('runEntrypoint kills an entrypoint that outlives its timeout', async (t) => {
  const { pod } = await testPod(t);
  const r = await runEntrypoint(pod, 'run', [pod.uuid], { timeoutMs: 300 });
  t.is(r.signal, 'SIGKILL');
});

test('waitFor returns the first defined value, awaits async checks and times out naming what it waited for', async (t) => {
  let n = 0;
  t.is(await waitFor('three', () => (++n >= 3 ? n : undefined)), 3);
  t.is(await waitFor('async', async () => 'yes'), 'yes');
  await t.throwsAsync(waitFor('never', () => undefined, 50), { message: 'timed out waiting for never' });
  await t.throwsAsync(waitFor('broken', () => {
    throw new Error('check failed');
  }), { message: 'check failed' });
});

test('readPodPid reads a number file of the pod, undefined while absent or empty', async (t) => {
  const dir = await tmpDir('stage1-kit', t);
  t.is(readPodPid({ dir }), undefined);
  writeFileSync(join(dir, 'pid'), '');
  t.is(readPodPid({ dir }), undefined);
  writeFileSync(join(dir, 'pid'), '42\n');
  writeFileSync(join(dir, 'ppid'), '7');
  t.is(readPodPid({ dir }), 42);
  t.is(readPodPid({ dir }, 'ppid'), 7);
});

test('newestMtime sees the newest file or directory below a path', async (t) => {
  const dir = await tmpDir('stage1-kit', t);
  mkdirSync(join(dir, 'a/b'), { recursive: true });
  writeFileSync(join(dir, 'a/b/f'), '');
  utimesSync(join(dir, 'a/b/f'), 2_000_000, 2_000_000);
  for (const d of ['a/b', 'a', '.']) utimesSync(join(dir, d), 1_000_000, 1_000_000);
  t.is(newestMtime(dir), 2_000_000_000);
  t.is(newestMtime(join(dir, 'a/b/f')), 2_000_000_000);
});

test('ensureBuilt builds only when the output is missing or older than an input', async (t) => {
  // a package directory without ../../tools/build.mjs: a build attempt fails
  const pkgDir = join(await tmpDir('stage1-kit', t), 'packages', 'x');
  mkdirSync(join(pkgDir, 'src'), { recursive: true });
  mkdirSync(join(pkgDir, 'dist'));
  writeFileSync(join(pkgDir, 'src/a.ts'), '');
  for (const d of ['src/a.ts', 'src']) utimesSync(join(pkgDir, d), 1_000_000, 1_000_000);
  const opts = { pkgDir, output: 'dist/x.aci', inputs: ['src', 'no-such-dir'] };
  await t.throwsAsync(ensureBuilt(opts));
  writeFileSync(join(pkgDir, 'dist/x.aci'), '');
  t.is(await ensureBuilt(opts), join(pkgDir, 'dist/x.aci'));
  utimesSync(join(pkgDir, 'src/a.ts'), Date.now() / 1000 + 60, Date.now() / 1000 + 60);
  await t.throwsAsync(ensureBuilt(opts));
});
