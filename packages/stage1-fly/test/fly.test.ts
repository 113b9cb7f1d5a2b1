/**
 * The fly stage1 image, run for real (root): stage0 is simulated by test/helpers.ts, which
 * extracts dist/stage1-fly.aci and a busybox app image into a pod directory and execs the
 * entrypoints with the pod lock on RKT_LOCK_FD.
 */
import test from 'ava';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readMountInfo } from '@rktnetes/sys';
import { assertNoLeaks, busyboxImage, parseProbeOutput, privilegedTest, readTar, runCommandOk, testIf, tmpDir } from '@rktnetes/testkit';
import {
  canRunRkt,
  ensureFlyAci,
  rktIn,
  hostMountsUnder,
  keyValues,
  lockHeld,
  makePod,
  podLeakCheck,
  readPid,
  runEntrypoint,
  startEntrypoint,
  waitFor,
  type TestApp,
} from './helpers';

const rootTest = privilegedTest(test);
const rktTest = testIf(test, canRunRkt(), 'needs root and a built packages/stage0/dist/rkt.mjs');

let aci = '';
test.before(async () => {
  aci = await ensureFlyAci();
});

const probeApp = async (runtimeApp: Record<string, unknown> = {}, image: Parameters<typeof busyboxImage>[0] = {}): Promise<TestApp> => ({
  name: 'probe',
  image: await busyboxImage(image),
  runtime: runtimeApp,
});

const sh = (script: string) => ({ exec: ['/bin/sh', '-c', script], user: '0', group: '0' });

test('the image: manifest annotations, entrypoint links, bundle and koffi', async (t) => {
  const entries = await readTar(readFileSync(aci));
  const byName = new Map(entries.map((e) => [e.name.replace(/\/$/, ''), e]));
  for (const ep of ['run', 'enter', 'gc', 'stop']) {
    t.is(byName.get(`rootfs/${ep}`)?.type, 'symlink', ep);
    t.is(byName.get(`rootfs/${ep}`)?.linkname, 'stage1-fly.mjs');
  }
  t.is((byName.get('rootfs/stage1-fly.mjs')?.mode ?? 0) & 0o777, 0o755);
  t.truthy(byName.get('rootfs/node_modules/koffi/build/koffi/linux_x64/koffi.node'));
  const manifest = JSON.parse(byName.get('manifest')!.content.toString()) as {
    name: string;
    labels: Array<{ name: string; value: string }>;
    annotations: Array<{ name: string; value: string }>;
  };
  t.is(manifest.name, 'coreos.com/rkt/stage1-fly');
  const labels = Object.fromEntries(manifest.labels.map((l) => [l.name, l.value]));
  t.deepEqual(labels, { version: '0.1.0', arch: 'amd64', os: 'linux' });
  const ann = Object.fromEntries(manifest.annotations.map((a) => [a.name, a.value]));
  t.deepEqual(ann, {
    'coreos.com/rkt/stage1/run': '/run',
    'coreos.com/rkt/stage1/enter': '/enter',
    'coreos.com/rkt/stage1/gc': '/gc',
    'coreos.com/rkt/stage1/stop': '/stop',
    'coreos.com/rkt/stage1/interface-version': '6',
  });
  t.true(byName.get('rootfs/stage1-fly.mjs')!.content.toString().startsWith('#!/usr/bin/env node\n'));
});

