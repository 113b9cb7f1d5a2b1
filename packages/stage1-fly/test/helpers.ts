/**
 * Test helpers standing in for stage0: build a pod directory the way stage0 prepares one
 * (stage1 image rendered to `stage1/`, app images to `stage1/rootfs/opt/stage2/<app>/`, the pod
 * manifest), and start a stage1 entrypoint in it with the pod lock held on RKT_LOCK_FD.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appDir, appInfoDir, newPodUUID, podDir, podManifestPath, readFileTolerantSync, stage1ImagePath, stage1RootfsPath } from '@rktnetes/common';
import { serializePodManifest, type PodManifest } from '@rktnetes/schema';
import { mountsUnder, readMountInfo, realSys } from '@rktnetes/sys';
import { aciImageId, leakCheck, runCommandOk, tmpDir, type Teardownable } from '@rktnetes/testkit';

/** packages/stage1-fly */
export const PKG_DIR = fileURLToPath(new URL('..', import.meta.url));
/** The fly stage1 image the package build writes. */
export const FLY_ACI = join(PKG_DIR, 'dist', 'stage1-fly.aci');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(p) : st.mtimeMs);
  }
  return newest;
}

/** Builds dist/stage1-fly.aci (tools/build.mjs) unless it is newer than every source file. */
export async function ensureFlyAci(): Promise<string> {
  let built = 0;
  try {
    built = statSync(FLY_ACI).mtimeMs;
  } catch {
    // not built yet
  }
  const sources = Math.max(newestMtime(join(PKG_DIR, 'src')), newestMtime(join(PKG_DIR, 'scripts')), newestMtime(join(PKG_DIR, '..', 'sys', 'src')));
  if (built <= sources) await runCommandOk(process.execPath, ['../../tools/build.mjs'], { cwd: PKG_DIR });
  return FLY_ACI;
}

/** One app of a test pod. */
export interface TestApp {
  name: string;
  /** the app image (an ACI) */
  image: Buffer;
  /** the pod manifest's runtime app fields besides name and image (`app`, `mounts`, `readOnlyRootFS`) */
  runtime?: Record<string, unknown>;
}

/** A pod directory made by {@link makePod}. */
export interface TestPod {
  dataDir: string;
  dir: string;
  uuid: string;
  stage1Rootfs: string;
  /** the app rootfs of an app (host path) */
  rootfs(app: string): string;
}

/**
 * A pod in `pods/run/<uuid>` of a fresh data dir (removed at teardown): the stage1 ACI
 * extracted to `stage1/`, each app image to `stage1/rootfs/opt/stage2/<app>/` (its manifest
 * copied to `appsinfo/<app>/manifest`), and the pod manifest.
 */
export async function makePod(t: Teardownable, stage1Aci: string, apps: readonly TestApp[], extra: Partial<PodManifest> = {}): Promise<TestPod> {
  const dataDir = await tmpDir('fly', t);
  const uuid = newPodUUID();
  const dir = podDir(dataDir, 'run', uuid);
  mkdirSync(stage1ImagePath(dir), { recursive: true });
  await runCommandOk('tar', ['-xf', stage1Aci, '-C', stage1ImagePath(dir)]);
  for (const a of apps) {
    const aci = join(dataDir, `${a.name}.aci`);
    writeFileSync(aci, a.image);
    mkdirSync(appDir(dir, a.name), { recursive: true });
    await runCommandOk('tar', ['-xf', aci, '-C', appDir(dir, a.name)]);
    mkdirSync(appInfoDir(dir, a.name), { recursive: true });
    copyFileSync(join(appDir(dir, a.name), 'manifest'), join(appInfoDir(dir, a.name), 'manifest'));
  }
  const manifest = {
    acKind: 'PodManifest',
    acVersion: '0.8.11',
    apps: apps.map((a) => ({ name: a.name, image: { name: 'example.com/busybox-probe', id: aciImageId(a.image) }, ...a.runtime })),
    ...extra,
  } as PodManifest;
  writeFileSync(podManifestPath(dir), serializePodManifest(manifest));
  return { dataDir, dir, uuid, stage1Rootfs: stage1RootfsPath(dir), rootfs: (app) => join(appDir(dir, app), 'rootfs') };
}

/** How an entrypoint ended. */
export interface EntrypointResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A started entrypoint. */
export interface RunningEntrypoint {
  child: ChildProcess;
  done: Promise<EntrypointResult>;
}

