/**
 * Mutable pods through the rkt executable: `rkt app sandbox|add|start|stop|rm|list|status|exec`
 * and `rkt attach`, with the real stage1-coreos (packages/stage1-coreos/dist/stage1-coreos.aci,
 * rebuilt when older than its sources) and busybox apps. The argument parsers and formatters
 * are checked without privileges.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode } from '@rktnetes/errors';
import { runtimeApp } from '@rktnetes/schema';
import { openStore } from '@rktnetes/store';
import { realSys, unmountTree } from '@rktnetes/sys';
import { busyboxImage, hasBusybox, isRoot, leakCheck, removeTree, runCommand, testIf, tmpDir, type CommandResult } from '@rktnetes/testkit';
import { stdioAnnotations } from '../src/app/add';
import { parseAddArgs, parseMountVolume, parseSandboxArgs, parseSandboxPort } from '../src/app/args';
import { attachOptions } from '../src/app/attach';
import { splitExecArgs } from '../src/app/exec';
import { parseStopTimeout } from '../src/app/lifecycle';
import { sandboxManifest } from '../src/app/sandbox';
import { formatGoTime, statusLines } from '../src/app/status';
import { FlagParser } from '../src/pod/flags';
import { COREOS, COREOS_PKG, DEFAULT_GLOBALS, RKT, ensureCoreos } from './helpers/fixtures';

const base = DEFAULT_GLOBALS;

// ------------------------------------------------------------------------------ parsers

test('sandbox ports are NAME:PROTO:PODPORT:HOSTIP:HOSTPORT', (t) => {
  t.deepEqual(parseSandboxPort('http:tcp:8080:0.0.0.0:80'), {
    name: 'http',
    hostPort: 80,
    hostIP: '0.0.0.0',
    podPort: { name: 'http', protocol: 'tcp', port: 8080, count: 1, socketActivated: false },
  });
  for (const bad of ['http:tcp:8080:80', 'http:sctp:1:0.0.0.0:2', 'http:tcp:99999:0.0.0.0:1', 'Bad:tcp:1:0.0.0.0:2', 'http:tcp:1:nowhere:2']) {
    t.true(hasCode(t.throws(() => parseSandboxPort(bad)), 'cli.invalid-value'), bad);
  }
});

test('sandbox flags: network, hostname, annotations, labels, uuid file; no positionals; a mutable manifest', (t) => {
  const { sandbox } = parseSandboxArgs(
    ['--net=none', '--hostname=h', '--annotation=example.com/a=1', '--user-label=tier=web', '--user-annotation=k=v', '--uuid-file-save=/tmp/u', '--port=p:udp:53:127.0.0.1:5353'],
    base,
  );
  t.is(sandbox.hostname, 'h');
  t.deepEqual(sandbox.net?.map((n) => n.name), ['none']);
  t.is(sandbox.uuidFileSave, '/tmp/u');
  const m = sandboxManifest(sandbox);
  t.deepEqual(m.apps, []);
  t.deepEqual(m.annotations, [
    { name: 'coreos.com/rkt/stage1/mutable', value: 'true' },
    { name: 'example.com/a', value: '1' },
  ]);
  t.deepEqual(m.userLabels, { tier: 'web' });
  t.is(m.ports?.[0]?.podPort?.port, 53);
  t.true(hasCode(t.throws(() => parseSandboxArgs(['image'], base)), 'cli.usage'));
  t.true(hasCode(t.throws(() => parseSandboxArgs(['--interactive'], base)), 'cli.unknown-flag'));
});

test('app add: UUID and IMAGE with the per-app flags of rkt run anywhere, app arguments after --', (t) => {
  const { add } = parseAddArgs(
    ['--name=web', 'abc', 'example.com/img', '--exec=/bin/sh', '--user=1000', '--environment=A=1', '--memory=32M', '--stdin=stream', '--stdin-once', '--log-path=/var/log/x.log', '--', '-c', 'echo hi'],
    base,
  );
  t.is(add.uuid, 'abc');
  t.is(add.app.image, 'example.com/img');
  t.is(add.app.name, 'web');
  t.is(add.app.exec, '/bin/sh');
  t.deepEqual(add.app.args, ['-c', 'echo hi']);
  t.deepEqual(add.app.environment, [['A', '1']]);
  t.is(add.app.isolators[0]?.name, 'resource/memory');
  t.deepEqual(add.stdio, { stdin: 'stream' });
  t.true(add.stdinOnce);
  t.is(add.logPath, '/var/log/x.log');
  const usage = (args: string[], code: string) => t.true(hasCode(t.throws(() => parseAddArgs(args, base)), code), args.join(' '));
  usage(['abc'], 'cli.usage');
  usage(['abc', 'img', 'extra'], 'cli.usage');
  usage(['abc', 'img', '--stdin=log'], 'cli.invalid-value');
  usage(['abc', 'img', '--stdin=tty', '--stdout=tty'], 'cli.invalid-value');
  usage(['abc', 'img', '--log-path=relative.log'], 'cli.invalid-value');
  usage(['abc', 'img', '--caps-retain=CAP_CHOWN', '--caps-remove=CAP_KILL'], 'cli.app-flag');
  t.notThrows(() => parseAddArgs(['abc', 'img', '--stdin=tty', '--stdout=tty', '--stderr=tty'], base));
});

test('--mnt-volume gives a mount its own volume', (t) => {
  t.deepEqual(parseMountVolume('name=data,kind=host,source=/srv,readOnly=true,target=/data'), {
    volume: 'data',
    path: '/data',
    appVolume: { name: 'data', kind: 'host', source: '/srv', readOnly: true },
  });
  t.throws(() => parseMountVolume('name=data,kind=host,source=/srv'));
  t.throws(() => parseMountVolume('kind=host,source=/srv,target=/d'));
});

test('stdio flags become the runtime app annotations', (t) => {
  const ra = stdioAnnotations(runtimeApp({ name: 'a' }), { stdio: { stdin: 'stream', stdout: 'log' }, stdinOnce: true, logPath: '/l' });
  t.deepEqual(ra.annotations, [
    { name: 'coreos.com/rkt/stage2/stdin', value: 'stream' },
    { name: 'coreos.com/rkt/stage2/stdout', value: 'log' },
    { name: 'rktnetes.io/stage2/stdin-once', value: 'true' },
    { name: 'rktnetes.io/stage2/log-path', value: '/l' },
  ]);
  t.is(stdioAnnotations(runtimeApp({ name: 'a' }), { stdio: {}, stdinOnce: false }).annotations, undefined);
});

test('attach modes map to the attach entrypoint actions (rkt createStage1AttachFlags)', (t) => {
  t.is(attachOptions('list', 'a', false).action, 'list');
  t.is(attachOptions('auto', 'a', false).action, 'auto-attach');
  t.like(attachOptions('tty', 'a', false), { action: 'custom-attach', ttyIn: true, ttyOut: true, stdin: false });
  t.like(attachOptions('stdin,stderr', 'a', true), { action: 'custom-attach', stdin: true, stdout: false, stderr: true, debug: true });
  t.true(hasCode(t.throws(() => attachOptions('tty,stdin', 'a', false)), 'cli.invalid-value'));
  t.true(hasCode(t.throws(() => attachOptions('bogus', 'a', false)), 'cli.invalid-value'));
});

test('app exec: flags before or after the UUID, the command after -- or from the first positional', (t) => {
  const parse = (args: string[]) => {
    let app: string | undefined;
    const r = splitExecArgs(args, new FlagParser([{ name: 'app', kind: 'value', set: (v) => (app = v) }]));
    return { ...r, app };
  };
  t.deepEqual(parse(['u', '--app=x', '--', 'ls', '-l']), { uuid: 'u', command: ['ls', '-l'], app: 'x' });
  t.deepEqual(parse(['--app', 'x', 'u', 'ls', '--app=y']), { uuid: 'u', command: ['ls', '--app=y'], app: 'x' });
  t.deepEqual(parse(['--', 'u', 'ls']), { uuid: 'u', command: ['ls'], app: undefined });
  t.deepEqual(parse(['u']), { uuid: 'u', command: [], app: undefined });
});

test('status output: Go times, key=value lines; stop timeouts', (t) => {
  t.is(formatGoTime(1700000000123456789n), '2023-11-14 22:13:20.123456789 +0000 UTC');
  t.is(formatGoTime(1700000000000000000n), '2023-11-14 22:13:20 +0000 UTC');
  t.is(formatGoTime(1700000000120000000n), '2023-11-14 22:13:20.12 +0000 UTC');
  t.deepEqual(statusLines({ name: 'a', state: 'exited', imageId: 'sha512-x', exitCode: 3, mounts: [], finishedAt: 1700000000000000000n }), [
    'name=a',
    'state=exited',
    'image_id=sha512-x',
    'finished_at=2023-11-14 22:13:20 +0000 UTC',
    'exit_code=3',
  ]);
  t.is(parseStopTimeout('10'), 10);
  t.is(parseStopTimeout('1500ms'), 2);
  t.is(parseStopTimeout('0s'), 0);
});

// ------------------------------------------------------------------------------ real pods

const ptest = testIf(test, isRoot() && hasBusybox() && existsSync(join(COREOS_PKG, 'package.json')), 'needs root, busybox and packages/stage1-coreos');

interface Env {
  dir: string;
  rkt(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<CommandResult>;
  /** starts `rkt app sandbox` in the background; resolves with its uuid once the pod is ready */
  sandbox(args?: string[]): Promise<{ uuid: string; proc: ChildProcess; done: Promise<number> }>;
}