rootTest.serial('run: execs the app with its credentials, environment, cwd and mounts; exit status passes through', async (t) => {
  const app = await probeApp(
    {
      app: {
        exec: ['probe', '--exit', '7'],
        user: 'user',
        group: 'user',
        supplementaryGIDs: [1001],
        workingDirectory: '/home/user',
        environment: [
          { name: 'FOO', value: 'bar baz' },
          { name: 'HOME', value: '/home/user' },
          { name: 'PATH', value: '/bin:/' },
        ],
      },
    },
    { exec: ['/probe'] },
  );
  const pod = await makePod(t, aci, [app]);
  const leaks = await podLeakCheck(pod.dataDir);
  const r = await runEntrypoint(pod, 'run', ['--net=default', pod.uuid]);
  t.is(r.code, 7, r.stderr);
  t.is(r.stderr, '');
  const p = parseProbeOutput(r.stdout);
  t.like(p, { uid: 1000, euid: 1000, gid: 1000, egid: 1000, cwd: '/home/user' });
  t.deepEqual(p.groups, [1000, 1001]);
  t.is(readPid(pod), p.pid, 'the app is the process run started, named in pid');
  t.deepEqual(p.env, {
    SHELL: '/bin/sh',
    USER: 'root',
    LOGNAME: 'root',
    FOO: 'bar baz',
    HOME: '/home/user',
    PATH: '/bin:/',
    AC_APP_NAME: 'probe',
  });
  t.not(p.namespaces.mnt, readlinkSync('/proc/self/ns/mnt'), 'a private mount namespace');
  t.is(p.namespaces.net, readlinkSync('/proc/self/ns/net'), 'the host network');
  t.is(p.namespaces.ipc, readlinkSync('/proc/self/ns/ipc'), 'the host IPC namespace by default');
  const mounts = new Map(p.mounts.map((m) => [m.target, m.fstype]));
  t.is(mounts.get('/proc'), 'proc');
  t.is(mounts.get('/sys'), 'sysfs');
  t.is(mounts.get('/dev'), 'devtmpfs');
  t.is(mounts.get('/tmp'), 'tmpfs');
  t.true(p.mounts.some((m) => m.target.startsWith('/sys/fs/cgroup')), '/sys is bound recursively');
  t.is(readFileSync(join(pod.rootfs('probe'), 'etc/hosts'), 'utf8'), '127.0.0.1 localhost localdomain\n', 'fallback /etc/hosts');
  t.is(
    readFileSync(join(pod.stage1Rootfs, 'rkt/env/probe'), 'utf8'),
    'SHELL=/bin/sh\nUSER=root\nLOGNAME=root\nFOO=bar baz\nHOME=/home/user\nPATH=/bin:/\nAC_APP_NAME=probe\n',
  );
  t.deepEqual(hostMountsUnder(pod.dir), []);
  t.false(lockHeld(pod.dir), 'the lock is released when the app exits');
  await assertNoLeaks(t, leaks);
});

rootTest.serial('run: the mounts exist only in the pod; the lock is held while the app runs; stop sends SIGTERM', async (t) => {
  const pod = await makePod(t, aci, [await probeApp({}, { exec: ['/probe', '--sleep', '60'] })]);
  const leaks = await podLeakCheck(pod.dataDir);
  const run = startEntrypoint(pod, 'run', [pod.uuid]);
  const pid = await waitFor('pid', () => readPid(pod));
  await waitFor('the probe report', () => (existsSync(`/proc/${pid}/root/probe`) && readlinkSync(`/proc/${pid}/exe`).includes('busybox') ? true : undefined));
  t.deepEqual(hostMountsUnder(pod.dir), [], 'the host sees none of the pod mounts while it runs');
  const inside = readMountInfo(pid).map((m) => m.mountPoint);
  t.true(inside.includes('/proc') && inside.includes('/tmp') && inside.includes('/dev'), inside.join(' '));
  t.true(lockHeld(pod.dir), 'the pod lock is held while the app runs');
  t.is(readlinkSync(`/proc/${pid}/root`), pod.rootfs('probe'));

  const stop = await runEntrypoint(pod, 'stop', [pod.uuid]);
  t.is(stop.code, 0, stop.stderr);
  const r = await run.done;
  t.is(r.code, 143);
  t.is(parseProbeOutput(r.stdout).signal, 'TERM');
  t.false(lockHeld(pod.dir));
  t.deepEqual(hostMountsUnder(pod.dir), []);
  await assertNoLeaks(t, leaks);
});

