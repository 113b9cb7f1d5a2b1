/**
 * The native app/start and app/stop (src/run-native/crossing.c): run natively and through the
 * Node implementation (`RKTNETES_STAGE1_RUN=node`), the same steps on two mutable pods must give
 * the same exit statuses, stderr lines and effects on the pod (PID 1's app states); whatever the
 * native program does not handle (odd argv, run-args, stop timeouts) goes to the Node
 * implementation, which then reports what it reports. Privileged: real pods as root.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertNoLeaks, hasBusybox, isRoot, leakCheck, testIf } from '@rktnetes/testkit';
import { addApp, comparableStderr, crossing, podApps, startMutablePod, type Ran, type Way } from './helpers/app-native';
import { preparePod, runEntrypoint, waitFor, type TestPod } from './helpers/pod';

const it = testIf(test, isRoot() && hasBusybox(), 'needs root and busybox-static');

/** One step: an entrypoint, its argv, extra environment, and what to wait for before it. */
interface Step {
  ep: 'app_start' | 'app_stop';
  args: string[];
  env?: Record<string, string>;
  before?: (pod: TestPod) => Promise<unknown>;
  /** waited for before PID 1's list is taken (an app that exits at once must have exited) */
  after?: (pod: TestPod) => Promise<unknown>;
}

/** What a step gave, comparable between the two pods. */
interface Outcome {
  step: string;
  code: number;
  stdout: string;
  stderr: string[];
  /** PID 1's `list` after the step: app:state:status (pids left out) */
  apps: string[];
}

const logHas = (pod: TestPod, app: string, text: string, times: number) => () => {
  const p = join(pod.stage1Root, 'rkt/log', app);
  const n = existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter((l) => l.endsWith(` ${text}`)).length : 0;
  return n >= times ? true : undefined;
};
const statusOf = (pod: TestPod, app: string) => () => (existsSync(join(pod.stage1Root, 'rkt/status', app)) ? true : undefined);

const STEPS: Step[] = [
  { ep: 'app_start', args: ['--debug=true', '--app=sleeper'] },
  { ep: 'app_start', args: ['--debug=false', '--app=sleeper'] }, // already running: 254
  { ep: 'app_stop', args: ['--debug=true', '--app=sleeper'] }, // SIGTERM: 143
  { ep: 'app_stop', args: ['--debug=true', '--app=sleeper'] }, // not running: fine
  { ep: 'app_start', args: ['-app', 'sleeper', '-debug'] }, // restart, Go flag forms
  { ep: 'app_stop', args: ['--app', 'sleeper', '--debug=1', '--'], env: { RKTNETES_STOP_TIMEOUT: '05' } },
  { ep: 'app_start', args: ['--debug=true', '--app=quick'], after: (pod) => waitFor('quick exits', statusOf(pod, 'quick')) },
  { ep: 'app_stop', args: ['--debug=true', '--app=quick'] },
  { ep: 'app_start', args: ['--debug=false', '--app=stubborn'] },
  // ignores SIGTERM: SIGKILL after the timeout (137)
  { ep: 'app_stop', args: ['--debug=true', '--app=stubborn'], env: { RKTNETES_STOP_TIMEOUT: '1' }, before: (pod) => waitFor('trap', logHas(pod, 'stubborn', 'trapped', 1)) },
  { ep: 'app_stop', args: ['--debug=false', '--app=nope'] }, // unknown: 5 and a warning
  { ep: 'app_start', args: ['--debug=false', '--app=nope'] }, // unknown: 254
  // what the native program leaves to Node: stop timeouts JavaScript reads its own way, odd argv
  { ep: 'app_stop', args: ['--debug=true', '--app=quick'], env: { RKTNETES_STOP_TIMEOUT: '0x2' } },
  { ep: 'app_stop', args: ['--debug=true', '--app=quick'], env: { RKTNETES_STOP_TIMEOUT: ' 3 ' } },
  { ep: 'app_start', args: ['--debug=false', '--app=Bad_Name'] },
  { ep: 'app_start', args: ['--debug=false'] },
  { ep: 'app_start', args: ['--debug=maybe', '--app=quick'] },
  { ep: 'app_stop', args: ['--app=quick', 'extra'] },
  { ep: 'app_stop', args: ['--bogus', '--app=quick'] },
  { ep: 'app_stop', args: ['--app'] },
  { ep: 'app_start', args: ['---app=quick'] },
];