/** Options of {@link startEntrypoint}. */
export interface StartOptions {
  /** take the pod lock and pass it as RKT_LOCK_FD (default: only for run) */
  lock?: boolean;
  /** start in a new session and process group */
  detached?: boolean;
  /** environment (default: PATH only) */
  env?: NodeJS.ProcessEnv;
  input?: string;
  /** the entrypoint's path (default `<pod>/stage1/rootfs/<name>`) */
  path?: string;
}

// What stage0 does before exec'ing run: open the pod directory, lock it, exec with the fd.
const LOCK_AND_EXEC = 'exec 9<"$1" || exit 250; flock -x -n 9 || exit 251; shift; RKT_LOCK_FD=9 exec "$@"';

/**
 * Starts a stage1 entrypoint of `pod` as stage0 would: cwd = the pod directory, argv[0] = the
 * entrypoint's host path; for run, with the pod directory locked on fd 9 and RKT_LOCK_FD=9.
 */
export function startEntrypoint(pod: Pick<TestPod, 'dir' | 'stage1Rootfs'>, name: string, args: readonly string[], opts: StartOptions = {}): RunningEntrypoint {
  const path = opts.path ?? join(pod.stage1Rootfs, name);
  const lock = opts.lock ?? name === 'run';
  const [cmd, argv] = lock ? ['sh', ['-c', LOCK_AND_EXEC, 'sh', pod.dir, path, ...args]] : [path, [...args]];
  const child = spawn(cmd as string, argv as string[], {
    cwd: pod.dir,
    env: opts.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    detached: opts.detached ?? false,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => err.push(c));
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(opts.input ?? '');
  const done = new Promise<EntrypointResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
  return { child, done };
}

/** Runs an entrypoint to its end (killed after `timeoutMs`). */
export async function runEntrypoint(pod: Pick<TestPod, 'dir' | 'stage1Rootfs'>, name: string, args: readonly string[], opts: StartOptions & { timeoutMs?: number } = {}): Promise<EntrypointResult> {
  const r = startEntrypoint(pod, name, args, opts);
  const timer = setTimeout(() => r.child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  try {
    return await r.done;
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` every 20 ms until it returns a value other than undefined (or throws after `timeoutMs`). */
export async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The pid run wrote, once it exists. */
export function readPid(pod: Pick<TestPod, 'dir'>): number | undefined {
  const text = readFileTolerantSync(join(pod.dir, 'pid'));
  return text === undefined || text === '' ? undefined : Number(text.trim());
}

/** Whether someone holds the pod directory's lock (a shared non-blocking flock fails). */
export function lockHeld(dir: string): boolean {
  const sys = realSys();
  const fd = sys.openDirFd(dir);
  try {
    const got = sys.flock(fd, 'sh', { nonBlocking: true });
    if (got) sys.flock(fd, 'un');
    return !got;
  } finally {
    closeSync(fd);
  }
}

/** Mount points the host (this process) has at or below `dir`. */
export function hostMountsUnder(dir: string): string[] {
  return mountsUnder(dir, readMountInfo()).map((m) => m.mountPoint);
}

/**
 * A leak check for one test: mounts whose line names `dataDir`, and processes descending from
 * this test process (the tests of a file run serially).
 */
export async function podLeakCheck(dataDir: string): Promise<() => Promise<string[]>> {
  const mounts = await leakCheck({ match: dataDir, netns: false, veth: false, iptables: false, processes: false });
  const procs = await leakCheck({ mounts: false, netns: false, veth: false, iptables: false });
  return async () => [...(await mounts()), ...(await procs())];
}

/** The lines of the probe report between `probe.version` and `probe.end`, as key → value. */
export function keyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** stage0's bundled `rkt`, when it has been built. */
export const RKT = join(PKG_DIR, '..', 'stage0', 'dist', 'rkt.mjs');

/** Whether end-to-end tests through stage0 can run: root and a built `rkt`. */
export function canRunRkt(): boolean {
  return process.getuid?.() === 0 && statSync(RKT, { throwIfNoEntry: false }) !== undefined;
}

/** Runs `rkt` with its data and configuration directories in `dir`, never the host's. */
export function rktIn(dir: string): (args: readonly string[], opts?: { input?: string; timeoutMs?: number }) => Promise<EntrypointResult> {
  const base = ['--dir', join(dir, 'data'), '--local-config', join(dir, 'local'), '--system-config', join(dir, 'system'), '--user-config', join(dir, 'user')];
  for (const d of ['local', 'system', 'user']) mkdirSync(join(dir, d), { recursive: true });
  return async (args, opts = {}) => {
    const child = spawn(process.execPath, [RKT, ...base, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    try {
      return await new Promise<EntrypointResult>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
      });
    } finally {
      clearTimeout(timer);
    }
  };
}
