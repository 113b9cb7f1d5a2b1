/**
 * `rkt logs`: the CRI log reader and its options without privileges, then real stage1-coreos
 * pods (packages/stage1-coreos/dist/stage1-coreos.aci, rebuilt when older than its sources) whose
 * per-app logs are read back through the rkt executable.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode } from '@rktnetes/errors';
import { realSys, unmountTree } from '@rktnetes/sys';
import { assertNoLeaks, busyboxImage, hasBusybox, isRoot, leakCheck, removeTree, runCommand, testIf, tmpDir, type CommandResult } from '@rktnetes/testkit';
import { formatEntries, logTime, parseSince } from '../src/logs/command';
import { LogDecoder, parseLog, parseLogLine } from '../src/logs/reader';
import { COREOS, COREOS_PKG, RKT, ensureCoreos } from './helpers/fixtures';

// ------------------------------------------------------------------------------ reader

test('CRI log lines parse; malformed ones do not', (t) => {
  t.deepEqual(parseLogLine('2024-05-01T10:00:00.123456789Z stdout F a whole line'), { time: '2024-05-01T10:00:00.123456789Z', stream: 'stdout', partial: false, text: 'a whole line' });
  t.deepEqual(parseLogLine('2024-05-01T10:00:00.123456789Z stderr P '), { time: '2024-05-01T10:00:00.123456789Z', stream: 'stderr', partial: true, text: '' });
  t.is(parseLogLine('2024-05-01T10:00:00.123456789Z stdout F')?.text, '');
  t.is(parseLogLine('garbage'), undefined);
  t.is(parseLogLine('2024-05-01T10:00:00Z stdin F x'), undefined);
});

test('pieces join per stream; chunks split anywhere give the same entries', (t) => {
  const text = [
    '2024-05-01T10:00:00.000000001Z stdout P abc',
    '2024-05-01T10:00:00.000000002Z stderr F err',
    '2024-05-01T10:00:00.000000003Z stdout F def',
    '2024-05-01T10:00:00.000000004Z stdout F ghi',
    '',
  ].join('\n');
  const expected = [
    { time: '2024-05-01T10:00:00.000000002Z', stream: 'stderr', text: 'err' },
    { time: '2024-05-01T10:00:00.000000001Z', stream: 'stdout', text: 'abcdef' },
    { time: '2024-05-01T10:00:00.000000004Z', stream: 'stdout', text: 'ghi' },
  ];
  t.deepEqual(parseLog(text), expected);
  for (let cut = 0; cut < text.length; cut += 7) {
    const d = new LogDecoder();
    t.deepEqual([...d.push(text.slice(0, cut)), ...d.push(text.slice(cut)), ...d.end()], expected);
  }
  t.deepEqual(parseLog('2024-05-01T10:00:00.000000001Z stdout P cut off'), [{ time: '2024-05-01T10:00:00.000000001Z', stream: 'stdout', text: 'cut off' }]);
});

test('--since takes a duration or an RFC 3339 time, as comparable log times', (t) => {
  const now = new Date('2024-05-01T10:00:00.500Z');
  t.is(logTime(now), '2024-05-01T10:00:00.500000000Z');
  t.is(parseSince('10m', now), '2024-05-01T09:50:00.500000000Z');
  t.is(parseSince('2024-05-01T12:00:00+02:00'), '2024-05-01T10:00:00.000000000Z');
  t.is(parseSince('2024-05-01T10:00:00.123456789Z'), '2024-05-01T10:00:00.123456789Z');
  t.true(hasCode(t.throws(() => parseSince('yesterday')), 'cli.invalid-value'));
  t.true(hasCode(t.throws(() => parseSince('2024-13-45T00:00:00Z')), 'cli.invalid-value'));
});

test('entries print with [app] prefixes and timestamps only when asked', (t) => {
  const e = [{ app: 'a', time: '2024-05-01T10:00:00.000000001Z', stream: 'stdout' as const, text: 'hi' }];
  t.is(formatEntries(e, false, false), 'hi\n');
  t.is(formatEntries(e, true, false), '[a] hi\n');
  t.is(formatEntries(e, true, true), '2024-05-01T10:00:00.000000001Z [a] hi\n');
});

// ------------------------------------------------------------------------------ real pods

const ptest = testIf(test, isRoot() && hasBusybox() && existsSync(join(COREOS_PKG, 'package.json')), 'needs root, busybox and packages/stage1-coreos');

async function makeEnv(t: { teardown(fn: () => unknown): void }) {
  ensureCoreos();
  const dir = await tmpDir('logscli');
  const cfg = join(dir, 'cfg');
  await mkdir(cfg, { recursive: true });
  const globals = ['--dir', join(dir, 'data'), '--local-config', cfg, '--system-config', cfg, '--user-config', cfg];
  const rkt = (args: string[]): Promise<CommandResult> => runCommand(process.execPath, [RKT, ...globals, ...args], { timeoutMs: 60_000 });
  const runArgs = (images: string[], uuidFile: string) => [RKT, ...globals, 'run', '--net=none', '--insecure-options=image', `--stage1-path=${COREOS}`, `--uuid-file-save=${uuidFile}`, ...images];
  t.teardown(async () => {
    await rkt(['gc', '--grace-period=0s']).catch(() => undefined);
    try {
      unmountTree(dir, realSys());
    } catch {
      // removeTree reports it
    }
    await removeTree(dir);
  });
  const image = async (name: string, script: string, app?: Record<string, unknown>) => {
    const path = join(dir, `${name}.aci`);
    await writeFile(path, await busyboxImage({ name: `example.com/${name}`, exec: ['/bin/sh', '-c', script], ...(app ? { app } : {}) }));
    return path;
  };
  return { dir, rkt, runArgs, image };
}

const lines = (s: string) => s.split('\n').filter(Boolean);

/**
 * A leak check limited to this test (other work on the machine runs pods meanwhile): mounts
 * below its directory, the cgroups of its pods and its own child processes. The pattern is
 * set once the pods' uuids are known (leakCheck reads `match` when it compares).
 */
