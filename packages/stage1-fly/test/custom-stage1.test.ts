/**
 * examples/custom-stage1: the POSIX shell stage1 built with its build.sh and run the way stage0
 * runs a stage1 (simulated by test/helpers.ts: pod directory, RKT_LOCK_FD, cwd, argv).
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertNoLeaks, busyboxImage, privilegedTest, readTar, runCommand, runCommandOk, testIf, tmpDir } from '@rktnetes/testkit';
import { canRunRkt, keyValues, lockHeld, makePod, PKG_DIR, podLeakCheck, readPid, rktIn, runEntrypoint, startEntrypoint, waitFor, type TestApp } from './helpers';

const EXAMPLE = join(PKG_DIR, '..', '..', 'examples', 'custom-stage1');
const rootTest = privilegedTest(test);
const rktTest = testIf(test, canRunRkt(), 'needs root and a built packages/stage0/dist/rkt.mjs');

async function buildExample(dir: string, name = 'custom-stage1.aci'): Promise<string> {
  const out = join(dir, name);
  await runCommandOk('sh', [join(EXAMPLE, 'build.sh'), out]);
  return out;
}

const app = async (runtime: Record<string, unknown>, image: Parameters<typeof busyboxImage>[0] = {}): Promise<TestApp> => ({
  name: 'app',
  image: await busyboxImage(image),
  runtime,
});

test('build.sh writes a reproducible ACI with the entrypoint annotations', async (t) => {
  const dir = await tmpDir('custom-stage1', t);
  const a = await buildExample(dir, 'a.aci');
  const b = await buildExample(dir, 'b.aci');
  const sha = (p: string) => createHash('sha512').update(readFileSync(p)).digest('hex');
  t.is(sha(a), sha(b));
  const entries = await readTar(readFileSync(a));
  t.deepEqual(
    entries.map((e) => `${e.name} ${(e.mode & 0o777).toString(8)} ${e.uid}:${e.gid}`),
    ['manifest 644 0:0', 'rootfs/ 755 0:0', 'rootfs/enter 755 0:0', 'rootfs/gc 755 0:0', 'rootfs/jsonflat.awk 644 0:0', 'rootfs/run 755 0:0', 'rootfs/stop 755 0:0'],
  );
  const manifest = JSON.parse(entries[0]!.content.toString()) as { annotations: Array<{ name: string; value: string }> };
  t.deepEqual(Object.fromEntries(manifest.annotations.map((x) => [x.name, x.value])), {
    'coreos.com/rkt/stage1/run': '/run',
    'coreos.com/rkt/stage1/enter': '/enter',
    'coreos.com/rkt/stage1/gc': '/gc',
    'coreos.com/rkt/stage1/stop': '/stop',
    'coreos.com/rkt/stage1/interface-version': '1',
  });
});

test('jsonflat.awk flattens JSON to path/value lines and rejects broken input', async (t) => {
  const awk = join(EXAMPLE, 'rootfs', 'jsonflat.awk');
  const r = await runCommandOk('awk', ['-f', awk], { input: '{"apps": [{"name": "a", "app": {"exec": ["/bin/x", "say \\"hi\\"", "a\\\\b"]}}], "n": -1.5e3, "t": true, "e": {}, "z": []}' });
  t.is(r.stdout, '/apps/0/name\ta\n/apps/0/app/exec/0\t/bin/x\n/apps/0/app/exec/1\tsay "hi"\n/apps/0/app/exec/2\ta\\b\n/n\t-1.5e3\n/t\ttrue\n');
  const bad = await runCommand('awk', ['-f', awk], { input: '{"a": [1, 2}' });
  t.is(bad.code, 2);
  t.regex(bad.stderr, /jsonflat: expected ',' or '\]'/);
});

rootTest.serial('run execs the single app chrooted, with its user, groups and env; pid, lock and exit status follow', async (t) => {
  const dir = await tmpDir('custom-stage1', t);
  const aci = await buildExample(dir);
  const script = 'echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)" | tr " " "\\n"; echo foo=$FOO; echo app=$AC_APP_NAME; echo path=$PATH; echo pwd=$(pwd); echo pid=$$; sleep 1; exit 5';
  const pod = await makePod(t, aci, [
    await app({
      app: {
        exec: ['sh', '-c', script],
        user: 'user',
        group: 'user',
        supplementaryGIDs: [1001],
        environment: [{ name: 'FOO', value: 'bar baz' }],
      },
    }),
  ]);
  const leaks = await podLeakCheck(pod.dataDir);
  const run = startEntrypoint(pod, 'run', ['--net=default', '--debug', pod.uuid]);
  await waitFor('pid', () => readPid(pod));
  t.true(lockHeld(pod.dir), 'the app holds the pod lock');
  const r = await run.done;
  t.is(r.code, 5, r.stderr);
  const kv = keyValues(r.stdout);
  t.like(kv, { uid: '1000', gid: '1000', foo: 'bar baz', app: 'app', pwd: '/', path: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' });
  t.regex(r.stdout, /^groups=1000$/m);
  t.regex(r.stdout, /^1001$/m);
  t.is(readPid(pod), Number(kv.pid), 'the app is the process stage0 started');
  t.false(lockHeld(pod.dir));
  await assertNoLeaks(t, leaks);
});

rootTest.serial('run falls back to the image app; refuses several apps and working directories other than /', async (t) => {
  const dir = await tmpDir('custom-stage1', t);
  const aci = await buildExample(dir);
  const fromImage = await makePod(t, aci, [await app({}, { exec: ['/bin/sh', '-c', 'echo from-image; exit 3'] })]);
  const r = await runEntrypoint(fromImage, 'run', [fromImage.uuid]);
  t.is(r.code, 3, r.stderr);
  t.is(r.stdout, 'from-image\n');

  const two = await makePod(t, aci, [await app({}), { ...(await app({})), name: 'other' }]);
  const multi = await runEntrypoint(two, 'run', [two.uuid]);
  t.is(multi.code, 254);
  t.is(multi.stderr, `custom-stage1: run: this stage1 runs exactly one app; pod ${two.uuid} has 2\n`);

  const wd = await makePod(t, aci, [await app({ app: { exec: ['/bin/true'], user: '0', group: '0', workingDirectory: '/tmp' } })]);
  const w = await runEntrypoint(wd, 'run', [wd.uuid]);
  t.is(w.code, 254);
  t.regex(w.stderr, /can only start apps in \//);

  const users = await runEntrypoint(wd, 'run', ['--private-users=100000:65536', wd.uuid]);
  t.is(users.code, 254);
  const noLock = await runEntrypoint(fromImage, 'run', [fromImage.uuid], { lock: false });
  t.is(noLock.code, 254);
  t.regex(noLock.stderr, /RKT_LOCK_FD is not set/);
});

rootTest.serial('enter runs a command in the app root; stop ends the app; gc succeeds', async (t) => {
  const dir = await tmpDir('custom-stage1', t);
  const aci = await buildExample(dir);
  const pod = await makePod(t, aci, [await app({ app: { exec: ['/bin/sleep', '60'], user: '0', group: '0' } }, { extraFiles: { 'etc/marker': 'in the app\n' } })]);
  const leaks = await podLeakCheck(pod.dataDir);
  const run = startEntrypoint(pod, 'run', [pod.uuid]);
  const pid = await waitFor('pid', () => readPid(pod));
  await waitFor('the app', () => (readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/bin/sleep') ? true : undefined));

  const enter = await runEntrypoint(pod, 'enter', [`--pid=${pid}`, '--appname=app', '--', '/bin/cat', '/etc/marker']);
  t.is(enter.code, 0, enter.stderr);
  t.is(enter.stdout, 'in the app\n');
  const shell = await runEntrypoint(pod, 'enter', [`--pid=${pid}`], { input: 'cat /etc/marker; exit 4\n' });
  t.is(shell.code, 4, shell.stderr);
  t.is(shell.stdout, 'in the app\n');

  const stop = await runEntrypoint(pod, 'stop', [pod.uuid]);
  t.is(stop.code, 0, stop.stderr);
  t.is((await run.done).signal, 'SIGTERM');
  t.false(lockHeld(pod.dir));
  const again = await runEntrypoint(pod, 'stop', ['--force', pod.uuid]);
  t.is(again.code, 0, 'a stopped pod stops quietly');
  const gc = await runEntrypoint(pod, 'gc', ['--debug', pod.uuid]);
  t.is(gc.code, 0);
  await assertNoLeaks(t, leaks);
});

rktTest.serial('through rkt: rkt run --stage1-path runs the shell stage1 end to end, rkt gc cleans up', async (t) => {
  const dir = await tmpDir('custom-stage1-rkt', t);
  const aci = await buildExample(dir);
  const image = join(dir, 'app.aci');
  writeFileSync(image, await busyboxImage({ exec: ['/bin/sh', '-c', 'echo uid=$(id -u); echo app=$AC_APP_NAME; exit 6'], app: { user: 'user', group: 'user' } }));
  const leaks = await podLeakCheck(dir);
  const rkt = rktIn(dir);
  const r = await rkt(['run', `--stage1-path=${aci}`, '--insecure-options=image', image]);
  t.is(r.code, 6, r.stderr);
  t.like(keyValues(r.stdout), { uid: '1000', app: 'busybox-probe' });
  const gc = await rkt(['gc', '--grace-period=0s']);
  t.is(gc.code, 0, gc.stderr);
  await assertNoLeaks(t, leaks);
});
