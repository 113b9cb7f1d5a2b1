import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeStage1 } from '@rktnetes/stage1-abi';
import {
  readStubLog,
  readTar,
  runCommandOk,
  stubEntrypointPath,
  stubStage1Image,
  stubStage1Manifest,
  tmpDir,
  type StubStage1Options,
} from '@rktnetes/testkit';

interface Pod {
  dir: string;
  uuid: string;
  logDir: string;
  rootfs: string;
}

/** A pod directory as stage0 would prepare it, with the stub extracted as its stage1. */
async function preparePod(t: ExecutionContext, opts: Omit<StubStage1Options, 'logDir'>, apps: string[]): Promise<Pod> {
  const base = await tmpDir('stubpod', t);
  const logDir = join(base, 'log');
  const uuid = randomUUID();
  const dir = join(base, 'pods', 'run', uuid);
  await mkdir(logDir);
  await mkdir(join(dir, 'stage1'), { recursive: true });
  await writeFile(join(dir, 'stub.aci'), await stubStage1Image({ ...opts, logDir }));
  await runCommandOk('tar', ['-x', '-f', join(dir, 'stub.aci'), '-C', join(dir, 'stage1')]);
  await writeFile(
    join(dir, 'pod'),
    JSON.stringify({ acKind: 'PodManifest', acVersion: '0.8.11', apps: apps.map((name) => ({ name, image: { id: 'sha512-x' } })) }),
  );
  return { dir, uuid, logDir, rootfs: join(dir, 'stage1', 'rootfs') };
}

