import { internalError } from '@rktnetes/errors';
import type { Sys, SysCallName } from './sys';

/** One recorded call. */
export interface RecordedCall {
  name: SysCallName;
  args: unknown[];
}

/**
 * What a recorded method does: a value to return, an Error to throw, or a function computing
 * the result from the arguments (which may throw).
 */
export type Response<K extends SysCallName> =
  | ReturnType<Sys[K]>
  | Error
  | ((...args: Parameters<Sys[K]>) => ReturnType<Sys[K]>);

/** Responses per method; methods without one use the defaults of {@link recordingSys}. */
export type Responses = { [K in SysCallName]?: Response<K> };

/** Code of the error the recording execve throws, standing in for "this process is gone". */
export const RECORDED_EXECVE = 'sys.execve.recorded';

/** A {@link Sys} that records every call, for unit tests. */
export type RecordingSys = Sys & {
  /** Every call in order, with its arguments. */
  calls: RecordedCall[];
  /** The calls of one method. */
  callsOf(name: SysCallName): unknown[][];
};

/**
 * A fake {@link Sys} that records every call in `calls` and touches nothing.
 *
 * Defaults: flock → true, getCloexec → false, openDirFd → 100, 101, ..., dup2 → newFd,
 * prctl → 0, capget → empty sets, setfsuid and setfsgid → 0, getpid → 1000, getppid → 1, umask → 0o022, everything else
 * returns undefined; execve throws an RktError with code {@link RECORDED_EXECVE}, as code after
 * a real execve never runs. `responses` overrides any method (value, Error to throw, or function).
 */
export function recordingSys(responses: Responses = {}): RecordingSys {
  let nextFd = 100;
  const defaults: { [K in SysCallName]: (...args: Parameters<Sys[K]>) => ReturnType<Sys[K]> } = {
    flock: () => true,
    setCloexec: () => undefined,
    getCloexec: () => false,
    openDirFd: () => nextFd++,
    dup2: (_old, newFd) => newFd,
    execve: (path) => {
      throw internalError(RECORDED_EXECVE, `execve ${path}: recorded, not executed`);
    },
    mount: () => undefined,
    umount2: () => undefined,
    unshare: () => undefined,
    setns: () => undefined,
    chroot: () => undefined,
    pivotRoot: () => undefined,
    chdir: () => undefined,
    sethostname: () => undefined,
    setdomainname: () => undefined,
    setgroups: () => undefined,
    setresgid: () => undefined,
    setresuid: () => undefined,
    prctl: () => 0,
    capget: () => ({ effective: new Set(), permitted: new Set(), inheritable: new Set() }),
    capset: () => undefined,
    setfsuid: () => 0,
    setfsgid: () => 0,
    setCapabilities: () => undefined,
    kill: () => undefined,
    getpid: () => 1000,
    getppid: () => 1,
    umask: () => 0o022,
    mknod: () => undefined,
  };
  const calls: RecordedCall[] = [];
  const fake: Record<string, unknown> = {
    calls,
    callsOf: (name: SysCallName) => calls.filter((c) => c.name === name).map((c) => c.args),
  };
  for (const name of Object.keys(defaults) as SysCallName[]) {
    fake[name] = (...args: unknown[]) => {
      calls.push({ name, args });
      const r: unknown = Object.hasOwn(responses, name) ? responses[name] : defaults[name];
      if (r instanceof Error) throw r;
      return typeof r === 'function' ? (r as (...a: unknown[]) => unknown)(...args) : r;
    };
  }
  return fake as unknown as RecordingSys;
}
