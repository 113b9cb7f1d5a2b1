/**
 * Mutable pods at the stage1 level, playing stage0 exactly as docs/stage1-interface.md says:
 * run --mutable with no apps, then app_add / app_start / app_stop / app_rm / attach as child
 * processes with cwd = the pod dir and the crossing environment. Privileged (root) for the pod
 * tests; the spec, frame and log-format checks run anywhere.
 */
import test from 'ava';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { assertNoLeaks, hasBusybox, isRoot, leakCheck, testIf, tmpDir } from '@rktnetes/testkit';
import {
  ctlCall,
  ctlRequest,
  encodeFrame,
  formatAppSpec,
  formatInitSpec,
  FrameDecoder,
  parseCtlReply,
  podHierarchies,
  requestedEndpoints,
  resizeFrame,
} from '@rktnetes/stage1-coreos';
import { addAndStart, crossing, MUTABLE_POD, stageApp, startMutable } from './helpers/mutable';
import { preparePod, readPid, runEntrypoint, sampleInitApp, sampleInitSpec, waitFor, type TestPod } from './helpers/pod';

const it = testIf(test, isRoot() && hasBusybox(), 'needs root and busybox-static');

// ------------------------------------------------------------------------------ unit checks

const sampleApp = sampleInitApp({
  cgroups: ['/sys/fs/cgroup/memory/rkt-x/web/cgroup.procs'],
  env: [['PATH', '/bin']],
  argv: ['/bin/sh', '-c', 'echo hi'],
  stdio: ['stream', 'log', 'log'],
  stdinOnce: true,
  extLog: '/rkt/log-ext/web/0.log',
});

test('an app spec is one app section with the stdio keys', (t) => {
  const text = formatAppSpec(sampleApp);
  const lines = text.split('\n');
  t.is(lines[1], 'version 1');
  t.is(lines[2], 'app web');
  t.true(lines.includes('stdin stream'));
  t.true(lines.includes('stdout log'));
  t.true(lines.includes('stdin-once 1'));
  t.true(lines.includes('extlog /rkt/log-ext/web/0.log'));
  t.true(lines.includes('arg echo\\shi'));
  t.is(lines.at(-2), 'end');
});

test('a mutable init spec has the mutable key and the pod cgroup directories', (t) => {
  const text = formatInitSpec(sampleInitSpec({ mutable: true, cgroupDirs: ['/sys/fs/cgroup/memory/rkt-x'], apps: [] }));
  t.true(text.includes('\nmutable 1\n'));
  t.true(text.includes('\ncg-dir /sys/fs/cgroup/memory/rkt-x\n'));
});

test('attach frames round-trip, long payloads are split, resize frames carry rows and columns', (t) => {
  const d = new FrameDecoder();
  const big = Buffer.alloc(70000, 0x61);
  const bytes = Buffer.concat([encodeFrame('o', Buffer.from('hello')), encodeFrame('c'), encodeFrame('i', big), resizeFrame(40, 120)]);
  const frames = [...d.push(bytes.subarray(0, 7)), ...d.push(bytes.subarray(7))];
  t.deepEqual(
    frames.map((f) => [f.type, f.payload.length]),
    [
      ['o', 5],
      ['c', 0],
      ['i', 65536],
      ['i', 70000 - 65536],
      ['r', 4],
    ],
  );
  t.is(frames[0]!.payload.toString(), 'hello');
  t.is(frames[4]!.payload.readUInt16BE(0), 40);
  t.is(frames[4]!.payload.readUInt16BE(2), 120);
  const bad = Buffer.from([0x6f, 0xff, 0xff, 0xff, 0xff]);
  t.throws(() => new FrameDecoder().push(bad));
});

test('control replies and requested endpoints', (t) => {
  t.deepEqual(parseCtlReply('ok 42'), { ok: true, data: '42' });
  t.deepEqual(parseCtlReply('ok'), { ok: true, data: '' });
  t.deepEqual(parseCtlReply('error app.unknown app x is not in the pod'), { ok: false, code: 'app.unknown', message: 'app x is not in the pod' });
  t.is(parseCtlReply('garbage').ok, false);
  const base = { appName: 'a', debug: false, ttyIn: false, ttyOut: false, stdin: false, stdout: false, stderr: false };
  t.is(requestedEndpoints({ ...base, action: 'auto-attach' }), 'auto');
  t.is(requestedEndpoints({ ...base, action: 'custom-attach', stdin: true, stderr: true }), 'stdin,stderr');
});