async function scopedLeakCheck(dir: string) {
  const opts: NonNullable<Parameters<typeof leakCheck>[0]> = { cgroupRoots: ['/sys/fs/cgroup'], netns: false, veth: false, iptables: false };
  const compare = await leakCheck(opts);
  return async (t: { deepEqual(a: unknown, b: unknown, m?: string): unknown }) => {
    const uuids = readdirSync(join(dir, 'data', 'pods'), { recursive: true, encoding: 'utf8' })
      .map((p) => /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(p)?.[0])
      .filter((u): u is string => u !== undefined);
    const ids = [...new Set([...uuids, ...readdirSync(dir).filter((f) => f.startsWith('uuid')).map((f) => readFileSync(join(dir, f), 'utf8').trim())])];
    opts.match = new RegExp(['^process:', dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), ...ids].join('|'));
    await assertNoLeaks(t, compare);
  };
}

ptest.serial('rkt logs of a finished two-app pod: all, --app, --stream, --lines, --since, --timestamps; errors; gc leaves nothing', async (t) => {
  const env = await makeEnv(t);
  const noLeaks = await scopedLeakCheck(env.dir);
  const one = await env.image('one', 'echo one-a; echo one-err >&2; sleep 0.2; echo one-b');
  const two = await env.image('two', 'sleep 0.1; echo two-a; seq 1 3000');
  const uuidFile = join(env.dir, 'uuid');
  const run = await runCommand(process.execPath, env.runArgs([one, two], uuidFile), { timeoutMs: 60_000 });
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /one-a\n/);
  t.regex(run.stderr, /one-err\n/);
  t.true(run.stdout.includes('\n2999\n3000\n'));
  const uuid = readFileSync(uuidFile, 'utf8').trim();

  const all = await env.rkt(['logs', uuid]);
  t.is(all.code, 0, all.stderr);
  const got = lines(all.stdout);
  t.is(got.length, 3 + 1 + 3000);
  t.deepEqual(got.slice(0, 3), ['[one] one-a', '[one] one-err', '[two] two-a']);
  t.deepEqual(got.filter((l) => l.startsWith('[one] ')), ['[one] one-a', '[one] one-err', '[one] one-b']);
  t.deepEqual(got.filter((l) => l.startsWith('[two] ')).slice(1), Array.from({ length: 3000 }, (_, i) => `[two] ${i + 1}`));

  const only = await env.rkt(['logs', '--app=one', uuid.slice(0, 8)]);
  t.deepEqual(lines(only.stdout), ['one-a', 'one-err', 'one-b']);
  t.deepEqual(lines((await env.rkt(['logs', '--app=one', '--stream=stderr', uuid])).stdout), ['one-err']);
  t.deepEqual(lines((await env.rkt(['logs', '--app=two', '--lines=2', uuid])).stdout), ['2999', '3000']);
  t.deepEqual(lines((await env.rkt(['logs', '--app=two', '--lines=0', uuid])).stdout), []);
  t.deepEqual(lines((await env.rkt(['logs', '--since=1h', '--app=one', uuid])).stdout), ['one-a', 'one-err', 'one-b']);
  t.deepEqual(lines((await env.rkt(['logs', '--since=2099-01-01T00:00:00Z', uuid])).stdout), []);
  const ts = lines((await env.rkt(['logs', '--timestamps', '--app=one', uuid])).stdout);
  t.is(ts.length, 3);
  t.regex(ts[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z one-a$/);
  // the log file itself is stage1's CRI file
  const files = readdirSync(join(env.dir, 'data', 'pods'), { recursive: true }) as string[];
  t.true(files.some((f) => f.endsWith(join('rkt', 'log', 'two'))));

  for (const [args, re] of [
    [['logs', '--app=nope', uuid], /app nope is not present/],
    [['logs', '00000000-0000-0000-0000-000000000000'], /pod/],
    [['logs', '--stream=both', uuid], /--stream/],
  ] as const) {
    const r = await env.rkt([...args]);
    t.is(r.code, 254, r.stderr);
    t.is(lines(r.stderr).length, 1, r.stderr);
    t.regex(r.stderr, re);
  }

  const gc = await env.rkt(['gc', '--grace-period=0s']);
  t.is(gc.code, 0, gc.stderr);
  await noLeaks(t);
});

