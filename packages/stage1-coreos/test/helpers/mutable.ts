/**
 * Helpers of the mutable-pod tests, playing stage0 as docs/stage1-interface.md says: a mutable
 * pod started (`run --mutable`), apps staged into it as `rkt app add` does before calling
 * app_add, and the crossing entrypoints (app_add, app_start, app_stop, app_rm, attach) run with
 * cwd = the pod dir and stage0's crossing environment, natively or through the Node
 * implementation (`RKTNETES_STAGE1_RUN=node`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appDir, podManifestPath } from '@rktnetes/common';
import { parsePodManifest, runtimeApp, serializePodManifest, type RuntimeApp } from '@rktnetes/schema';
import { ctlCall } from '@rktnetes/stage1-coreos';
import { busyboxImage } from '@rktnetes/testkit';
import { preparePod, readPid, runEntrypoint, startPod, waitFor, type RunningPod, type TestPod } from './pod';

/** The pod manifest fields (for `preparePod`) of a mutable pod: the stage1 `mutable` annotation. */
export const MUTABLE_POD = { annotations: [{ name: 'coreos.com/rkt/stage1/mutable', value: 'true' }] };

/** The exit status and output of one entrypoint process. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Which implementation a crossing entrypoint runs: the native program or the Node one. */
export type Way = 'native' | 'node';

/** Options of {@link crossing}. */
export interface CrossingOptions {
  way?: Way;
  /** added to the crossing environment */
  env?: Record<string, string>;
  /** stdin content (default: /dev/null) */
  input?: string;
  /** SIGKILL after this (default 30 s) */
  timeoutMs?: number;
}

/**
 * Runs `<stage1 root>/<name> <args>` as stage0 runs a crossing entrypoint: cwd = the pod dir, a
 * fresh environment with the crossing variables and PATH (plus `env`), stdin from /dev/null or
 * `input`. With `way` node, `RKTNETES_STAGE1_RUN=node`.
 */
export function crossing(pod: TestPod, name: string, args: string[], opts: CrossingOptions = {}): Promise<Ran> {
  const pid = readPid(pod);
  const env: Record<string, string> = { RKT_STAGE1_ENTERCMD: join(pod.stage1Root, 'enter'), PATH: process.env.PATH ?? '/usr/bin:/bin', ...opts.env };
  if (pid !== undefined) env['RKT_STAGE1_ENTERPID'] = String(pid);
  if (opts.way === 'node') env['RKTNETES_STAGE1_RUN'] = 'node';
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(join(pod.stage1Root, name), args, { cwd: pod.dir, env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 254, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** What stage0's app add does before app_add: the app's image rendered, the runtime app added to the pod manifest. */
export async function stageApp(pod: TestPod, ra: Partial<RuntimeApp> & { name: string }, image: Parameters<typeof busyboxImage>[0]): Promise<void> {
  const aci = await busyboxImage({ name: `example.com/${ra.name}`, ...image });
  mkdirSync(appDir(pod.dir, ra.name), { recursive: true });
  const r = spawnSync('tar', ['-C', appDir(pod.dir, ra.name), '-xf', '-'], { input: aci, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
  const m = parsePodManifest(readFileSync(podManifestPath(pod.dir)));
  m.apps.push(runtimeApp(ra));
  writeFileSync(podManifestPath(pod.dir), serializePodManifest(m));
}

/** {@link stageApp}, then app_add and app_start, each asserted to succeed. */
export async function addAndStart(
  t: { is(a: unknown, b: unknown, m?: string): unknown },
  pod: TestPod,
  ra: Partial<RuntimeApp> & { name: string },
  image: Parameters<typeof busyboxImage>[0],
): Promise<void> {
  await stageApp(pod, ra, image);
  const add = await crossing(pod, 'app_add', ['--debug=false', `--uuid=${pod.uuid}`, `--app=${ra.name}`]);
  t.is(add.code, 0, add.stderr);
  const start = await crossing(pod, 'app_start', ['--debug=false', `--app=${ra.name}`]);
  t.is(start.code, 0, start.stderr);
}

/** A running mutable pod. */
export interface MutablePod {
  pod: TestPod;
  run: RunningPod;
  /** SIGKILL for the pod's run process (PID 1 dies with it), once */
  kill(): Promise<void>;
}

/**
 * Starts a prepared mutable pod (`run <args> --mutable`) without waiting for it; a teardown
 * kills it if it still runs and runs gc.
 */
export function startMutable(t: { teardown(fn: () => unknown): void }, pod: TestPod, args: string[]): MutablePod {
  const run = startPod(pod, [...args, '--mutable']);
  let finished = false;
  void run.done.then(() => (finished = true));
  const kill = async () => {
    if (!finished) run.child.kill('SIGKILL');
    await run.done;
  };
  t.teardown(async () => {
    await kill();
    await runEntrypoint(pod, 'gc', [pod.uuid]);
  });
  return { pod, run, kill };
}

/**
 * Prepares and starts a mutable pod (`run --mutable <args>`) and waits until it runs; a teardown
 * kills it if it still runs and runs gc.
 */
export async function startMutablePod(t: { teardown(fn: () => unknown): void }, args: string[] = ['--net=none']): Promise<MutablePod> {
  const pod = await preparePod(t, [], MUTABLE_POD);
  const started = startMutable(t, pod, args);
  await waitFor('pid file', () => readPid(pod), 20_000);
  return started;
}

/** Adds a staged app with the Node app_add (there is no native one); throws when it fails. */
export async function addApp(pod: TestPod, name: string, image: Parameters<typeof busyboxImage>[0]): Promise<void> {
  await stageApp(pod, { name }, image);
  const r = await crossing(pod, 'app_add', ['--debug=false', `--uuid=${pod.uuid}`, `--app=${name}`]);
  if (r.code !== 0) throw new Error(`app_add ${name}: ${r.stderr}`);
}

/** PID 1's apps (`list` on the control socket) as sorted `name:state:status` entries. */
export async function podApps(pod: TestPod): Promise<string[]> {
  const list = await ctlCall(pod.dir, 'list');
  return list
    .split(' ')
    .filter(Boolean)
    .map((e) => e.split(':'))
    .map(([name, state, , status]) => `${name}:${state}:${status}`)
    .sort();
}
