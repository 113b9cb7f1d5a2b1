/**
 * Per-app logs of immutable pods: every app's stdout and stderr reach rkt run's stdout and
 * stderr and, in the CRI log format, `rkt/log/<app>` in the stage1 root; and the image's pre-start
 * and post-stop event handlers. Privileged (root).
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasBusybox, isRoot, testIf } from '@rktnetes/testkit';
import { preparePod, readStatus, runAndGc, type TestPod } from './helpers/pod';

const it = testIf(test, isRoot() && hasBusybox(), 'needs root and busybox-static');

const CRI = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([FP]) (.*)$/;

interface Entry {
  time: string;
  stream: string;
  tag: string;
  text: string;
}

function readLog(pod: TestPod, app: string): Entry[] {
  const text = readFileSync(join(pod.stage1Root, 'rkt/log', app), 'utf8');
  return text
    .split('\n')
    .slice(0, -1)
    .map((line) => {
      const m = CRI.exec(line);
      if (!m) throw new Error(`not a CRI log line: ${JSON.stringify(line)}`);
      return { time: m[1]!, stream: m[2]!, tag: m[3]!, text: m[4]! };
    });
}

it.serial('each app writes its stdout and stderr to its log and to the terminal', async (t) => {
  const pod = await preparePod(t, [
    { name: 'talker', image: { exec: ['/bin/sh', '-c', 'echo out one; echo err one >&2; echo out two; printf "no newline"'] } },
    { name: 'quiet', image: { exec: ['/bin/true'] } },
  ]);
  const r = await runAndGc(t, pod);
  t.is(r.code, 0);
  t.regex(r.stdout, /out one\nout two\nno newline/);
  t.regex(r.stderr, /err one\n/);
  const log = readLog(pod, 'talker');
  t.deepEqual(
    log.filter((e) => e.stream === 'stdout').map((e) => [e.tag, e.text]),
    [
      ['F', 'out one'],
      ['F', 'out two'],
      ['F', 'no newline'],
    ],
  );
  t.deepEqual(
    log.filter((e) => e.stream === 'stderr').map((e) => e.text),
    ['err one'],
  );
  t.deepEqual(readLog(pod, 'quiet'), []);
  for (let i = 1; i < log.length; i++) t.true(log[i]!.time >= log[i - 1]!.time, 'timestamps do not go back');
});

it.serial('a long line is split into 16 KiB pieces', async (t) => {
  const pod = await preparePod(t, [{ name: 'long', image: { exec: ['/bin/sh', '-c', 'head -c 40000 /dev/zero | tr "\\0" x; echo'] } }]);
  const r = await runAndGc(t, pod);
  t.is(r.code, 0);
  t.is(r.stdout.trim().length, 40000);
  const log = readLog(pod, 'long');
  t.deepEqual(
    log.map((e) => [e.tag, e.text.length]),
    [
      ['P', 16384],
      ['P', 16384],
      ['F', 40000 - 2 * 16384],
    ],
  );
});

it.serial('10k lines arrive complete on stdout and in the log', async (t) => {
  const pod = await preparePod(t, [{ name: 'seq', image: { exec: ['/bin/sh', '-c', 'seq 1 10000; echo done >&2'] } }]);
  const started = Date.now();
  const r = await runAndGc(t, pod);
  t.is(r.code, 0);
  const expected = Array.from({ length: 10000 }, (_, i) => String(i + 1));
  t.deepEqual(r.stdout.split('\n').slice(0, -1), expected);
  t.regex(r.stderr, /done/);
  const log = readLog(pod, 'seq');
  t.deepEqual(
    log.filter((e) => e.stream === 'stdout').map((e) => e.text),
    expected,
  );
  t.true(Date.now() - started < 15000, `took ${Date.now() - started} ms`);
});

it.serial('the output of a failing app is logged before its status is written', async (t) => {
  const pod = await preparePod(t, [{ name: 'broken', image: { exec: ['/bin/sh', '-c', 'echo before; exit 3'] } }]);
  const r = await runAndGc(t, pod);
  t.is(r.code, 3);
  t.is(readStatus(pod, 'broken'), 3);
  t.true(existsSync(join(pod.stage1Root, 'rkt/log/broken')));
  t.deepEqual(
    readLog(pod, 'broken').map((e) => e.text),
    ['before'],
  );
});

// ------------------------------------------------------------------------------ event handlers

const handlers = (pre: string | undefined, post: string | undefined) => ({
  eventHandlers: [
    ...(pre !== undefined ? [{ name: 'pre-start', exec: ['/bin/sh', '-c', pre] }] : []),
    ...(post !== undefined ? [{ name: 'post-stop', exec: ['sh', '-c', post] }] : []),
  ],
});
const appFile = (pod: TestPod, app: string, path: string) => join(pod.stage1Root, 'opt/stage2', app, 'rootfs', path);

it.serial('pre-start runs before the app and post-stop after it, in the app\'s root with its environment and user', async (t) => {
  const pod = await preparePod(t, [
    {
      name: 'handled',
      image: {
        exec: ['/bin/sh', '-c', 'echo "app sees $(cat /tmp/pre)"; echo app-ran > /tmp/app; exit 6'],
        app: {
          user: '1000',
          group: '1000',
          ...handlers('echo "pre $AC_APP_NAME $(id -u)" > /tmp/pre; echo pre-out', 'echo "post $(cat /tmp/app)" > /tmp/post; echo post-out'),
        },
      },
    },
  ]);
  const r = await runAndGc(t, pod);
  t.is(r.code, 6, r.stderr);
  t.is(readStatus(pod, 'handled'), 6, 'the app\'s status, not the handler\'s');
  t.deepEqual(r.stdout.split('\n').filter(Boolean), ['pre-out', 'app sees pre handled 1000', 'post-out']);
  t.is(readFileSync(appFile(pod, 'handled', 'tmp/post'), 'utf8'), 'post app-ran\n');
  t.deepEqual(
    readLog(pod, 'handled').map((e) => e.text),
    ['pre-out', 'app sees pre handled 1000', 'post-out'],
  );
});

it.serial('a failing pre-start handler keeps the app from starting; its status is the app\'s; post-stop still runs', async (t) => {
  const pod = await preparePod(t, [
    { name: 'blocked', image: { exec: ['/bin/sh', '-c', 'echo started > /tmp/app'], app: handlers('echo no; exit 4', 'echo post > /tmp/post') } },
    { name: 'other', image: { exec: ['/bin/sh', '-c', 'sleep 30'] } },
  ]);
  const started = Date.now();
  const r = await runAndGc(t, pod);
  t.is(r.code, 4);
  t.is(readStatus(pod, 'blocked'), 4);
  t.is(readStatus(pod, 'other'), 143, 'the pod stopped');
  t.true(Date.now() - started < 10000);
  t.false(existsSync(appFile(pod, 'blocked', 'tmp/app')));
  t.true(existsSync(appFile(pod, 'blocked', 'tmp/post')));
  t.regex(r.stderr, /app blocked: pre-start handler failed with status 4/);
  t.true(readLog(pod, 'blocked').some((e) => e.stream === 'stderr' && /pre-start handler failed with status 4/.test(e.text)));
});

it.serial('a pre-start handler whose program does not exist fails the app with 254', async (t) => {
  const pod = await preparePod(t, [{ name: 'missing', image: { exec: ['/bin/true'], app: { eventHandlers: [{ name: 'pre-start', exec: ['/no/such/program'] }] } } }]);
  const r = await runAndGc(t, pod);
  t.is(r.code, 254);
  t.is(readStatus(pod, 'missing'), 254);
  t.regex(r.stderr, /exec \/no\/such\/program/);
});