const apps = podApps;

async function scenario(way: Way, t: ExecutionContext): Promise<{ out: Outcome[]; runs: Ran[] }> {
  const mp = await startMutablePod(t);
  const { pod } = mp;
  const check = await leakCheck({ match: pod.uuid, cgroupRoots: ['/sys/fs/cgroup'], iptables: false, veth: false });
  await addApp(pod, 'sleeper', { exec: ['/bin/sleep', '3600'] });
  await addApp(pod, 'quick', { exec: ['/bin/sh', '-c', 'exit 3'] });
  await addApp(pod, 'stubborn', { exec: ['/bin/sh', '-c', 'trap "" TERM; echo trapped; while :; do sleep 1; done'] });
  const out: Outcome[] = [];
  const runs: Ran[] = [];
  for (const s of STEPS) {
    await s.before?.(pod);
    const r = await crossing(pod, s.ep, s.args, { way, env: s.env });
    await s.after?.(pod);
    runs.push(r);
    out.push({ step: `${s.ep} ${s.args.join(' ')} ${JSON.stringify(s.env ?? {})}`, code: r.code, stdout: r.stdout, stderr: comparableStderr(pod, r.stderr), apps: await apps(pod) });
  }
  t.is((await runEntrypoint(pod, 'stop', [pod.uuid])).code, 0);
  t.is((await mp.run.done).code, 0);
  t.is((await runEntrypoint(pod, 'gc', [pod.uuid])).code, 0);
  await assertNoLeaks(t, check);
  return { out, runs };
}

it('start, stop, restart, unknown apps, odd argv: the same natively and through Node', async (t) => {
  const native = await scenario('native', t);
  const node = await scenario('node', t);
  for (let i = 0; i < STEPS.length; i++) t.deepEqual(native.out[i], node.out[i], `step ${i}: ${node.out[i]!.step}`);

  const at = (i: number) => native.out[i]!;
  t.is(at(0).code, 0);
  t.deepEqual(at(0).stderr, ['stage1: app sleeper started, pid <pid> in the pod']);
  t.deepEqual(at(1), { ...at(1), code: 254, stderr: ['stage1: app sleeper is already running'] });
  t.deepEqual(at(2).stderr, ['stage1: app sleeper stopped: 143']);
  t.true(at(2).apps.includes('sleeper:exited:143'), at(2).apps.join(' '));
  t.is(at(4).code, 0);
  t.true(at(4).apps.includes('sleeper:running:-1'), at(4).apps.join(' '));
  t.true(at(5).apps.includes('sleeper:exited:143'), at(5).apps.join(' '));
  t.deepEqual(at(7).stderr, ['stage1: app quick stopped: 3']);
  t.deepEqual(at(9).stderr, ['stage1: app stubborn stopped: 137']);
  t.true(native.runs[9]!.ms >= 900, `the stop waited for the timeout: ${native.runs[9]!.ms} ms`);
  t.deepEqual([at(10).code, at(10).stderr], [5, ['stage1: warning: app nope is not in the pod']]);
  t.deepEqual([at(11).code, at(11).stderr], [254, ['stage1: app nope is not in the pod']]);
  for (let i = 14; i < STEPS.length; i++) t.is(at(i).code, 254, `usage error: ${at(i).step}`);

  // the native program did the supported steps itself, and handed the rest to Node
  t.regex(native.runs[0]!.stderr, /^stage1: app_start: native$/m);
  t.regex(native.runs[2]!.stderr, /^stage1: app_stop: native$/m);
  t.regex(native.runs[12]!.stderr, /^stage1: app_stop: node fallback \(RKTNETES_STOP_TIMEOUT=0x2\)$/m);
  t.regex(node.runs[0]!.stderr, /^stage1: app_start: node fallback \(RKTNETES_STAGE1_RUN=node\)$/m);
});