interface Exec {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Execs an entrypoint like stage0: cwd = pod dir, RKT_LOCK_FD = an fd open on the pod dir. */
function execEntrypoint(pod: Pod, name: Parameters<typeof stubEntrypointPath>[0], args: string[], onSpawn?: () => void): Promise<Exec> {
  const lock = openSync(pod.dir, 'r');
  const child = spawn(join(pod.rootfs, stubEntrypointPath(name)), args, {
    cwd: pod.dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', RKT_LOCK_FD: '3', RKT_SELINUX_CONTEXT: '' },
    stdio: ['ignore', 'pipe', 'pipe', lock],
  });
  closeSync(lock);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  child.once('spawn', () => onSpawn?.());
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('the stub manifest declares its entrypoints and interface version', (t) => {
  const info = describeStage1(stubStage1Manifest());
  t.is(info.interfaceVersion, 6);
  t.deepEqual(info.entrypoints, { run: '/stub-run', enter: '/stub-enter', gc: '/stub-gc', stop: '/stub-stop' });
  t.false(info.supportsMutable);
  const mutable = describeStage1(stubStage1Manifest({ entrypoints: ['run', 'enter', 'gc', 'app/add', 'app/start', 'app/stop', 'app/rm'], interfaceVersion: 5 }));
  t.true(mutable.supportsMutable);
  t.is(mutable.entrypoints['app/add'], '/stub-app-add');
  t.is(describeStage1(stubStage1Manifest({ interfaceVersion: null })).interfaceVersion, 1);
});

test('the stub image holds its config and one executable per entrypoint', async (t) => {
  const entries = await readTar(await stubStage1Image({ logDir: '/x', exitCode: 4 }));
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const ep of ['run', 'enter', 'gc', 'stop']) {
    const f = byName.get(`rootfs/stub-${ep}`);
    t.is(f?.mode, 0o755);
    t.true(f?.content.toString().startsWith(`#!${process.execPath}\n`));
  }
  t.deepEqual(JSON.parse(byName.get('rootfs/stub-stage1.json')?.content.toString() ?? ''), { logDir: '/x', exitCode: 4 });
});

test('run writes pid and app statuses, exits with the first failing status, and logs its argv', async (t) => {
  const pod = await preparePod(t, { appExitCodes: { b: 3 }, runStdout: 'hello from stub\n' }, ['a', 'b']);
  const r = await execEntrypoint(pod, 'run', ['--debug', '--net=default', '--hostname=h1', pod.uuid]);
  t.is(r.code, 3, r.stderr);
  t.is(r.stdout, 'hello from stub\n');
  t.regex(r.stderr, /stub stage1 run:/);
  const pid = Number((await readFile(join(pod.dir, 'pid'), 'utf8')).trim());
  t.true(pid > 0);
  t.is(await readFile(join(pod.rootfs, 'rkt', 'status', 'a'), 'utf8'), '0\n');
  t.is(await readFile(join(pod.rootfs, 'rkt', 'status', 'b'), 'utf8'), '3\n');
  const [rec] = await readStubLog(pod.logDir);
  t.like(rec, { entrypoint: 'run', cwd: pod.dir, pid, lockFdHeld: true, apps: ['a', 'b'], env: { RKT_LOCK_FD: '3' } });
  t.deepEqual(rec?.argv, ['--debug', '--net=default', '--hostname=h1', pod.uuid]);
  t.like(rec?.parsed, { uuid: pod.uuid, debug: true, hostname: 'h1' });
});

test('run writes ppid when asked and exits with a configured status', async (t) => {
  const pod = await preparePod(t, { pidFile: 'ppid', exitCode: 9 }, ['only']);
  const r = await execEntrypoint(pod, 'run', [pod.uuid]);
  t.is(r.code, 9, r.stderr);
  t.regex(await readFile(join(pod.dir, 'ppid'), 'utf8'), /^\d+\n$/);
  t.is(await readFile(join(pod.rootfs, 'rkt', 'status', 'only'), 'utf8'), '0\n');
});

test('an argv the stage1 ABI rejects fails with 254 and is logged', async (t) => {
  const pod = await preparePod(t, {}, ['a']);
  const r = await execEntrypoint(pod, 'run', ['--bogus', pod.uuid]);
  t.is(r.code, 254);
  const [rec] = await readStubLog(pod.logDir);
  t.is(rec?.error?.code, 'stage1.args.unknown-flag');
  const gc = await execEntrypoint(pod, 'gc', []);
  t.is(gc.code, 254);
  t.is((await readStubLog(pod.logDir))[1]?.error?.code, 'stage1.args.missing-argument');
});

test('gc and stop succeed and log their argv', async (t) => {
  const pod = await preparePod(t, {}, ['a']);
  t.is((await execEntrypoint(pod, 'gc', ['--debug', '--local-config', '/etc/rkt', pod.uuid])).code, 0);
  t.is((await execEntrypoint(pod, 'stop', ['--force', pod.uuid])).code, 0);
  const log = await readStubLog(pod.logDir);
  t.deepEqual(
    log.map((l) => [l.entrypoint, l.argv]),
    [
      ['gc', ['--debug', '--local-config', '/etc/rkt', pod.uuid]],
      ['stop', ['--force', pod.uuid]],
    ],
  );
  t.like(log[0]?.parsed, { uuid: pod.uuid, debug: true, localConfig: '/etc/rkt' });
  t.like(log[1]?.parsed, { uuid: pod.uuid, force: true });
});

test('a sleeping run holds the pod until stop signals it', async (t) => {
  const pod = await preparePod(t, { runSleepMs: -1 }, ['a', 'b']);
  const running = execEntrypoint(pod, 'run', [pod.uuid]);
  // wait for the pid file, written once run is up
  let pid = '';
  for (let i = 0; i < 200 && !pid; i++) {
    pid = await readFile(join(pod.dir, 'pid'), 'utf8').catch(() => '');
    if (!pid) await new Promise((r) => setTimeout(r, 25));
  }
  t.truthy(pid);
  t.is((await execEntrypoint(pod, 'stop', [pod.uuid])).code, 0);
  const r = await running;
  t.is(r.code, 143);
  t.is(await readFile(join(pod.rootfs, 'rkt', 'status', 'b'), 'utf8'), '143\n');
});

test('enter runs the command and passes its status', async (t) => {
  const pod = await preparePod(t, {}, ['a']);
  const r = await execEntrypoint(pod, 'enter', ['--pid=1', '--appname=a', '--', '/bin/sh', '-c', 'echo in; exit 7']);
  t.is(r.code, 7);
  t.is(r.stdout, 'in\n');
  t.like((await readStubLog(pod.logDir))[0]?.parsed, { pid: 1, appName: 'a', command: ['/bin/sh', '-c', 'echo in; exit 7'] });
});