rootTest.serial('stop --force kills the app and, as it leads its process group, its children', async (t) => {
  const pod = await makePod(t, aci, [await probeApp({}, { exec: ['/probe', '--sleep', '60'] })]);
  const leaks = await podLeakCheck(pod.dataDir);
  const run = startEntrypoint(pod, 'run', [pod.uuid], { detached: true });
  const pid = await waitFor('pid', () => readPid(pod));
  // the probe's background sleep inherits the lock fd: it must die too
  await waitFor('the probe sleeping', () => (readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim() !== '' ? true : undefined));
  t.is(Number(readFileSync(join(pod.dir, 'pgid'), 'utf8')), pid);
  const stop = await runEntrypoint(pod, 'stop', ['--force', pod.uuid]);
  t.is(stop.code, 0, stop.stderr);
  const r = await run.done;
  t.is(r.signal, 'SIGKILL');
  await waitFor('the lock to be released', () => (lockHeld(pod.dir) ? undefined : true), 5000);
  const again = await runEntrypoint(pod, 'stop', ['--force', pod.uuid]);
  t.is(again.code, 0, 'stopping a stopped pod is not an error');
  await assertNoLeaks(t, leaks);
});

rootTest.serial('run: volumes (host rw/ro/file/recursive, empty) and symlinks inside the image stay inside', async (t) => {
  const pod0 = await makePod(t, aci, []);
  const vols = join(pod0.dataDir, 'vols');
  for (const d of ['rw', 'ro', 'rec/sub']) mkdirSync(join(vols, d), { recursive: true });
  writeFileSync(join(vols, 'ro', 'in'), 'read me\n');
  writeFileSync(join(vols, 'file'), 'a file volume\n');
  await runCommandOk('mount', ['-t', 'tmpfs', 'tmpfs', join(vols, 'rec/sub')]);
  t.teardown(() => runCommandOk('umount', [join(vols, 'rec/sub')]).then(() => undefined));
  writeFileSync(join(vols, 'rec/sub/marker'), 'x');
  const script = [
    'echo hello > /mnt/rw/out && echo rw=ok || echo rw=fail',
    '(echo x > /mnt/ro/out) 2>/dev/null && echo ro=writable || echo ro=readonly',
    'echo ro.in=$(cat /mnt/ro/in)',
    'echo file=$(cat /mnt/file)',
    '[ -e /mnt/rec/sub/marker ] && echo recsub=visible || echo recsub=hidden',
    '(echo x > /mnt/rec/sub/out) 2>/dev/null && echo recsub=writable || echo recsub=readonly',
    '[ -e /mnt/norec/sub/marker ] && echo norecsub=visible || echo norecsub=hidden',
    'echo empty=$(stat -c "%a %u %g" /mnt/empty)',
    'touch /mnt/empty/x && echo emptywrite=ok',
    'echo linked=$(cat /data/out)',
  ].join('\n');
  const app = await probeApp(
    {
      app: sh(script),
      mounts: [
        { volume: 'rw', path: '/mnt/rw' },
        { volume: 'ro', path: '/mnt/ro' },
        { volume: 'file', path: '/mnt/file' },
        { volume: 'rec', path: '/mnt/rec' },
        { volume: 'norec', path: '/mnt/norec' },
        { volume: 'empty', path: '/mnt/empty' },
        { volume: 'linked', path: '/data' },
      ],
    },
    { extraFiles: { data: { type: 'symlink', target: '/srv/data' } } },
  );
  const pod = await makePod(t, aci, [app], {
    volumes: [
      { name: 'rw', kind: 'host', source: join(vols, 'rw') },
      { name: 'ro', kind: 'host', source: join(vols, 'ro'), readOnly: true },
      { name: 'file', kind: 'host', source: join(vols, 'file'), readOnly: true },
      { name: 'rec', kind: 'host', source: join(vols, 'rec'), readOnly: true, recursive: true },
      { name: 'norec', kind: 'host', source: join(vols, 'rec') },
      { name: 'empty', kind: 'empty', mode: '0770', uid: 1000, gid: 1001 },
      { name: 'linked', kind: 'host', source: join(vols, 'rw') },
    ],
  });
  const leaks = await podLeakCheck(pod.dataDir);
  const hostSrvData = existsSync('/srv/data');
  const r = await runEntrypoint(pod, 'run', [pod.uuid]);
  t.is(r.code, 0, r.stderr);
  t.like(keyValues(r.stdout), {
    rw: 'ok',
    ro: 'readonly',
    'ro.in': 'read me',
    file: 'a file volume',
    recsub: 'readonly',
    norecsub: 'hidden',
    empty: '770 1000 1001',
    emptywrite: 'ok',
    linked: 'hello',
  });
  t.true(r.stdout.includes('recsub=visible'), r.stdout);
  t.is(readFileSync(join(vols, 'rw', 'out'), 'utf8'), 'hello\n');
  t.false(existsSync(join(vols, 'ro', 'out')));
  t.true(existsSync(join(pod.dir, 'sharedVolumes', 'empty', 'x')));
  t.true(existsSync(join(pod.rootfs('probe'), 'srv/data')), 'the symlinked mount point was created inside the app');
  t.is(existsSync('/srv/data'), hostSrvData, 'and not on the host');
  await assertNoLeaks(t, leaks);
});