test('app cgroups go below the pod cgroups run recorded, whatever the caller cgroup is', (t) => {
  const hs = podHierarchies(
    [
      { version: 1, controllers: ['memory'], mountPoint: '/sys/fs/cgroup/memory', selfPath: '/other', base: '/sys/fs/cgroup/memory/other' },
      { version: 2, controllers: [], mountPoint: '/sys/fs/cgroup/unified', selfPath: '/other', base: '/sys/fs/cgroup/unified/other' },
      { version: 1, controllers: ['pids'], mountPoint: '/sys/fs/cgroup/pids', selfPath: '/other', base: '/sys/fs/cgroup/pids/other' },
    ],
    ['/sys/fs/cgroup/memory/user.slice/rkt-u', '/sys/fs/cgroup/unified/user.slice/rkt-u'],
  );
  t.deepEqual(
    hs.map((h) => h.base),
    ['/sys/fs/cgroup/memory/user.slice', '/sys/fs/cgroup/unified/user.slice'],
  );
});

// ------------------------------------------------------------------------------ real pods

const logLines = (pod: TestPod, app: string) =>
  existsSync(join(pod.stage1Root, 'rkt/log', app)) ? readFileSync(join(pod.stage1Root, 'rkt/log', app), 'utf8').split('\n').filter(Boolean) : [];
const CRI_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [FP] /;

it('a mutable pod: add, start, logs, restart, attach, stop, rm; the pod outlives its apps', async (t) => {
  const pod = await preparePod(t, [], MUTABLE_POD);
  const check = await leakCheck({ match: pod.uuid, cgroupRoots: ['/sys/fs/cgroup'], iptables: false, veth: false });
  const { run } = startMutable(t, pod, ['--net=none', '--hostname=mutant']);
  const pid = await waitFor('pid file', () => readPid(pod));
  t.is(readlinkSync(join(pod.stage1Root, 'rkt/supervisor-status')), 'ready');

  const extDir = await tmpDir('s1coreos-log', t);
  await stageApp(
    pod,
    {
      name: 'talker',
      annotations: [{ name: 'rktnetes.io/stage2/log-path', value: join(extDir, 'talker.log') }],
    },
    { exec: ['/bin/sh', '-c', 'echo out $(hostname); echo err >&2; printf partial; exit 3'] },
  );
  const add = await crossing(pod, 'app_add', ['--debug=false', `--uuid=${pod.uuid}`, '--app=talker']);
  t.is(add.code, 0, add.stderr);
  t.is((await crossing(pod, 'app_add', ['--debug=false', `--uuid=${pod.uuid}`, '--app=talker'])).code, 254, 'adding twice fails');

  const start = await crossing(pod, 'app_start', ['--debug=false', '--app=talker']);
  t.is(start.code, 0, start.stderr);
  await waitFor('talker exit', () => (existsSync(join(pod.stage1Root, 'rkt/status/talker')) ? true : undefined));
  t.is(readFileSync(join(pod.stage1Root, 'rkt/status/talker'), 'utf8'), '3\n');
  const lines = await waitFor('log', () => (logLines(pod, 'talker').length >= 3 ? logLines(pod, 'talker') : undefined));
  for (const l of lines) t.regex(l, CRI_LINE);
  t.deepEqual(
    lines.map((l) => l.replace(/^\S+ /, '')).sort(),
    ['stderr F err', 'stdout F out mutant', 'stdout F partial'].sort(),
  );
  t.deepEqual(readFileSync(join(extDir, 'talker.log'), 'utf8').split('\n').filter(Boolean), lines, 'the extra log file gets the same lines');
  t.is(existsSync(`/proc/${pid}`), true, 'the pod outlives its app');

  // the control socket directly: list, reopen (log rotation), bad requests
  t.regex((await ctlCall(pod.dir, 'list')), /^talker:exited:0:3$/);
  t.is(await ctlCall(pod.dir, 'reopen talker'), '');
  t.deepEqual(await ctlRequest(pod.dir, 'start nope'), { ok: false, code: 'app.unknown', message: 'app nope is not in the pod' });
  t.is((await ctlRequest(pod.dir, 'bogus talker')).ok, false);
  t.is((await ctlRequest(pod.dir, 'start ../x')).ok, false);

  // restart
  t.is((await crossing(pod, 'app_start', ['--debug=false', '--app=talker'])).code, 0);
  await waitFor('second run', () => (logLines(pod, 'talker').length >= 6 ? true : undefined));

  // a cat-like app with stdin: attach writes and reads
  await addAndStart(
    t,
    pod,
    {
      name: 'cat',
      annotations: [
        { name: 'coreos.com/rkt/stage2/stdin', value: 'stream' },
        { name: 'coreos.com/rkt/stage2/stdout', value: 'stream' },
        { name: 'coreos.com/rkt/stage2/stderr', value: 'stream' },
        { name: 'rktnetes.io/stage2/stdin-once', value: 'true' },
      ],
    },
    { exec: ['/bin/cat'] },
  );
  const list = await crossing(pod, 'attach', ['--action=list', '--app=cat', '--debug=false']);
  t.deepEqual(list.stdout.split('\n').filter(Boolean), ['stdin', 'stdout', 'stderr']);
  const att = await crossing(pod, 'attach', ['--action=auto-attach', '--app=cat', '--debug=false'], { input: 'ping\npong\n' });
  t.is(att.stdout, 'ping\npong\n', att.stderr);
  t.is(att.code, 0, 'stdin-once: the end of input closed cat\'s stdin, cat exited 0');
  t.deepEqual(
    logLines(pod, 'cat').map((l) => l.replace(/^\S+ /, '')),
    ['stdout F ping', 'stdout F pong'],
  );

  // a long-running app: stop with SIGTERM; a stubborn one is killed after the timeout
  await addAndStart(t, pod, { name: 'sleeper' }, { exec: ['/bin/sh', '-c', 'trap "" TERM; while :; do sleep 1; done'] });
  const stopAt = Date.now();
  const stop = await crossing(pod, 'app_stop', ['--debug=false', '--app=sleeper'], { env: { RKTNETES_STOP_TIMEOUT: '1' } });
  t.is(stop.code, 0, stop.stderr);
  t.true(Date.now() - stopAt >= 900);
  t.is(readFileSync(join(pod.stage1Root, 'rkt/status/sleeper'), 'utf8'), '137\n');
  t.is((await crossing(pod, 'app_stop', ['--debug=false', '--app=nope'])).code, 5, 'an unknown app: 5');

  for (const app of ['talker', 'cat', 'sleeper']) {
    const rm = await crossing(pod, 'app_rm', ['--debug=false', `--app=${app}`]);
    t.is(rm.code, 0, rm.stderr);
  }
  t.false(existsSync(join(pod.stage1Root, 'rkt/spec/cat')));

  t.is((await runEntrypoint(pod, 'stop', [pod.uuid])).code, 0);
  t.is((await run.done).code, 0);
  t.is((await runEntrypoint(pod, 'gc', [pod.uuid])).code, 0);
  await assertNoLeaks(t, check);
});

