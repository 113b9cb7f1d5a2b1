/**
 * Test helpers standing in for stage0: the shared ones of `@rktnetes/stage1-kit/testing` (a pod
 * directory prepared from the kvm image and app images, entrypoints started in it with the pod
 * lock held on RKT_LOCK_FD), and what only the VM tests need (the kernel cache, qemu, the shim).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileTolerantSync } from '@rktnetes/common';
import { ensureBuilt, readPodPid, type TestPod } from '@rktnetes/stage1-kit/testing';
import { isRoot } from '@rktnetes/testkit';

export { makePod, startEntrypoint, runEntrypoint, waitFor, lockHeld, type TestApp, type TestPod, type EntrypointResult, type RunningEntrypoint } from '@rktnetes/stage1-kit/testing';

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

/** Builds dist/stage1-kvm.aci unless it is newer than the sources and the kernel cache. */
export const ensureKvmAci = (): Promise<string> =>
  ensureBuilt({
    pkgDir: PKG_DIR,
    output: 'dist/stage1-kvm.aci',
    inputs: ['src', 'native', 'scripts', '../pod-net/src', '../pod-net/scripts', '../seccomp/src', '../stage1-kit/src', '../stage1-kit/scripts', join(ASSETS_DIR, '.complete')],
  });

/** The pid in `<pod>/ppid` (the shim), once written. */
export const readPpid = (pod: Pick<TestPod, 'dir'>): number | undefined => readPodPid(pod, 'ppid');

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
