/**
 * Starting a stage1 entrypoint the way stage0 does, and waiting for what it does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import { join } from 'node:path';
import { realSys } from '@rktnetes/sys';
import type { TestPod } from './pod';

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
  /** start in a new session and process group */
  detached?: boolean;
  /** environment (default: PATH only) */
  env?: NodeJS.ProcessEnv;
  /** stdin content; undefined: closed at once */
  input?: string;
  /** the entrypoint's path (default `<pod>/stage1/rootfs/<name>`) */
  path?: string;
}

// What stage0 does before exec'ing run: open the pod directory, lock it, exec with the fd.
const LOCK_AND_EXEC = 'exec 9<"$1" || exit 250; flock -x -n 9 || exit 251; shift; RKT_LOCK_FD=9 exec "$@"';

/**
 * Starts a stage1 entrypoint of `pod` as stage0 would: cwd the pod directory, argv[0] the
 * entrypoint's host path; for run (or with `lock`), with the pod directory locked on fd 9 and
 * RKT_LOCK_FD=9 (a lock already held ends it with 251).
 */
export function startEntrypoint(pod: Pick<TestPod, 'dir' | 'stage1Rootfs'>, name: string, args: readonly string[], opts: StartOptions = {}): RunningEntrypoint {
  const path = opts.path ?? join(pod.stage1Rootfs, name);
  const lock = opts.lock ?? name === 'run';
  const [cmd, argv] = lock ? ['sh', ['-c', LOCK_AND_EXEC, 'sh', pod.dir, path, ...args]] : [path, [...args]];
  const started = performance.now();
  const child = spawn(cmd as string, argv as string[], {
    cwd: pod.dir,
    env: opts.env ?? { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    detached: opts.detached ?? false,
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

/** Runs an entrypoint to its end (SIGKILLed after `timeoutMs`, default 60 s). */
export async function runEntrypoint(pod: Pick<TestPod, 'dir' | 'stage1Rootfs'>, name: string, args: readonly string[], opts: StartOptions & { timeoutMs?: number } = {}): Promise<EntrypointResult> {
  const r = startEntrypoint(pod, name, args, opts);
  const timer = setTimeout(() => r.child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  try {
    return await r.done;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `check` every `intervalMs` until it returns something other than undefined, and returns
 * that; what `check` throws ends the wait.
 *
 * @throws Error `timed out waiting for <what>` after `timeoutMs`
 */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 20): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Whether someone holds the lock of the pod directory `dir` (a shared non-blocking flock fails). */
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
