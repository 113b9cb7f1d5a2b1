/**
 * The gc entrypoint: fly's mounts live in the pod's private mount namespace and vanish with
 * the app, so gc only has to sweep what is left under the pod directory on the host (stage0's
 * overlay or bind mounts of the stage1 and app roots, mounts of a crashed run) and fly's own
 * files outside the rkt layout.
 */
import { rmSync } from 'node:fs';
import { parseGcArgs } from '@rktnetes/stage1-abi';
import { unmountTree } from '@rktnetes/sys';
import { podPgidPath, type EntrypointContext } from './context';

/** What gc did. */
export interface FlyGcResult {
  /** mount points unmounted, deepest first */
  unmounted: string[];
}

/**
 * Unmounts every mount at or below the pod directory (deepest first, lazily when busy) and
 * removes `pgid`. Idempotent: a second run finds nothing to do. `--local-config` is accepted
 * and unused (fly has no networks to release).
 *
 * @throws RktError `sys.unmountTree` when mounts remain, `sys.umount2` for other failures
 */
export function flyGc(argv: readonly string[], ctx: EntrypointContext): FlyGcResult {
  const args = parseGcArgs(argv);
  const unmounted = unmountTree(ctx.podDir, ctx.sys);
  rmSync(podPgidPath(ctx.podDir), { force: true });
  ctx.log.debug(`gc: pod ${args.uuid}: unmounted ${unmounted.length ? unmounted.join(', ') : 'nothing'}`);
  return { unmounted };
}
