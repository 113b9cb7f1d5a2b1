/**
 * Fixtures shared by stage0's tests: the global options of a default `rkt` invocation, and the
 * real executables (the rkt bundle, the coreos stage1 image built on demand) for tests that run
 * pods through the CLI.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { realSys } from '@rktnetes/sys';
import type { GlobalOptions } from '../../src/cli/globals';

/** The global options `rkt` gets without flags (rkt's default directories). */
export const DEFAULT_GLOBALS: GlobalOptions = {
  debug: false,
  dir: '/var/lib/rkt',
  'insecure-options': 'none',
  'local-config': '/etc/rkt',
  'system-config': '/usr/lib/rkt',
  'user-config': '',
  'trust-keys-from-https': false,
};

/** The built rkt executable. */
export const RKT = fileURLToPath(new URL('../../dist/rkt.mjs', import.meta.url));
/** The stage1-coreos package directory and its image. */
export const COREOS_PKG = fileURLToPath(new URL('../../../stage1-coreos/', import.meta.url));
export const COREOS = join(COREOS_PKG, 'dist', 'stage1-coreos.aci');

function newest(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) n = Math.max(n, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs);
  return n;
}

/**
 * Builds the coreos stage1 image when it is missing or older than its sources, under the lock
 * every stage1-coreos user of the tests takes.
 */
export function ensureCoreos(): void {
  const lock = openSync(join(tmpdir(), 'rktnetes-stage1-coreos-build.lock'), 'a');
  try {
    realSys().flock(lock, 'ex');
    const built = existsSync(COREOS) ? statSync(COREOS).mtimeMs : 0;
    if (built < Math.max(newest(join(COREOS_PKG, 'src')), newest(join(COREOS_PKG, 'scripts')))) {
      const r = spawnSync(process.execPath, ['../../tools/build.mjs'], { cwd: COREOS_PKG, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`building stage1-coreos failed: ${r.stderr}${r.stdout}`);
    }
  } finally {
    closeSync(lock);
  }
}