it('a pod whose PID 1 is gone: the same error both ways', async (t) => {
  const mp = await startMutablePod(t);
  await addApp(mp.pod, 'sleeper', { exec: ['/bin/sleep', '3600'] });
  await mp.kill();
  const cases: Array<[string, string[]]> = [
    ['app_start', ['--debug=false', '--app=sleeper']],
    ['app_stop', ['--debug=false', '--app=sleeper']],
  ];
  for (const gone of ['socket left behind', 'socket removed']) {
    if (gone === 'socket removed') rmSync(join(mp.pod.stage1Root, 'rkt/ctl'), { force: true });
    for (const [ep, args] of cases) {
      const native = await crossing(mp.pod, ep, args);
      const node = await crossing(mp.pod, ep, args, { way: 'node' });
      t.is(native.code, 254, `${gone} ${ep}`);
      t.is(node.code, 254);
      t.deepEqual(comparableStderr(mp.pod, native.stderr), comparableStderr(mp.pod, node.stderr), `${gone} ${ep}`);
      const errno = gone === 'socket removed' ? 'ENOENT' : 'ECONNREFUSED';
      t.deepEqual(comparableStderr(mp.pod, native.stderr), [`stage1: cannot reach the supervisor of pod <pod>: connect ${errno} stage1/rootfs/rkt/ctl`]);
    }
  }
});

it('run-args missing, not mutable or unexpected: Node reports it, both ways alike', async (t) => {
  const pod = await preparePod(t, []);
  const runArgs = join(pod.stage1Root, 'rkt/run-args');
  const variants: Array<[string, string | undefined, RegExp]> = [
    ['missing', undefined, /^stage1: pod <pod> is not a mutable pod$/],
    ['not JSON', 'argv', /^stage1: pod <pod> is not a mutable pod$/],
    ['not a list of strings', '{"argv":["--mutable",1]}', /^stage1: pod <pod> is not a mutable pod$/],
    ['not mutable', `{"argv":["--net=none","${pod.uuid}"]}`, /^stage1: pod <uuid> is not a mutable pod$/],
    ['mutable=false last', `{"argv":["--mutable","-mutable=false","${pod.uuid}"]}`, /^stage1: pod <uuid> is not a mutable pod$/],
    ['an argv run rejects', `{"argv":["--net=a,a","--mutable","${pod.uuid}"]}`, /duplicate network/],
    ['no uuid', '{"argv":["--mutable"]}', /missing pod uuid/],
    // accepted: the request then finds no PID 1 to talk to
    ['mutable, every value form', `{"argv":["--debug=false","--net","default,none:a=b","--hostname=h","--dns-conf-mode=resolv=host,hosts=stage0","--private-users=","--ipc=parent","--mds-token","x","-mutable","--","${pod.uuid}"]}`, /^stage1: cannot reach the supervisor of pod <pod>: connect ENOENT stage1\/rootfs\/rkt\/ctl$/],
  ];
  for (const [what, content, expected] of variants) {
    if (content === undefined) rmSync(runArgs, { force: true });
    else writeFileSync(runArgs, content);
    for (const ep of ['app_start', 'app_stop']) {
      const native = await crossing(pod, ep, ['--debug=false', '--app=web']);
      const node = await crossing(pod, ep, ['--debug=false', '--app=web'], { way: 'node' });
      t.is(native.code, 254, `${what} ${ep}: ${native.stderr}`);
      t.is(node.code, native.code);
      t.deepEqual(comparableStderr(pod, native.stderr), comparableStderr(pod, node.stderr), `${what} ${ep}`);
      t.regex(comparableStderr(pod, native.stderr).join('\n'), expected, what);
    }
  }
});