async function makeEnv(t: ExecutionContext): Promise<Env> {
  ensureCoreos();
  const dir = await tmpDir('appcli');
  const data = join(dir, 'data');
  const cfg = join(dir, 'cfg');
  await mkdir(data, { recursive: true });
  await mkdir(cfg, { recursive: true });
  const globals = ['--dir', data, '--local-config', cfg, '--system-config', cfg, '--user-config', cfg];
  const rkt: Env['rkt'] = (args, opts = {}) =>
    runCommand(process.execPath, [RKT, ...globals, ...args], { timeoutMs: opts.timeoutMs ?? 60_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  const procs: ChildProcess[] = [];
  t.teardown(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    await rkt(['gc', '--grace-period=0s']).catch(() => undefined);
    try {
      unmountTree(dir, realSys());
    } catch {
      // removeTree reports it
    }
    await removeTree(dir);
  });
  const images: Record<string, string> = {
    busybox: join(dir, 'busybox.aci'),
  };
  await writeFile(images.busybox!, await busyboxImage({ name: 'example.com/busybox', exec: ['/bin/sh', '-c', 'echo hello; sleep 1000'] }));
  const store = openStore(data);
  try {
    await store.importImage(images.busybox!);
  } finally {
    store.close();
  }
  const sandbox: Env['sandbox'] = async (args = []) => {
    const uuidFile = join(dir, `uuid-${procs.length}`);
    const proc = spawn(
      process.execPath,
      [RKT, ...globals, 'app', 'sandbox', '--insecure-options=image', `--stage1-path=${COREOS}`, `--uuid-file-save=${uuidFile}`, ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    procs.push(proc);
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<number>((resolve) => proc.on('close', (code, signal) => resolve(code ?? (signal ? 128 + 9 : 254))));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (existsSync(uuidFile)) {
        const uuid = readFileSync(uuidFile, 'utf8').trim();
        if (uuid && (await rkt(['app', 'list', uuid])).code === 0 && (await rkt(['status', '--wait-ready=10s', uuid])).code === 0) return { uuid, proc, done };
      }
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`rkt app sandbox did not come up: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { dir, rkt, sandbox };
}

const lines = (s: string) => s.split('\n').filter(Boolean);
const kv = (s: string) => Object.fromEntries(lines(s).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const oneLineError = (t: ExecutionContext, r: CommandResult, re: RegExp) => {
  t.is(r.code, 254, r.stderr);
  t.is(lines(r.stderr).length, 1, r.stderr);
  t.regex(r.stderr, re);
};
async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

ptest('a sandbox runs apps that come and go; exec, attach, stop, rm; stop and gc leave nothing', async (t) => {
  const env = await makeEnv(t);
  const check = await leakCheck({ cgroupRoots: ['/sys/fs/cgroup'], netns: false, veth: false, iptables: false });
  const sb = await env.sandbox(['--net=none', '--hostname=sbx']);
  const { uuid } = sb;
  const logDir = join(env.dir, 'logs');

  // two apps: one that talks and exits 3, a cat that reads what attach writes
  const ctl = join(env.dir, 'ctl');
  await mkdir(ctl);
  let r = await env.rkt([
    'app', 'add', uuid, 'example.com/busybox', '--name=worker', '--user=1000', '--group=1000', '--working-dir=/home/user', `--log-path=${join(logDir, 'worker.log')}`,
    `--mnt-volume=name=ctl,kind=host,source=${ctl},readOnly=true,target=/ctl`,
    '--exec=/bin/sh', '--', '-c', 'echo up on $(hostname) as $(id -u); if [ -e /ctl/stay ]; then exec sleep 1000; fi; echo bye >&2; exit 3',
  ]);
  t.is(r.code, 0, r.stderr);
  r = await env.rkt(['app', 'add', uuid, 'example.com/busybox', '--name=echo', '--exec=/bin/cat', '--stdin=stream', '--stdout=stream', '--stderr=stream', '--stdin-once']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(lines((await env.rkt(['app', 'list', '--no-legend', uuid])).stdout), ['worker\tcreated', 'echo\tcreated']);

  t.is((await env.rkt(['app', 'start', uuid, '--app=worker'])).code, 0);
  t.is((await env.rkt(['app', 'start', uuid, '--app=echo'])).code, 0);
  const running = JSON.parse((await env.rkt(['app', 'list', '--format=json', uuid])).stdout) as Array<{ name: string; state: string; pid?: number; created_at: number }>;
  const echo = running.find((a) => a.name === 'echo');
  t.is(echo?.state, 'running');
  t.true(typeof echo?.pid === 'number' && echo.pid > 1);
  t.true(['running', 'exited'].includes(running.find((a) => a.name === 'worker')?.state ?? ''));

  // the worker exits; the sandbox keeps running
  const exited = await until('worker exit', async () => {
    const s = kv((await env.rkt(['app', 'status', uuid, '--app=worker'])).stdout);
    return s.state === 'exited' ? s : undefined;
  });
  t.is(exited.exit_code, '3');
  t.regex(exited.finished_at ?? '', / \+0000 UTC$/);
  t.is(kv((await env.rkt(['status', uuid])).stdout).state, 'running');
  const log = readFileSync(join(logDir, 'worker.log'), 'utf8');
  t.regex(log, /^\S+Z stdout F up on sbx as 1000$/m);
  t.regex(log, /^\S+Z stderr F bye$/m);

  // restart it; this time it stays
  await writeFile(join(ctl, 'stay'), '');
  t.is((await env.rkt(['app', 'start', uuid, '--app=worker'])).code, 0);
  t.is(kv((await env.rkt(['app', 'status', uuid, '--app=worker'])).stdout).state, 'running');
  oneLineError(t, await env.rkt(['app', 'start', uuid, '--app=worker']), /already running/);

  // exec: output and exit status, as the app's user
  r = await env.rkt(['app', 'exec', uuid, '--app=echo', '--', '/bin/sh', '-c', 'echo $AC_APP_NAME $(id -u); exit 7']);
  t.is(r.code, 7, r.stderr);
  t.is(r.stdout, 'echo 0\n');
  r = await env.rkt(['app', 'exec', uuid, '--app=worker', '--', '/bin/sh', '-c', 'id -u; pwd; grep -q ":/worker$" /proc/self/cgroup && echo in its cgroup']);
  t.deepEqual(lines(r.stdout), ['1000', '/home/user', 'in its cgroup'], r.stderr);

  // attach: stdin goes to cat, its output comes back; the end of input closes its stdin (stdin-once)
  t.deepEqual(lines((await env.rkt(['attach', '--mode=list', '--app=echo', uuid])).stdout), ['stdin', 'stdout', 'stderr']);
  r = await env.rkt(['attach', '--app=echo', uuid], { input: 'marco\npolo\n' });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'marco\npolo\n');
  await until('echo exit', async () => (kv((await env.rkt(['app', 'status', uuid, '--app=echo'])).stdout).state === 'exited' ? true : undefined));
  oneLineError(t, await env.rkt(['attach', '--app=echo', uuid]), /not running/);

  // a running app stops with SIGTERM; then both apps go
  r = await env.rkt(['app', 'stop', uuid, '--app=worker', '--timeout=2s']);
  t.is(r.code, 0, r.stderr);
  t.is(kv((await env.rkt(['app', 'status', uuid, '--app=worker'])).stdout).exit_code, '143');
  t.is((await env.rkt(['app', 'stop', uuid, '--app=worker'])).code, 0, 'stopping a stopped app is fine');
  t.is((await env.rkt(['app', 'rm', uuid, '--app=worker'])).code, 0);
  t.is((await env.rkt(['app', 'rm', uuid, '--app=echo'])).code, 0);
  t.deepEqual(lines((await env.rkt(['app', 'list', '--no-legend', uuid])).stdout), []);

  // bad input: one line, 254
  oneLineError(t, await env.rkt(['app', 'start', uuid, '--app=nope']), /app nope is not in pod/);
  oneLineError(t, await env.rkt(['app', 'add', '00000000-0000-0000-0000-000000000000', 'example.com/busybox']), /no pod|not found/i);
  t.is((await env.rkt(['app', 'add', uuid, 'example.com/busybox', '--name=twice'])).code, 0);
  oneLineError(t, await env.rkt(['app', 'add', uuid, 'example.com/busybox', '--name=twice']), /already exists/);
  oneLineError(t, await env.rkt(['app', 'status', uuid, '--app=missing']), /cannot find app/);

  // stop the sandbox: it exits 0, then app commands see a pod that is not running
  t.is((await env.rkt(['stop', uuid])).code, 0);
  t.is(await sb.done, 0);
  oneLineError(t, await env.rkt(['app', 'start', uuid, '--app=twice']), /isn't currently running/);
  t.is(kv((await env.rkt(['app', 'status', uuid, '--app=twice'])).stdout).state, 'exited');
  t.is((await env.rkt(['gc', '--grace-period=0s'])).code, 0);
  const leaks = (await check()).filter((l) => l.includes(uuid) || l.includes(env.dir));
  t.deepEqual(leaks, [], 'resources leaked');
});

ptest('app commands refuse a pod that is not mutable', async (t) => {
  const env = await makeEnv(t);
  const run = spawn(process.execPath, [RKT, '--dir', join(env.dir, 'data'), '--local-config', join(env.dir, 'cfg'), '--system-config', join(env.dir, 'cfg'), '--user-config', join(env.dir, 'cfg'), 'run', '--insecure-options=image', `--stage1-path=${COREOS}`, '--net=host', `--uuid-file-save=${join(env.dir, 'plain')}`, 'example.com/busybox'], { stdio: 'ignore' });
  const done = new Promise((resolve) => run.on('close', resolve));
  t.teardown(() => {
    if (run.exitCode === null) run.kill('SIGKILL');
  });
  const uuid = await until('uuid', async () => (existsSync(join(env.dir, 'plain')) ? readFileSync(join(env.dir, 'plain'), 'utf8').trim() || undefined : undefined));
  await until('running', async () => ((await env.rkt(['status', '--wait-ready=10s', uuid])).code === 0 ? true : undefined));
  oneLineError(t, await env.rkt(['app', 'add', uuid, 'example.com/busybox', '--name=x']), /not a mutable pod/);
  t.is((await env.rkt(['stop', uuid])).code, 0);
  await done;
});
