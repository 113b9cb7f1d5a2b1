/**
 * Volumes with `rshared` propagation. The mounts of a pod are made in a private mount namespace
 * whose copies of the host's mounts are slaves: a bind made there receives the host's mounts but
 * cannot send any back. A mount that propagates both ways must be a peer of the host's, i.e. a
 * clone made in the caller's original namespace: the init's `graft --source-ns` helper (single
 * threaded, so it can switch mount namespaces) clones each source there and attaches the clone
 * at its target in the pod's namespace (run's own, or PID 1's for app/add).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { relative } from 'node:path';
import { systemError } from '@rktnetes/errors';
import type { SharedBind } from './mounts';

/**
 * An open file descriptor on the calling thread's mount namespace, to be taken before
 * `enterPrivateMountNamespace` moves the thread out of it. Close it with `closeSync`.
 */
export function openMountNamespace(): number {
  return openSync('/proc/thread-self/ns/mnt', 'r');
}

/**
 * The argv of `init graft` attaching `binds` in the mount namespace of process `pid`, the
 * sources cloned in the namespace of fd 3 (`--source-ns=3`), the targets given relative to that
 * process's root (`root`: the host path of its root directory).
 */
export function sharedGraftArgv(pid: number, binds: readonly SharedBind[], root: string, readOnly: boolean): string[] {
  const pairs = binds.flatMap((b) => [b.source, `/${relative(root, b.target)}`]);
  return ['graft', String(pid), '--source-ns=3', ...(readOnly ? ['--read-only'] : []), ...pairs];
}

/**
 * Attaches the `rshared` binds in the mount namespace of process `pid` (whose root is the host
 * path `root`), cloned from the mount namespace open as `sourceNs` (see {@link openMountNamespace}),
 * by running `init` (the pod's static init, on the host). Errors (system): `stage1.app.graft`.
 */
export function graftShared(init: string, pid: number, sourceNs: number, binds: readonly SharedBind[], root: string, debug: (m: string) => void): void {
  for (const readOnly of [false, true]) {
    const group = binds.filter((b) => b.readOnly === readOnly);
    if (group.length === 0) continue;
    const argv = sharedGraftArgv(pid, group, root, readOnly);
    debug(`graft: ${argv.join(' ')}`);
    const r = spawnSync(init, argv, { stdio: ['ignore', 'ignore', 'pipe', sourceNs], encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      const why = r.error?.message ?? (r.stderr.trim().replace(/^stage1 init: /, '') || `exit status ${r.status}`);
      throw systemError('stage1.app.graft', `cannot attach the shared volumes: ${why}`, { cause: r.error });
    }
  }
}

/** {@link graftShared} when there are binds, then closes `sourceNs` (if open). */
export function graftSharedAndClose(init: string, pid: number, sourceNs: number | undefined, binds: readonly SharedBind[], root: string, debug: (m: string) => void): void {
  try {
    if (binds.length > 0 && sourceNs !== undefined) graftShared(init, pid, sourceNs, binds, root, debug);
  } finally {
    if (sourceNs !== undefined) closeSync(sourceNs);
  }
}
