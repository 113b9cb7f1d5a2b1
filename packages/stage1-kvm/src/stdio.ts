/**
 * How the host's standard streams reach qemu's character devices (see HostStream in
 * src/qemu.ts): run inspects each descriptor and, where qemu must share the caller's open
 * file description, duplicates it to a descriptor above 2 that survives the exec.
 */
import { fstatSync, readFileSync } from 'node:fs';
import type { Sys } from '@rktnetes/sys';
import type { HostStream } from './qemu';

/** What a descriptor is, as far as qemu cares. */
export type FdKind = 'closed' | 'regular' | 'socket' | 'other';

/** The kind of `fd` in this process. */
export function fdKind(fd: number): FdKind {
  try {
    const st = fstatSync(fd);
    if (st.isFile()) return 'regular';
    if (st.isSocket()) return 'socket';
    return 'other';
  } catch {
    return 'closed';
  }
}

/** The access mode of `fd` (`flags` in /proc/self/fdinfo): 0 read, 1 write, 2 both. */
export function fdAccessMode(fd: number, proc = '/proc/self/fdinfo'): number | undefined {
  try {
    const m = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`${proc}/${fd}`, 'utf8'));
    return m ? parseInt(m[1]!, 8) & 3 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The HostStream qemu writes one output stream (stdout, stderr) through, given its kind and
 * access mode; `dupTo` is the descriptor a duplicate would get (fdset and socket).
 * - pipes, terminals, other character devices: reopened through /proc/self/fd (no offsets);
 * - regular files: shared through an fd set when opened write-only (qemu's open must match),
 *   so that the caller's offset moves with qemu's writes; reopened otherwise;
 * - sockets: used as a connected socket;
 * - closed: a null device.
 */
export function chooseOutputStream(fd: number, kind: FdKind, accessMode: number | undefined, dupTo: number, set: number): HostStream {
  switch (kind) {
    case 'closed':
      return { kind: 'null' };
    case 'socket':
      return { kind: 'socket', fd: dupTo };
    case 'regular':
      return accessMode === 1 ? { kind: 'fdset', fd: dupTo, set } : { kind: 'reopen', fd };
    case 'other':
      return { kind: 'reopen', fd };
  }
}

/**
 * The HostStream of an interactive app's stdin: qemu's stdio backend on fd 0, whatever fd 0 is
 * (its end of file closes the guest's rkt.stdin port, which the app reads as end of file); a
 * null device when fd 0 is closed. A terminal is put in raw mode by qemu while it runs.
 */
export function chooseInputStream(kind: FdKind): HostStream {
  return kind === 'closed' ? { kind: 'null' } : { kind: 'stdio' };
}

/** The streams and the descriptors to keep open across the exec. */
export interface HostStreams {
  stdout: HostStream;
  stderr: HostStream;
  stdin?: HostStream;
  keepFds: number[];
}

/**
 * Chooses the HostStream of stdout, stderr and (interactive pods) stdin, duplicating
 * descriptors where needed (`sys.dup2`) to the unused descriptor numbers in `freeFds` (two).
 */
export function prepareHostStreams(sys: Pick<Sys, 'dup2'>, interactive: boolean, freeFds: readonly number[]): HostStreams {
  const keepFds: number[] = [];
  const pool = [...freeFds];
  const one = (fd: number): HostStream => {
    const s = chooseOutputStream(fd, fdKind(fd), fdAccessMode(fd), pool[0] ?? -1, fd + 1);
    if (s.kind === 'fdset' || s.kind === 'socket') {
      sys.dup2(fd, s.fd);
      keepFds.push(s.fd);
      pool.shift();
    }
    return s;
  };
  const stdout = one(1);
  const stderr = one(2);
  const stdin = interactive ? chooseInputStream(fdKind(0)) : undefined;
  return { stdout, stderr, ...(stdin ? { stdin } : {}), keepFds };
}