ptest.serial('rkt logs --follow prints lines as they come and returns when the pod exits', async (t) => {
  const env = await makeEnv(t);
  const noLeaks = await scopedLeakCheck(env.dir);
  const slow = await env.image('slow', 'echo first; sleep 1.5; i=0; while [ $i -lt 500 ]; do echo "n $i"; i=$((i+1)); done; sleep 0.5; echo last');
  const uuidFile = join(env.dir, 'uuid');
  const pod = spawn(process.execPath, env.runArgs([slow], uuidFile), { stdio: ['ignore', 'pipe', 'pipe'] });
  let podOut = '';
  pod.stdout!.on('data', (d: Buffer) => (podOut += d.toString()));
  const podDone = new Promise<number>((r) => pod.on('close', (code) => r(code ?? 254)));
  const deadline = Date.now() + 30_000;
  while (!podOut.includes('first') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const uuid = readFileSync(uuidFile, 'utf8').trim();
  const started = Date.now();
  const follow = await env.rkt(['logs', '--follow', uuid]);
  t.is(follow.code, 0, follow.stderr);
  t.is(await podDone, 0);
  t.true(Date.now() - started > 1000, 'followed while the pod ran');
  const got = lines(follow.stdout);
  t.deepEqual(got, ['first', ...Array.from({ length: 500 }, (_, i) => `n ${i}`), 'last']);
  t.deepEqual(lines(podOut), got, 'the terminal got the same lines');
  const gc = await env.rkt(['gc', '--grace-period=0s']);
  t.is(gc.code, 0, gc.stderr);
  await noLeaks(t);
});

ptest.serial('rkt run runs the image\'s pre-start and post-stop handlers; their output is in the app\'s log', async (t) => {
  const env = await makeEnv(t);
  const noLeaks = await scopedLeakCheck(env.dir);
  const img = await env.image('hooked', 'echo "main $(cat /tmp/pre)"', {
    eventHandlers: [
      { name: 'pre-start', exec: ['/bin/sh', '-c', 'echo ready > /tmp/pre; echo pre-start'] },
      { name: 'post-stop', exec: ['/bin/sh', '-c', 'echo post-stop >&2'] },
    ],
  });
  const failing = await env.image('refused', 'echo never', { eventHandlers: [{ name: 'pre-start', exec: ['/bin/sh', '-c', 'exit 9'] }] });
  const uuidFile = join(env.dir, 'uuid');
  const run = await runCommand(process.execPath, env.runArgs([img], uuidFile), { timeoutMs: 60_000 });
  t.is(run.code, 0, run.stderr);
  t.deepEqual(lines(run.stdout), ['pre-start', 'main ready']);
  t.regex(run.stderr, /post-stop/);
  const uuid = readFileSync(uuidFile, 'utf8').trim();
  t.deepEqual(lines((await env.rkt(['logs', uuid])).stdout), ['pre-start', 'main ready', 'post-stop']);
  t.deepEqual(lines((await env.rkt(['logs', '--stream=stderr', uuid])).stdout), ['post-stop']);

  const bad = await runCommand(process.execPath, env.runArgs([failing], join(env.dir, 'uuid2')), { timeoutMs: 60_000 });
  t.is(bad.code, 9, bad.stderr);
  t.notRegex(bad.stdout, /never/);
  const status = await env.rkt(['status', readFileSync(join(env.dir, 'uuid2'), 'utf8').trim()]);
  t.regex(status.stdout, /app-refused=9/);

  const gc = await env.rkt(['gc', '--grace-period=0s']);
  t.is(gc.code, 0, gc.stderr);
  await noLeaks(t);
});
