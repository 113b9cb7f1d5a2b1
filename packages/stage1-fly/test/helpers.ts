/**
 * Test helpers standing in for stage0: the shared ones of `@rktnetes/stage1-kit/testing` (a pod
 * directory prepared from the fly image and app images, entrypoints started in it with the pod
 * lock held on RKT_LOCK_FD), and what only fly's tests need (mounts, leaks, `rkt` itself).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt, readPodPid, type EntrypointResult, type TestPod } from '@rktnetes/stage1-kit/testing';
import { mountsUnder, readMountInfo } from '@rktnetes/sys';
import { leakCheck } from '@rktnetes/testkit';

export { makePod, startEntrypoint, runEntrypoint, waitFor, lockHeld, type TestApp, type TestPod, type EntrypointResult } from '@rktnetes/stage1-kit/testing';

/** packages/stage1-fly */
export const PKG_DIR = fileURLToPath(new URL('..', import.meta.url));
/** The fly stage1 image the package build writes. */
export const FLY_ACI = join(PKG_DIR, 'dist', 'stage1-fly.aci');

/** Builds dist/stage1-fly.aci (tools/build.mjs) unless it is newer than every source file. */
export const ensureFlyAci = (): Promise<string> =>
  ensureBuilt({ pkgDir: PKG_DIR, output: 'dist/stage1-fly.aci', inputs: ['src', 'scripts', '../sys/src', '../stage1-kit/src', '../stage1-kit/scripts'] });

/** The pid run wrote, once it exists. */
export const readPid = (pod: Pick<TestPod, 'dir'>): number | undefined => readPodPid(pod, 'pid');

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
