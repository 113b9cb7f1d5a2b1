/**
 * Extended attributes of paths, never following a final symlink (lsetxattr(2), lgetxattr(2)),
 * through koffi and libc, loaded on the first call. The store needs them for overlayfs opaque
 * directories (`trusted.overlay.opaque`), which `@rktnetes/sys` does not offer.
 */
import { createRequire } from 'node:module';
import type * as KoffiModule from 'koffi';
import { describeErrno } from '@rktnetes/sys';
import { systemError } from '@rktnetes/errors';

type CFunction = (...args: unknown[]) => number;

interface XattrCalls {
  lsetxattr: CFunction;
  lgetxattr: CFunction;
  errno: () => number;
}

let calls: XattrCalls | undefined;

function load(): XattrCalls {
  if (calls) return calls;
  const koffi = createRequire(import.meta.url)('koffi') as typeof KoffiModule;
  const lib = koffi.load('libc.so.6');
  calls = {
    lsetxattr: lib.func('int lsetxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)') as CFunction,
    lgetxattr: lib.func('long lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)') as CFunction,
    errno: () => koffi.errno(),
  };
  return calls;
}

const ENODATA = 61;
const EINTR = 4;

/** Sets extended attribute `name` of `path` (not following a final symlink). Throws `store.xattr`. */
export function lsetxattr(path: string, name: string, value: string | Uint8Array): void {
  const c = load();
  const buf = typeof value === 'string' ? Buffer.from(value) : Buffer.from(value);
  for (;;) {
    if (c.lsetxattr(path, name, buf, buf.length, 0) === 0) return;
    const errno = c.errno();
    if (errno === EINTR) continue;
    const d = describeErrno(errno);
    throw systemError('store.xattr', `cannot set extended attribute ${name} of ${path}: ${d.message}`, { details: { errno: d.name } });
  }
}

/**
 * The value of extended attribute `name` of `path` (not following a final symlink), or
 * undefined when it is not set. Throws `store.xattr` for other failures.
 */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  const c = load();
  const buf = Buffer.alloc(256);
  for (;;) {
    const n = Number(c.lgetxattr(path, name, buf, buf.length));
    if (n >= 0) return Buffer.from(buf.subarray(0, n));
    const errno = c.errno();
    if (errno === EINTR) continue;
    if (errno === ENODATA) return undefined;
    const d = describeErrno(errno);
    throw systemError('store.xattr', `cannot read extended attribute ${name} of ${path}: ${d.message}`, { details: { errno: d.name } });
  }
}

/** The xattr overlayfs reads to hide the content of lower layers below a directory. */
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';
