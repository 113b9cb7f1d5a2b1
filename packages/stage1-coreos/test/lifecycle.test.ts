/**
 * A stage1-coreos pod's life: exit statuses, several apps, stop, enter, resource limits, the
 * network modes, gc after a crash, and what an idle pod costs. Privileged (root).
 */
import test from 'ava';
import { closeSync, existsSync, readFileSync, readlinkSync } from 'node:fs';
import { realSys } from '@rktnetes/sys';
import { join } from 'node:path';
import { hasBusybox, isRoot, testIf } from '@rktnetes/testkit';
import { preparePod, readPid, readStatus, runAndGc, runEntrypoint, startPod, waitFor, type TestPod } from './helpers/pod';

const it = testIf(test, isRoot() && hasBusybox(), 'needs root and busybox-static');

/** The pod cgroup directory of `pod` in the v1 hierarchy of `controller`. */
function podCgroup(pod: TestPod, controller: string): string {
  const cfg = JSON.parse(readFileSync(join(pod.dir, 'runtime-config'), 'utf8')) as { cgroups: string[] };
  const dir = cfg.cgroups.find((c) => c.startsWith(`/sys/fs/cgroup/${controller}/`));
  if (!dir) throw new Error(`no ${controller} cgroup`);
  return dir;
}

function vmRssKb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

it('the exit status of a one-app pod is the app\'s', async (t) => {
  const pod = await preparePod(t, [{ name: 'probe', image: { exec: ['/probe', '--exit', '7'] } }]);
  const r = await runAndGc(t, pod);
  t.is(r.code, 7);
  t.is(readStatus(pod, 'probe'), 7);
});

it('several apps: each gets its status; the pod ends with the first failure, which stops the others', async (t) => {
  const ok = await preparePod(t, [
    { name: 'first', image: { exec: ['/bin/true'] } },
    { name: 'second', image: { exec: ['/bin/sh', '-c', 'sleep 0.3; exit 3'] } },
  ]);
  const r = await runAndGc(t, ok);
  t.is(r.code, 3);
  t.is(readStatus(ok, 'first'), 0);
  t.is(readStatus(ok, 'second'), 3);

  const failing = await preparePod(t, [
    { name: 'sleeper', image: { exec: ['/probe', '--sleep', '100'] } },
    { name: 'failer', image: { exec: ['/bin/sh', '-c', 'sleep 0.3; exit 5'] } },
  ]);
  const started = Date.now();
  const f = await runAndGc(t, failing);
  t.is(f.code, 5);
  t.is(readStatus(failing, 'failer'), 5);
  t.is(readStatus(failing, 'sleeper'), 143, 'stopped with SIGTERM');
  t.true(Date.now() - started < 8000);

  const shared = await preparePod(t, [
    { name: 'a', image: { exec: ['/bin/sh', '-c', 'echo $$ > /tmp/pid; ls /proc | grep -c "^[0-9]"'] } },
    { name: 'b', image: { exec: ['/bin/true'] } },
  ]);
  t.is((await runAndGc(t, shared)).code, 0, 'apps share the pid namespace');
});

it('stop sends SIGTERM to the pod, --force kills it; the pid file names PID 1 of the pod', async (t) => {
  const pod = await preparePod(t, [
    { name: 'one', image: { exec: ['/probe', '--sleep', '100'] } },
    { name: 'two', image: { exec: ['/probe', '--sleep', '100'] } },
  ]);
  const run = startPod(pod);
  const pid = await waitFor('pid file', () => readPid(pod));
  t.is(readFileSync(`/proc/${pid}/status`, 'utf8').match(/^NSpid:\s+\d+\s+(\d+)$/m)?.[1], '1');
  t.is(readlinkSync(`/proc/${pid}/root`), '/', 'PID 1 lives in the stage1 root');
  const stop = await runEntrypoint(pod, 'stop', [pod.uuid]);
  t.is(stop.code, 0, stop.stderr);
  const r = await run.done;
  t.is(r.code, 143);
  t.is(readStatus(pod, 'one'), 143);
  t.is(readStatus(pod, 'two'), 143);
  t.regex(r.stdout, /signal=TERM/);
  t.is((await runEntrypoint(pod, 'stop', [pod.uuid])).code, 0, 'stopping an exited pod is fine');
  t.is((await runEntrypoint(pod, 'gc', [pod.uuid])).code, 0);

  const forced = await preparePod(t, [{ name: 'stubborn', image: { exec: ['/bin/sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 1; done'] } }]);
  const fr = startPod(forced);
  await waitFor('pid file', () => readPid(forced));
  t.is((await runEntrypoint(forced, 'stop', ['--force', forced.uuid])).code, 0);
  t.is((await fr.done).code, 137);
  t.is((await runEntrypoint(forced, 'gc', [forced.uuid])).code, 0);
});

