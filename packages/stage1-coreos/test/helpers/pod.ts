/**
 * Test helpers that play stage0 for stage1-coreos, exactly as docs/stage1-interface.md says:
 * the stage1 ACI extracted to `<pod>/stage1`, each app's image to
 * `<pod>/stage1/rootfs/opt/stage2/<app>`, the pod manifest written, the pod directory locked
 * and the run entrypoint exec'd with cwd = the pod dir and RKT_LOCK_FD.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appDir, newPodUUID, podDir, podManifestPath, stage1ImagePath, stage1RootfsPath } from '@rktnetes/common';
import { type PodManifestInput, podManifest, serializePodManifest } from '@rktnetes/schema';
import { realSys } from '@rktnetes/sys';
import { type BusyboxImageOptions, assertNoLeaks, busyboxImage, leakCheck, tmpDir } from '@rktnetes/testkit';
import type { InitApp, InitSpec } from '@rktnetes/stage1-coreos';

const PKG = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The stage1 image the tests run (built on demand). */
export const STAGE1_ACI = join(PKG, 'dist', 'stage1-coreos.aci');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Builds dist/stage1-coreos.aci when it is missing or older than the sources (serialised with
 * an flock, since ava runs test files in parallel).
 */
export function ensureStage1Aci(): string {
  const sys = realSys();
  const lock = openSync(join(tmpdir(), 'rktnetes-stage1-coreos-build.lock'), 'a');
  try {
    sys.flock(lock, 'ex');
    let built = 0;
    try {
      built = statSync(STAGE1_ACI).mtimeMs;
    } catch {
      // not built yet
    }
    const sources = Math.max(newestMtime(join(PKG, 'src')), newestMtime(join(PKG, 'scripts')), ...['common', 'schema', 'seccomp', 'stage1-abi', 'sys'].map((p) => newestMtime(join(PKG, '..', p, 'src'))));
    if (built < sources) {
      const r = spawnSync(process.execPath, ['../../tools/build.mjs'], { cwd: PKG, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`building stage1-coreos failed: ${r.stderr}${r.stdout}`);
    }
  } finally {
    closeSync(lock);
  }
  return STAGE1_ACI;
}

/** One app of a test pod: its name, busybox image options and runtime app fields. */
export interface TestApp {
  name: string;
  image?: BusyboxImageOptions;
  /** fields of the runtime app in the pod manifest (`app`, `mounts`, `readOnlyRootFS`, ...) */
  runtime?: Record<string, unknown>;
}

/** A prepared pod directory. */
export interface TestPod {
  uuid: string;
  dir: string;
  dataDir: string;
  stage1Root: string;
}

function untar(archive: Buffer | string, dest: string): void {
  mkdirSync(dest, { recursive: true });
  const r = spawnSync('tar', ['-C', dest, '-xf', typeof archive === 'string' ? archive : '-'], {
    input: typeof archive === 'string' ? undefined : archive,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
}

/** Prepares `pods/run/<uuid>` in a fresh data directory, as stage0's prepare does. */
export async function preparePod(t: { teardown(fn: () => unknown): void }, apps: TestApp[], manifest: Omit<PodManifestInput, 'apps'> = {}): Promise<TestPod> {
  const dataDir = await tmpDir('s1coreos', t);
  const uuid = newPodUUID();
  const dir = podDir(dataDir, 'run', uuid);
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  untar(ensureStage1Aci(), stage1ImagePath(dir));
  const runtimeApps = [];
  for (const a of apps) {
    const aci = await busyboxImage({ name: `example.com/${a.name}`, ...a.image });
    untar(aci, appDir(dir, a.name));
    runtimeApps.push({ name: a.name, image: { name: `example.com/${a.name}` }, ...a.runtime });
  }
  writeFileSync(podManifestPath(dir), serializePodManifest(podManifest({ ...manifest, apps: runtimeApps as PodManifestInput['apps'] })));
  return { uuid, dir, dataDir, stage1Root: stage1RootfsPath(dir) };
}

/** A started run entrypoint. */
export interface RunningPod {
  child: ChildProcess;
  /** resolves with the exit status and the output once the run entrypoint exits */
  done: Promise<{ code: number; stdout: string; stderr: string }>;
  /** output so far */
  output(): { stdout: string; stderr: string };
  /** ms from spawn to the first byte on stdout (undefined until then) */
  firstOutputMs(): number | undefined;
}

/**
 * Starts `<pod>/stage1/rootfs/run <args> <uuid>` with cwd = the pod dir and the pod lock held
 * on fd 3 (RKT_LOCK_FD=3), as stage0 does.
 */
export function startPod(pod: TestPod, args: string[] = ['--net=host'], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): RunningPod {
  const env = opts.env ?? process.env;
  const sys = realSys();
  const lock = sys.openDirFd(pod.dir);
  sys.flock(lock, 'ex');
  const started = performance.now();
  let first: number | undefined;
  const child = spawn(join(pod.stage1Root, 'run'), [...args, pod.uuid], {
    cwd: pod.dir,
    env: { ...env, RKT_LOCK_FD: '3', RKT_SELINUX_CONTEXT: '', RKT_SELINUX_MOUNT_CONTEXT: '' },
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', lock],
  });
  closeSync(lock);
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    first ??= performance.now() - started;
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code: code ?? 128 + (signal ? 9 : 0), stdout, stderr }));
  });
  return { child, done, output: () => ({ stdout, stderr }), firstOutputMs: () => first };
}