rootTest.serial('run: readOnlyRootFS makes / read-only, /tmp stays writable', async (t) => {
  const app = await probeApp({
    readOnlyRootFS: true,
    app: sh('(touch /x) 2>/dev/null && echo root=writable || echo root=readonly; touch /tmp/x && echo tmp=ok'),
  });
  const pod = await makePod(t, aci, [app]);
  const leaks = await podLeakCheck(pod.dataDir);
  const r = await runEntrypoint(pod, 'run', [pod.uuid]);
  t.is(r.code, 0, r.stderr);
  t.like(keyValues(r.stdout), { root: 'readonly', tmp: 'ok' });
  await assertNoLeaks(t, leaks);
});

rootTest.serial('run: --dns-conf-mode host and stage0', async (t) => {
  const app = await probeApp({ app: sh('echo resolv=$(cat /etc/resolv.conf | tr "\\n" "|"); echo hosts=$(cat /etc/hosts | tr "\\n" "|")') });
  const pod = await makePod(t, aci, [app]);
  const leaks = await podLeakCheck(pod.dataDir);
  const flat = (s: string) => s.replaceAll('\n', '|').trim();

  const host = await runEntrypoint(pod, 'run', ['--dns-conf-mode=resolv=host,hosts=host', pod.uuid]);
  t.is(host.code, 0, host.stderr);
  t.like(keyValues(host.stdout), { resolv: flat(readFileSync('/etc/resolv.conf', 'utf8')), hosts: flat(readFileSync('/etc/hosts', 'utf8')) });

  mkdirSync(join(pod.stage1Rootfs, 'etc'), { recursive: true });
  writeFileSync(join(pod.stage1Rootfs, 'etc/rkt-resolv.conf'), 'nameserver 192.0.2.1\n');
  writeFileSync(join(pod.stage1Rootfs, 'etc/rkt-hosts'), '192.0.2.2 stage0-host\n');
  const stage0 = await runEntrypoint(pod, 'run', ['--dns-conf-mode=resolv=stage0,hosts=stage0', pod.uuid]);
  t.is(stage0.code, 0, stage0.stderr);
  t.like(keyValues(stage0.stdout), { resolv: 'nameserver 192.0.2.1|', hosts: '192.0.2.2 stage0-host|' });
  await assertNoLeaks(t, leaks);
});

rootTest.serial('run: --ipc=private gives the app its own IPC namespace', async (t) => {
  const pod = await makePod(t, aci, [await probeApp()]);
  const r = await runEntrypoint(pod, 'run', ['--ipc=private', pod.uuid]);
  t.is(r.code, 0, r.stderr);
  t.not(parseProbeOutput(r.stdout).namespaces.ipc, readlinkSync('/proc/self/ns/ipc'));
});