it('the pod lock is held while the pod runs; usage errors exit 254; --interactive passes stdin', async (t) => {
  const pod = await preparePod(t, [{ name: 'probe', image: { exec: ['/probe', '--sleep', '100'] } }]);
  const run = startPod(pod);
  await waitFor('pid file', () => readPid(pod));
  const sys = realSys();
  const probe = () => {
    const fd = sys.openDirFd(pod.dir);
    try {
      return sys.flock(fd, 'sh', { nonBlocking: true });
    } finally {
      closeSync(fd);
    }
  };
  t.false(probe(), 'running: the lock is held');
  await runEntrypoint(pod, 'stop', [pod.uuid]);
  await run.done;
  t.true(probe(), 'exited: the lock is free');
  t.is((await runEntrypoint(pod, 'gc', [pod.uuid])).code, 0);

  const bad = await runAndGc(t, pod, ['--no-such-flag']);
  t.is(bad.code, 254);
  t.regex(bad.stderr, /^stage1: .*no-such-flag/m);

  const cat = await preparePod(t, [{ name: 'cat', image: { exec: ['/bin/cat'] } }]);
  const c = await startPod(cat, ['--net=host', '--interactive'], { input: 'from stdin\n' }).done;
  t.is(c.stdout, 'from stdin\n');
  t.is((await runEntrypoint(cat, 'gc', [cat.uuid])).code, 0);
  const quiet = await preparePod(t, [{ name: 'cat', image: { exec: ['/bin/cat'] } }]);
  t.is((await startPod(quiet, ['--net=host'], { input: 'ignored\n' }).done).stdout, '', 'without --interactive stdin is /dev/null');
  t.is((await runEntrypoint(quiet, 'gc', [quiet.uuid])).code, 0);
});

it('enter runs a command in an app\'s namespaces, root and environment', async (t) => {
  const pod = await preparePod(t, [
    { name: 'web', image: { exec: ['/probe', '--sleep', '100'], app: { environment: [{ name: 'ROLE', value: 'frontend' }] } } },
    { name: 'db', image: { exec: ['/probe', '--sleep', '100'] } },
  ]);
  const run = startPod(pod, ['--net=none', '--hostname=entered']);
  const pid = await waitFor('pid file', () => readPid(pod));
  const e = await runEntrypoint(pod, 'enter', [`--pid=${pid}`, '--appname=web', '--', '/bin/sh', '-c', 'echo $AC_APP_NAME $ROLE $(hostname) $(pwd); cat /proc/1/comm; ip -o link | wc -l']);
  t.is(e.code, 0, e.stderr);
  t.deepEqual(e.stdout.trim().split('\n'), ['web frontend entered /', 'init', '1']);
  const code = await runEntrypoint(pod, 'enter', [`--pid=${pid}`, '--appname=db', '--', '/bin/sh', '-c', 'exit 4']);
  t.is(code.code, 4);
  const missing = await runEntrypoint(pod, 'enter', [`--pid=${pid}`, '--appname=nope', '--', '/bin/true']);
  t.is(missing.code, 254);
  t.regex(missing.stderr, /app nope is not running/);
  await runEntrypoint(pod, 'stop', [pod.uuid]);
  await run.done;
  t.is((await runEntrypoint(pod, 'gc', [pod.uuid])).code, 0);
});

