/**
 * What the store takes from sibling packages, behind one module: manifest parsing from
 * `@rktnetes/schema` and the system calls Node lacks (flock, mknod) from `@rktnetes/sys`.
 * `@rktnetes/sys` loads its native binding (koffi) only on the first call.
 */
import { realSys, makedev, S_IFBLK, S_IFCHR, S_IFIFO, type FlockOp } from '@rktnetes/sys';

export { parseImageManifest, serializeImageManifest, isEnvName, osArchProblem, APPC_VERSION } from '@rktnetes/schema';
export type { ImageManifest, Dependency as ImageDependency, Label as NameValue, App, Port, MountPoint } from '@rktnetes/schema';

/** flock(2) operation names. */
export type FlockMode = FlockOp;

/**
 * flock(2) on `fd`. Returns false only when `nonBlocking` is set and the lock is held
 * elsewhere; other failures throw (`sys.flock`).
 */
export function flock(fd: number, mode: FlockMode, opts: { nonBlocking?: boolean } = {}): boolean {
  return realSys().flock(fd, mode, opts);
}

/** Creates a FIFO or a character/block device node with permission bits `perm`. */
export function mknod(path: string, type: 'fifo' | 'char' | 'block', perm: number, major = 0, minor = 0): void {
  const kind = type === 'fifo' ? S_IFIFO : type === 'char' ? S_IFCHR : S_IFBLK;
  realSys().mknod(path, kind | (perm & 0o7777), type === 'fifo' ? 0 : makedev(major, minor));
}