rootTest.serial('run: errors before exec are one line with status 254, and leave nothing behind', async (t) => {
  const two = await makePod(t, aci, [await probeApp(), { ...(await probeApp()), name: 'second' }]);
  const leaks = await podLeakCheck(two.dataDir);
  const r = await runEntrypoint(two, 'run', [two.uuid]);
  t.is(r.code, 254);
  t.is(r.stderr, `stage1-fly: run: stage1-fly supports a single app per pod; pod ${two.uuid} has 2 apps\n`);
  t.is(readPid(two), undefined);

  const badUser = await makePod(t, aci, [await probeApp({ app: { exec: ['/probe'], user: 'nobody-here', group: '0' } })]);
  const u = await runEntrypoint(badUser, 'run', [badUser.uuid]);
  t.is(u.code, 254);
  t.regex(u.stderr, /^stage1-fly: run: cannot resolve user "nobody-here" of app probe[^\n]*\n$/);

  const noExec = await makePod(t, aci, [await probeApp({ app: { exec: ['no-such-program'], user: '0', group: '0' } })]);
  const e = await runEntrypoint(noExec, 'run', [noExec.uuid]);
  t.is(e.code, 254);
  t.regex(e.stderr, /^stage1-fly: run: cannot find "no-such-program" of app probe in its PATH\n$/);

  const noLock = await runEntrypoint(badUser, 'run', [badUser.uuid], { lock: false });
  t.is(noLock.code, 254);
  t.regex(noLock.stderr, /RKT_LOCK_FD is not set/);

  const users = await runEntrypoint(badUser, 'run', ['--private-users=100000:65536', badUser.uuid]);
  t.is(users.code, 254);
  t.regex(users.stderr, /stage1-fly cannot run pods with --private-users/);

  const usage = await runEntrypoint(badUser, 'run', ['--no-such-flag', badUser.uuid]);
  t.is(usage.code, 254);
  t.is(usage.stderr.split('\n').length, 2, 'one line');
  for (const p of [two, badUser, noExec]) t.deepEqual(hostMountsUnder(p.dir), []);
  await assertNoLeaks(t, leaks);
});

rootTest.serial('enter runs a command in the running app: its root, mount namespace, cwd, environment and user', async (t) => {
  const app = await probeApp(
    { app: { exec: ['/probe', '--sleep', '60'], user: '1000', group: '1000', workingDirectory: '/home/user', environment: [{ name: 'FOO', value: 'bar' }] } },
    { extraFiles: { 'etc/marker': 'inside the app\n' } },
  );
  const pod = await makePod(t, aci, [app]);
  const leaks = await podLeakCheck(pod.dataDir);
  const run = startEntrypoint(pod, 'run', [pod.uuid]);
  const pid = await waitFor('pid', () => readPid(pod));
  await waitFor('the app', () => (readlinkSync(`/proc/${pid}/exe`).includes('busybox') ? true : undefined));

  const probe = await runEntrypoint(pod, 'enter', [`--pid=${pid}`, '--appname=probe', '--', '/probe']);
  t.is(probe.code, 0, probe.stderr);
  const p = parseProbeOutput(probe.stdout);
  t.is(p.namespaces.mnt, readlinkSync(`/proc/${pid}/ns/mnt`));
  t.like(p, { uid: 1000, gid: 1000, cwd: '/home/user' });
  t.like(p.env, { FOO: 'bar', AC_APP_NAME: 'probe' });
  t.truthy(p.mounts.find((m) => m.target === '/tmp'));

  const shell = await runEntrypoint(pod, 'enter', [`--pid=${pid}`], { input: 'cat /etc/marker; exit 3\n' });
  t.is(shell.code, 3, shell.stderr);
  t.is(shell.stdout, 'inside the app\n');

  const wrongApp = await runEntrypoint(pod, 'enter', [`--pid=${pid}`, '--appname=other', '--', '/bin/true']);
  t.is(wrongApp.code, 254);
  t.regex(wrongApp.stderr, /^stage1-fly: enter: pod has no app other/);

  await runEntrypoint(pod, 'stop', [pod.uuid]);
  t.is((await run.done).code, 143);
  await assertNoLeaks(t, leaks);
});