it('resource isolators: the memory limit OOM-kills the app (137), cpu quota and shares are set', async (t) => {
  const oom = await preparePod(t, [
    { name: 'hog', image: { exec: ['/bin/dd', 'if=/dev/zero', 'of=/dev/null', 'bs=200M', 'count=1'], app: { isolators: [{ name: 'resource/memory', value: { limit: '64Mi' } }] } } },
  ]);
  const r = await runAndGc(t, oom);
  t.is(r.code, 137, r.stderr);
  t.is(readStatus(oom, 'hog'), 137);

  const limited = await preparePod(t, [
    {
      name: 'calm',
      image: {
        exec: ['/probe', '--sleep', '100'],
        app: {
          isolators: [
            { name: 'resource/memory', value: { limit: '64Mi' } },
            { name: 'resource/cpu', value: { limit: '500m' } },
            { name: 'os/linux/cpu-shares', value: 512 },
            { name: 'os/linux/oom-score-adj', value: 500 },
          ],
        },
      },
    },
  ]);
  const run = startPod(limited);
  const pid = await waitFor('pid file', () => readPid(limited));
  t.is(readFileSync(join(podCgroup(limited, 'memory'), 'calm/memory.limit_in_bytes'), 'utf8').trim(), String(64 * 1024 * 1024));
  t.is(readFileSync(join(podCgroup(limited, 'cpu'), 'calm/cpu.cfs_quota_us'), 'utf8').trim(), '50000');
  t.is(readFileSync(join(podCgroup(limited, 'cpu'), 'calm/cpu.shares'), 'utf8').trim(), '512');
  const app = Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim());
  t.is(readFileSync(`/proc/${app}/oom_score_adj`, 'utf8').trim(), '500');
  t.true(readFileSync(join(podCgroup(limited, 'memory'), 'calm/cgroup.procs'), 'utf8').includes(String(app)));
  t.true(readFileSync(join(podCgroup(limited, 'devices'), 'calm/devices.list'), 'utf8').includes('c 1:3 rwm'));
  await runEntrypoint(limited, 'stop', [limited.uuid]);
  await run.done;
  t.is((await runEntrypoint(limited, 'gc', [limited.uuid])).code, 0);
});

it('an unknown network is refused before anything is created', async (t) => {
  const pod = await preparePod(t, [{ name: 'probe' }]);
  const r = await runAndGc(t, pod, ['--net=no-such-net']);
  t.is(r.code, 254);
  t.regex(r.stderr, /networks not found: no-such-net/);
  t.false(existsSync(join(pod.dir, 'runtime-config')), 'nothing was created');
  t.false(existsSync(join(pod.dir, 'netns')), 'no network namespace');
});

it('gc cleans up after a crashed pod: processes, cgroups and mounts', async (t) => {
  const pod = await preparePod(t, [{ name: 'probe', image: { exec: ['/probe', '--sleep', '100'] } }]);
  const run = startPod(pod);
  const pid = await waitFor('pid file', () => readPid(pod));
  const parent = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
  process.kill(parent, 'SIGKILL');
  await run.done;
  // PID 1 dies with its parent; the app dies with PID 1
  await waitFor('pod processes to die', () => (existsSync(`/proc/${pid}`) ? undefined : true));
  const gc = await runEntrypoint(pod, 'gc', ['--debug', pod.uuid]);
  t.is(gc.code, 0, gc.stderr);
  t.false(existsSync(podCgroup(pod, 'memory')));
  t.is((await runEntrypoint(pod, 'gc', [pod.uuid])).code, 0, 'gc is idempotent');
});

it('measure: time to the first output of an app, and the memory an idle pod costs', async (t) => {
  const first: number[] = [];
  for (let i = 0; i < 3; i++) {
    const pod = await preparePod(t, [{ name: 'hello', image: { exec: ['/bin/echo', 'hello'] } }]);
    const run = startPod(pod);
    await run.done;
    first.push(run.firstOutputMs()!);
    await runEntrypoint(pod, 'gc', [pod.uuid]);
  }
  const pod = await preparePod(t, [{ name: 'idle', image: { exec: ['/bin/sleep', '100'] } }]);
  const run = startPod(pod);
  const pid = await waitFor('pid file', () => readPid(pod));
  const parent = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
  await new Promise((r) => setTimeout(r, 200));
  const rss = vmRssKb(parent) + vmRssKb(pid);
  t.log(`run to first output: ${first.map((m) => `${m.toFixed(0)} ms`).join(', ')}`);
  t.log(`idle pod: init parent ${vmRssKb(parent)} kB + PID 1 ${vmRssKb(pid)} kB = ${rss} kB`);
  t.true(rss <= 5 * 1024, `idle pod RSS ${rss} kB`);
  t.is(readFileSync(`/proc/${parent}/comm`, 'utf8').trim(), 'init', 'no Node process stays');
  await runEntrypoint(pod, 'stop', [pod.uuid]);
  await run.done;
  t.is((await runEntrypoint(pod, 'gc', [pod.uuid])).code, 0);
});