/** Runs a pod to completion. */
export async function runToEnd(pod: TestPod, args?: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return startPod(pod, args).done;
}

/** Runs another entrypoint (gc, stop, enter) of the pod's stage1 with cwd = the pod dir. */
export function runEntrypoint(pod: TestPod, name: 'gc' | 'stop' | 'enter', args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(pod.stage1Root, name), args, { cwd: pod.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? 254, stdout, stderr }));
  });
}

/** Waits until `check` returns a value (polling every 20 ms), or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 10000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The pid the pod wrote to `<pod>/pid`, once it is there. */
export function readPid(pod: TestPod): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(join(pod.dir, 'pid'), 'utf8'), 10);
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** An app's exit status from `rkt/status/<app>`. */
export function readStatus(pod: TestPod, app: string): number | undefined {
  try {
    return Number.parseInt(readFileSync(join(pod.stage1Root, 'rkt/status', app), 'utf8'), 10);
  } catch {
    return undefined;
  }
}

/** The result of a pod run plus the probe report when the app printed one. */
export interface PodResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** What {@link withGc} asserts with (an ava ExecutionContext). */
export interface GcAssertions {
  deepEqual(a: unknown, b: unknown, m?: string): unknown;
  is(a: unknown, b: unknown, m?: string): unknown;
}

/**
 * Takes a leak check of the pod, runs `body`, then the pod's gc entrypoint, and fails the test
 * when gc fails or anything of the pod (mounts, cgroups, named netns) is left behind; returns
 * what `body` returned. When `body` throws, neither gc nor the check runs.
 */
export async function withGc<T>(t: GcAssertions, pod: TestPod, body: () => Promise<T>): Promise<T> {
  const check = await leakCheck({ match: pod.uuid, cgroupRoots: ['/sys/fs/cgroup'], iptables: false, veth: false });
  const r = await body();
  const gc = await runEntrypoint(pod, 'gc', [pod.uuid]);
  t.is(gc.code, 0, `gc failed: ${gc.stderr}`);
  await assertNoLeaks(t, check);
  return r;
}

/** Runs a pod to its end, then gc, with {@link withGc}'s checks. */
export async function runAndGc(t: GcAssertions, pod: TestPod, args: string[] = ['--net=host']): Promise<PodResult> {
  return withGc(t, pod, () => startPod(pod, args).done);
}

/**
 * Starts the pod (`startPod(pod, args)`), runs `body` while it runs, then stops it (SIGTERM to
 * run) and waits for it, with {@link withGc}'s gc and checks after.
 */
export async function withRunningPod(t: GcAssertions, pod: TestPod, args: string[] | undefined, body: (running: RunningPod) => Promise<void>): Promise<void> {
  await withGc(t, pod, async () => {
    const running = startPod(pod, args);
    try {
      await body(running);
    } finally {
      running.child.kill('SIGTERM');
      await running.done;
    }
  });
}

/** An init spec app for unit checks of the spec format: root, no capabilities but one, `/bin/true`; `over` replaces fields. */
export function sampleInitApp(over: Partial<InitApp> = {}): InitApp {
  return {
    name: 'web',
    root: '/opt/stage2/web/rootfs',
    cgroups: [],
    masks: [],
    readOnly: [],
    workdir: '/',
    uid: 0,
    gid: 0,
    groups: [],
    bounding: [0],
    inheritable: [],
    ambient: [],
    noNewPrivs: false,
    env: [],
    argv: ['/bin/true'],
    ...over,
  };
}

/**
 * An init spec for unit checks of the spec format: a host-network pod with {@link sampleInitApp}
 * and no cgroups; `over` replaces fields.
 */
export function sampleInitSpec(over: Partial<InitSpec> = {}): InitSpec {
  return {
    debug: false,
    lockFd: 3,
    stage1Root: '/pod/stage1/rootfs',
    hostname: 'h',
    network: { mode: 'host' },
    ipc: 'private',
    interactive: false,
    stopTimeoutSeconds: 10,
    cgroupJoins: [],
    cgroupMoves: [],
    cgroupWrites: [],
    apps: [sampleInitApp()],
    ...over,
  };
}