rootTest.serial('gc unmounts what is left under the pod, after a clean exit or a crash, and can run twice', async (t) => {
  const pod = await makePod(t, aci, [await probeApp({}, { exec: ['/probe', '--sleep', '60'] })]);
  const leaks = await podLeakCheck(pod.dataDir);
  // stage0 mounts the app rootfs (an overlay, here a bind) before exec'ing run
  const rootfs = pod.rootfs('probe');
  await runCommandOk('mount', ['--bind', rootfs, rootfs]);
  t.teardown(async () => {
    for (const m of hostMountsUnder(pod.dir).reverse()) await runCommandOk('umount', ['-l', m]);
  });
  const run = startEntrypoint(pod, 'run', [pod.uuid], { detached: true });
  const pid = await waitFor('pid', () => readPid(pod));
  await waitFor('the app', () => (readlinkSync(`/proc/${pid}/exe`).includes('busybox') ? true : undefined));
  process.kill(-pid, 'SIGKILL'); // a crash: the app and its children die, nothing of stage1 runs after
  await run.done;
  t.deepEqual(hostMountsUnder(pod.dir), [rootfs], 'only what stage0 mounted is left');

  const gc = await runEntrypoint(pod, 'gc', ['--debug', '--local-config=/etc/rkt', pod.uuid]);
  t.is(gc.code, 0, gc.stderr);
  t.regex(gc.stderr, /gc: pod [0-9a-f-]+: unmounted /);
  t.deepEqual(hostMountsUnder(pod.dir), []);
  t.false(existsSync(join(pod.dir, 'pgid')));
  const again = await runEntrypoint(pod, 'gc', [pod.uuid]);
  t.is(again.code, 0, again.stderr);
  t.is(again.stderr, '');
  rmSync(join(pod.dir, 'stage1'), { recursive: true });
  await assertNoLeaks(t, leaks);
});

rootTest.serial('run: its own cost, from process start to execve', async (t) => {
  const pod = await makePod(t, aci, [await probeApp({ app: { exec: ['/bin/true'], user: '0', group: '0' } })]);
  const samples: Array<{ total: number; own: number }> = [];
  for (let i = 0; i < 5; i++) {
    const r = await runEntrypoint(pod, 'run', ['--debug', pod.uuid]);
    t.is(r.code, 0, r.stderr);
    const m = /after ([\d.]+) ms since process start, ([\d.]+) ms in stage1-fly/.exec(r.stderr);
    t.truthy(m, r.stderr);
    samples.push({ total: Number(m![1]), own: Number(m![2]) });
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const own = median(samples.map((s) => s.own));
  const total = median(samples.map((s) => s.total));
  const best = Math.min(...samples.map((s) => s.own));
  t.log(`run: median ${own.toFixed(1)} ms (best ${best.toFixed(1)} ms) in stage1-fly's own code, median ${total.toFixed(1)} ms since process start (node boot included)`);
  t.true(own < 1000, `own cost ${own} ms`);
});

rktTest.serial('through rkt: run, status, enter, stop and gc of a fly pod', async (t) => {
  const dir = await tmpDir('fly-rkt', t);
  const image = join(dir, 'probe.aci');
  writeFileSync(image, await busyboxImage({ app: { user: 'user', group: 'user' } }));
  const leaks = await podLeakCheck(dir);
  const rkt = rktIn(dir);
  const stage1 = `--stage1-path=${aci}`;

  const once = await rkt(['run', stage1, '--insecure-options=image', image, '--exec=/probe', '--', '--exit', '4']);
  t.is(once.code, 4, once.stderr);
  t.like(parseProbeOutput(once.stdout), { uid: 1000, gid: 1000 });

  const running = rkt(['run', stage1, '--insecure-options=image', image, '--exec=/probe', '--', '--sleep', '60']);
  const uuid = await waitForAsync('a running pod', async () => {
    const l = await rkt(['list', '--no-legend', '--full']);
    return l.stdout.split('\n').find((line) => /\srunning\s/.test(line))?.split(/\s+/)[0];
  });
  const status = await rkt(['status', uuid]);
  t.regex(status.stdout, /^state=running$/m);
  const enter = await rkt(['enter', uuid, '/bin/sh', '-c', 'echo app=$AC_APP_NAME; id -u']);
  t.is(enter.code, 0, enter.stderr);
  t.is(enter.stdout, 'app=busybox-probe\n1000\n');
  const stop = await rkt(['stop', uuid]);
  t.is(stop.code, 0, stop.stderr);
  const r = await running;
  t.is(r.code, 143, r.stderr);
  const gc = await rkt(['gc', '--grace-period=0s']);
  t.is(gc.code, 0, gc.stderr);
  t.deepEqual(hostMountsUnder(dir), []);
  await assertNoLeaks(t, leaks);
});

async function waitForAsync<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
