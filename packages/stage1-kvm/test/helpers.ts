/**
 * Test helpers standing in for stage0: a pod directory prepared the way stage0 prepares one
 * (the kvm stage1 image extracted to `stage1/`, app images to
 * `stage1/rootfs/opt/stage2/<app>/`, the pod manifest written with the schema builders), and
 * entrypoints started in it with the pod lock held on RKT_LOCK_FD.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appDir, appInfoDir, newPodUUID, podDir, podManifestPath, readFileTolerantSync, stage1ImagePath, stage1RootfsPath } from '@rktnetes/common';
import { podManifest, serializePodManifest, type PodManifestInput } from '@rktnetes/schema';
import { realSys } from '@rktnetes/sys';
import { aciImageId, isRoot, runCommandOk, tmpDir, type Teardownable } from '@rktnetes/testkit';

/** packages/stage1-kvm */
export const PKG_DIR = fileURLToPath(new URL('..', import.meta.url));
/** The kvm stage1 image the package build writes. */
export const KVM_ACI = join(PKG_DIR, 'dist', 'stage1-kvm.aci');
/** The kernel cache scripts/kvm-assets.sh fills. */
export const ASSETS_DIR = join(process.env.RKTNETES_KVM_ASSETS ?? '/var/cache/rktnetes/kvm', 'current');

/** Why the VM tests cannot run here, or undefined when they can. */
export function vmSkipReason(): string | undefined {
  if (!isRoot()) return 'needs root';
  if (!existsSync(join(ASSETS_DIR, '.complete'))) return `no guest kernel in ${ASSETS_DIR}: run scripts/kvm-assets.sh`;
  if (spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { stdio: 'ignore' }).status !== 0) return 'qemu-system-x86_64 is not installed';
  if (spawnSync('sh', ['-c', 'command -v gcc'], { stdio: 'ignore' }).status !== 0) return 'gcc is not installed';
  return undefined;
}

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/** Builds dist/stage1-kvm.aci unless it is newer than the sources and the kernel cache. */
export async function ensureKvmAci(): Promise<string> {
  let built = 0;
  try {
    built = statSync(KVM_ACI).mtimeMs;
  } catch {
    // not built yet
  }
  const inputs = ['src', 'native', 'scripts', '../pod-net/src', '../pod-net/scripts', '../seccomp/src'].map((d) => newestMtime(join(PKG_DIR, d)));
  if (existsSync(ASSETS_DIR)) inputs.push(newestMtime(join(ASSETS_DIR, '.complete')));
  if (built <= Math.max(...inputs)) await runCommandOk(process.execPath, ['../../tools/build.mjs'], { cwd: PKG_DIR });
  return KVM_ACI;
}

/** One app of a test pod. */
export interface TestApp {
  name: string;
  /** the app image (an ACI) */
  image: Buffer;
  /** pod manifest runtime-app fields besides name and image (`app`, `mounts`, ...) */
  runtime?: Record<string, unknown>;
}

/** A pod directory made by {@link makePod}. */
export interface TestPod {
  dataDir: string;
  dir: string;
  uuid: string;
  stage1Rootfs: string;
  rootfs(app: string): string;
}

/**
 * A pod in `pods/run/<uuid>` of a fresh data dir (removed at teardown): the stage1 ACI
 * extracted to `stage1/`, each app image to `stage1/rootfs/opt/stage2/<app>/` (manifest also
 * in `appsinfo/<app>/manifest`), and the pod manifest built with the schema builders.
 */
export async function makePod(t: Teardownable, stage1Aci: string, apps: readonly TestApp[], extra: Omit<PodManifestInput, 'apps'> = {}): Promise<TestPod> {
  const dataDir = await tmpDir('kvm', t);
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
  const manifest = podManifest({
    ...extra,
    apps: apps.map((a) => ({ name: a.name, image: { name: 'example.com/busybox-probe', id: aciImageId(a.image) }, ...a.runtime })),
  });
  writeFileSync(podManifestPath(dir), serializePodManifest(manifest));
  return { dataDir, dir, uuid, stage1Rootfs: stage1RootfsPath(dir), rootfs: (app) => join(appDir(dir, app), 'rootfs') };
}

/** How an entrypoint ended. */
export interface EntrypointResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** ms from the start to the first byte on stdout (undefined: none) */
  firstOutputMs?: number;
}

/** A started entrypoint. */
export interface RunningEntrypoint {
  child: ChildProcess;
  done: Promise<EntrypointResult>;
  /** stdout so far */
  stdout(): string;
}

/** Options of {@link startEntrypoint}. */
export interface StartOptions {
  /** take the pod lock and pass it as RKT_LOCK_FD (default: only for run) */
  lock?: boolean;
  env?: NodeJS.ProcessEnv;
  /** stdin content; undefined: closed at once */
  input?: string;
}

// What stage0 does before exec'ing run: open the pod directory, lock it, exec with the fd.
const LOCK_AND_EXEC = 'exec 9<"$1" || exit 250; flock -x -n 9 || exit 251; shift; RKT_LOCK_FD=9 exec "$@"';

/** Starts an entrypoint of `pod` as stage0 would: cwd the pod directory, argv[0] its host path. */
export function startEntrypoint(pod: Pick<TestPod, 'dir' | 'stage1Rootfs'>, name: string, args: readonly string[], opts: StartOptions = {}): RunningEntrypoint {
  const path = join(pod.stage1Rootfs, name);
  const lock = opts.lock ?? name === 'run';
  const [cmd, argv] = lock ? ['sh', ['-c', LOCK_AND_EXEC, 'sh', pod.dir, path, ...args]] : [path, [...args]];
  const started = performance.now();
  const child = spawn(cmd as string, argv as string[], {
    cwd: pod.dir,
    env: opts.env ?? { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let firstOutputMs: number | undefined;
  child.stdout!.on('data', (c: Buffer) => {
    firstOutputMs ??= performance.now() - started;
    out.push(c);
  });
  child.stderr!.on('data', (c: Buffer) => err.push(c));
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(opts.input ?? '');
  const done = new Promise<EntrypointResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ...(firstOutputMs !== undefined ? { firstOutputMs } : {}) }),
    );
  });
  return { child, done, stdout: () => Buffer.concat(out).toString() };
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

/** Polls `check` every 20 ms until it returns something other than undefined. */
export async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether someone holds the pod directory's lock. */
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

/** The pid in `<pod>/ppid` (the shim), once written. */
export function readPpid(pod: Pick<TestPod, 'dir'>): number | undefined {
  const text = readFileTolerantSync(join(pod.dir, 'ppid'));
  return text === undefined || text.trim() === '' ? undefined : Number(text.trim());
}

/** Processes (pid and argv[0]) whose command line mentions `needle`. */
export function processesMentioning(needle: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = readFileTolerantSync(`/proc/${name}/cmdline`);
    if (cmd && cmd.includes(needle)) out.push(`${name} ${cmd.split('\0')[0]}`);
  }
  return out;
}
