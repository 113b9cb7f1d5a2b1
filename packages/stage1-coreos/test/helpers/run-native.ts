/**
 * Helpers of the native run tests: run a pod with a chosen environment (and stdin), and run the
 * same pod twice, natively and through the Node run (`RKTNETES_STAGE1_RUN=node`), capturing
 * what each left in the pod directory and the cgroups before gc.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { realSys } from '@rktnetes/sys';
import { assertNoLeaks, leakCheck } from '@rktnetes/testkit';
import { preparePod, runEntrypoint, type TestApp, type TestPod } from './pod';

/** What a run left, with the pod's uuid and directory replaced by `<uuid>` and `<pod>`. */
export interface PodSnapshot {
  initSpec: string;
  env: Record<string, string>;
  hostname: string;
  hosts: string;
  runtimeConfig: string;
  subcgroup: string;
  /** base64 of each rkt/seccomp/<app>.bpf */
  seccomp: Record<string, string>;
  statuses: Record<string, string>;
  /** every cgroup below the pod's, with the files run and the init write */
  cgroups: string[];
}

export interface RunResult {
  pod: TestPod;
  code: number;
  stdout: string;
  stderr: string;
}

type T = { deepEqual(a: unknown, b: unknown, m?: string): unknown; is(a: unknown, b: unknown, m?: string): unknown; teardown(fn: () => unknown): void };

/** Runs `<pod>/stage1/rootfs/run <args> <uuid>` as stage0 does, with `env` on top of a clean stage0 environment. */
export function runPodWith(pod: TestPod, args: string[], env: Record<string, string> = {}, input?: string): Promise<RunResult> {
  const sys = realSys();
  const lock = sys.openDirFd(pod.dir);
  sys.flock(lock, 'ex');
  const base: NodeJS.ProcessEnv = { ...process.env, RKT_SELINUX_CONTEXT: '', RKT_SELINUX_MOUNT_CONTEXT: '' };
  delete base['RKTNETES_STAGE1_RUN'];
  delete base['NOTIFY_SOCKET'];
  const child = spawn(join(pod.stage1Root, 'run'), [...args, pod.uuid], {
    cwd: pod.dir,
    env: { ...base, ...env, RKT_LOCK_FD: '3' },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', lock],
  });
  closeSync(lock);
  if (input !== undefined) child.stdin!.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ pod, code: code ?? 128 + (signal ? 9 : 0), stdout, stderr })));
}

function readOr(path: string, fallback = '<missing>'): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

function filesOf(dir: string, encoding: 'utf8' | 'base64'): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const n of readdirSync(dir).sort()) out[n] = readFileSync(join(dir, n)).toString(encoding);
  return out;
}

function cgroupTree(top: string, rel = ''): string[] {
  const dir = join(top, rel);
  const out: string[] = [];
  const files = ['devices.list', 'cgroup.subtree_control', 'cpuset.cpus', 'cpuset.mems'].filter((f) => existsSync(join(dir, f)));
  out.push(`${rel || '.'}: ${files.map((f) => `${f}=${readOr(join(dir, f)).trim().replaceAll('\n', ';')}`).join(' ')}`);
  for (const n of readdirSync(dir).sort()) {
    if (statSync(join(dir, n)).isDirectory()) out.push(...cgroupTree(top, join(rel, n)));
  }
  return out;
}

/** The snapshot of a pod after its run, before gc. */
export function snapshot(pod: TestPod): PodSnapshot {
  const norm = (s: string) => s.replaceAll(pod.dir, '<pod>').replaceAll(pod.uuid, '<uuid>');
  const s1 = pod.stage1Root;
  const rc = readOr(join(pod.dir, 'runtime-config'));
  let cgroups: string[] = [];
  try {
    cgroups = (JSON.parse(rc) as { cgroups: string[] }).cgroups.flatMap((d) => cgroupTree(d).map((l) => `${norm(d)} ${l}`));
  } catch {
    // no runtime-config: compared as missing
  }
  return {
    initSpec: norm(readOr(join(s1, 'rkt/init.spec'))),
    env: filesOf(join(s1, 'rkt/env'), 'utf8'),
    hostname: norm(readOr(join(s1, 'etc/hostname'))),
    hosts: norm(readOr(join(s1, 'etc/hosts-fallback'))),
    runtimeConfig: norm(rc),
    subcgroup: norm(readOr(join(pod.dir, 'subcgroup'))),
    seccomp: filesOf(join(s1, 'rkt/seccomp'), 'base64'),
    statuses: filesOf(join(s1, 'rkt/status'), 'utf8'),
    cgroups,
  };
}

/**
 * Runs a pod to its end (snapshot taken), then gc, and fails the test when gc fails or
 * anything of the pod is left behind.
 */
export async function runAndGc(t: T, pod: TestPod, args: string[], env: Record<string, string> = {}, input?: string): Promise<RunResult & { snap: PodSnapshot }> {
  const check = await leakCheck({ match: pod.uuid, cgroupRoots: ['/sys/fs/cgroup'], iptables: false, veth: false });
  const r = await runPodWith(pod, args, env, input);
  const snap = snapshot(pod);
  const gc = await runEntrypoint(pod, 'gc', [pod.uuid]);
  t.is(gc.code, 0, `gc failed: ${gc.stderr}`);
  await assertNoLeaks(t, check);
  return { ...r, snap };
}

/** The same pod (two copies, each changed by `tweak`) run natively and through the Node run, both with `--debug`. */
export async function runParity(
  t: T,
  apps: TestApp[],
  args: string[],
  tweak: (pod: TestPod) => void = () => {},
): Promise<{ native: RunResult & { snap: PodSnapshot }; node: RunResult & { snap: PodSnapshot } }> {
  const withDebug = args.some((a) => /^--?debug/.test(a)) ? args : ['--debug', ...args];
  const prepare = async () => {
    const pod = await preparePod(t, apps);
    tweak(pod);
    return pod;
  };
  const native = await runAndGc(t, await prepare(), withDebug);
  const node = await runAndGc(t, await prepare(), withDebug, { RKTNETES_STAGE1_RUN: 'node' });
  return { native, node };
}
