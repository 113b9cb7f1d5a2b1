/**
 * The pod's network namespace, kept alive by a bind mount at `/run/netns/rkt-<uuid>` like
 * `ip netns add` does (so `ip netns exec rkt-<uuid> ...` works for debugging), and so that CNI
 * plugins and gc can name it by path.
 *
 * Node is multithreaded and `unshare(CLONE_NEWNET)` would move only its main thread, so the
 * namespace is made by a separate program: util-linux `unshare --net=<file> ip link set lo up`
 * creates it, binds it onto the file and brings loopback up, all in one short exec.
 */
import { closeSync, constants as fsConstants, mkdirSync, openSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { systemError, userError } from '@rktnetes/errors';
import { MNT_DETACH, MS_BIND, MS_REC, MS_SHARED, type Sys, errnoOf, readMountInfo } from '@rktnetes/sys';
import { type CommandRunner, failureText, findTool } from './exec';

/** Where named network namespaces live (iproute2's directory). */
export const NETNS_RUN_DIR = '/run/netns';

/** The path of a pod's network namespace: `/run/netns/rkt-<uuid>`. */
export function podNetnsPath(uuid: string, dir: string = NETNS_RUN_DIR): string {
  return `${dir}/rkt-${uuid}`;
}

/**
 * Makes the netns directory a shared mount point, as `ip netns add` does, so that unmounting a
 * namespace also unmounts the copies that other mount namespaces (other pods) took meanwhile,
 * and the namespace is freed at once. A no-op when it already is one.
 */
export function ensureNetnsDir(sys: Pick<Sys, 'mount'>, dir: string = NETNS_RUN_DIR): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const here = readMountInfo().filter((m) => m.mountPoint === dir);
  const top = here[here.length - 1];
  if (top?.optional.some((o) => o.startsWith('shared:'))) return;
  if (!top) sys.mount(dir, dir, null, MS_BIND | MS_REC);
  sys.mount(null, dir, null, MS_SHARED | MS_REC);
}

/** Whether `path` is a mounted network namespace (in this process's mount namespace). */
export function isNetnsMount(path: string): boolean {
  return readMountInfo().some((m) => m.mountPoint === path && m.fsType === 'nsfs');
}

/**
 * Creates a network namespace bound at `path` (the file is created, mode 0) with loopback up.
 * Errors: user error `stage1.net.netns-exists` when `path` already exists; system error
 * `stage1.net.netns` when `unshare` fails (the file is removed again).
 */
export function createNetns(path: string, run: CommandRunner): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  try {
    closeSync(openSync(path, fsConstants.O_RDONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0));
  } catch (e) {
    if (errnoOf(e) === 'EEXIST' || (e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw userError('stage1.net.netns-exists', `network namespace ${path} already exists`);
    }
    throw systemError('stage1.net.netns', `cannot create ${path}`, { cause: e });
  }
  const r = run(findTool('unshare'), [`--net=${path}`, '--', findTool('ip'), 'link', 'set', 'lo', 'up']);
  if (r.status !== 0 || r.error) {
    const mounted = isNetnsMount(path);
    if (!mounted) rmSync(path, { force: true });
    throw systemError('stage1.net.netns', `cannot create network namespace ${path}: ${failureText(r)}`, { details: { mounted } });
  }
}

/**
 * Unmounts and removes a namespace made by {@link createNetns}; the kernel frees it once no
 * process is left in it. Idempotent: a path that is not mounted or does not exist is fine.
 */
export function destroyNetns(path: string, sys: Pick<Sys, 'umount2'>): void {
  try {
    sys.umount2(path, MNT_DETACH);
  } catch (e) {
    const errno = errnoOf(e);
    if (errno !== 'EINVAL' && errno !== 'ENOENT') throw systemError('stage1.net.netns', `cannot unmount network namespace ${path}`, { cause: e });
  }
  try {
    rmSync(path, { force: true });
  } catch (e) {
    throw systemError('stage1.net.netns', `cannot remove ${path}`, { cause: e });
  }
}