it('a tty app: attach gets the terminal, the log has its output', async (t) => {
  const pod = await preparePod(t, [], MUTABLE_POD);
  const { run } = startMutable(t, pod, ['--net=host']);
  await waitFor('pid file', () => readPid(pod));
  const tty = ['stdin', 'stdout', 'stderr'].map((s) => ({ name: `coreos.com/rkt/stage2/${s}`, value: 'tty' }));
  await addAndStart(t, pod, { name: 'term', annotations: tty }, { exec: ['/bin/sh', '-c', 'tty; stty size; read line; echo got $line'] });
  const att = await crossing(pod, 'attach', ['--action=custom-attach', '--tty-in=true', '--tty-out=true', '--stdin=false', '--stdout=false', '--stderr=false', '--app=term', '--debug=false'], { input: 'hello\n' });
  const log = readFileSync(join(pod.stage1Root, 'rkt/log/term'), 'utf8');
  t.is(att.code, 0, att.stderr);
  t.regex(att.stdout, /got hello/, `attach: ${JSON.stringify(att)}\nlog: ${log}\npod: ${JSON.stringify(run.output())}`);
  t.regex(log, /stdout F \/dev\/pts\/0\r/);
  t.regex(log, /stdout F 24 80\r/);
  const streams = await crossing(pod, 'attach', ['--action=custom-attach', '--tty-in=false', '--tty-out=false', '--stdin=true', '--stdout=false', '--stderr=false', '--app=term', '--debug=false']);
  t.is(streams.code, 254);
  t.regex(streams.stderr, /not running|no stdin/);
  t.is((await runEntrypoint(pod, 'stop', [pod.uuid])).code, 0);
  t.is((await run.done).code, 0);
  t.is((await runEntrypoint(pod, 'gc', [pod.uuid])).code, 0);
});
