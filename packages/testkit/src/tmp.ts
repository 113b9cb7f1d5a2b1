/**
 * Temporary directories that clean up after themselves, refusing to recurse into mounts.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemError } from '@rktnetes/errors';

/** The part of ava's execution context the helpers use. */
export interface Teardownable {
  teardown(fn: () => unknown): void;
}

/** Set to keep temporary directories for debugging (they are listed on stderr instead). */
export const KEEP_TMP_ENV = 'RKTNETES_KEEP_TMP';

/** Decodes the octal escapes (`\040`) of /proc mount tables. */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The mount points listed in `/proc/self/mountinfo`, in mount order. */
export function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => unescapeMountField(l.split(' ')[4] ?? ''));
}

/** The mount points at or below `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  const base = dir.replace(/\/+$/, '');
  return mountPoints()
    .filter((m) => m === base || m.startsWith(`${base}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes `dir` recursively. Mounts below it are never recursed into: they are lazily unmounted
 * first and then reported as a leak.
 *
 * @throws RktError `testkit.tmp-leak` when mounts were found below `dir` (after removing it)
 */
export async function removeTree(dir: string): Promise<void> {
  let real: string;
  try {
    real = await realpath(dir);
  } catch {
    return; // already gone
  }
  const leaked = mountsUnder(real);
  for (const m of leaked) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  const still = mountsUnder(real);
  if (still.length === 0) await rm(real, { recursive: true, force: true });
  if (leaked.length) {
    throw systemError('testkit.tmp-leak', `temporary directory ${real} still had mounts: ${leaked.join(', ')}`, {
      details: { mounts: leaked, notUnmounted: still },
    });
  }
}

/**
 * Creates a fresh directory `rktnetes-<prefix>-XXXXXX` under the system temp dir. With `t`, it is
 * removed by ava's `t.teardown` (a mount left inside fails the test instead of being traversed).
 * With `RKTNETES_KEEP_TMP` set, nothing is removed.
 */
export async function tmpDir(prefix = 'test', t?: Teardownable): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `rktnetes-${prefix.replace(/[^A-Za-z0-9._-]/g, '_')}-`));
  if (t) t.teardown(() => cleanup(dir));
  return dir;
}

function cleanup(dir: string): Promise<void> {
  if (process.env[KEEP_TMP_ENV]) {
    process.stderr.write(`testkit: keeping ${dir}\n`);
    return Promise.resolve();
  }
  return removeTree(dir);
}

/** Runs `fn` with a fresh temporary directory and removes it afterwards, whatever happens. */
export async function withTmpDir<T>(fn: (dir: string) => Promise<T> | T, prefix = 'test'): Promise<T> {
  const dir = await tmpDir(prefix);
  let failed = false;
  try {
    return await fn(dir);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    try {
      await cleanup(dir);
    } catch (e) {
      // a cleanup failure must not hide the error of fn
      if (!failed) throw e;
    }
  }
}
