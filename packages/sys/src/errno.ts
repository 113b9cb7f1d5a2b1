import { getSystemErrorMap } from 'node:util';
import { systemError, type RktError } from '@rktnetes/errors';

let byName: Map<string, { errno: number; message: string }> | undefined;

/** Name (`EPERM`) and lowercase message of an errno number or name. */
export function describeErrno(errno: number | string): { name: string; errno: number; message: string } {
  const map = getSystemErrorMap();
  if (typeof errno === 'number') {
    const hit = map.get(-Math.abs(errno));
    return hit ? { name: hit[0], errno: Math.abs(errno), message: hit[1] } : { name: `E${errno}`, errno, message: `errno ${errno}` };
  }
  if (!byName) {
    byName = new Map();
    for (const [neg, [name, message]] of map) byName.set(name, { errno: -neg, message });
  }
  const hit = byName.get(errno);
  return hit ? { name: errno, ...hit } : { name: errno, errno: 0, message: errno.toLowerCase() };
}

/**
 * The error every failed call throws: code `sys.<name>`, message `<call> <object>: <strerror>`,
 * `details.errno` the errno name (`EPERM`), `details.errnoNumber` its number.
 */
export function sysError(name: string, call: string, object: string, errno: number | string, cause?: unknown): RktError {
  const d = describeErrno(errno);
  const what = object ? `${call} ${object}` : call;
  return systemError(`sys.${name}`, `${what}: ${d.message}`, {
    details: { errno: d.name, errnoNumber: d.errno },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The errno name carried by an error thrown by this package (or by Node's fs), if any. */
export function errnoOf(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const details = (e as { details?: { errno?: unknown } }).details;
  if (details && typeof details.errno === 'string') return details.errno;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}
