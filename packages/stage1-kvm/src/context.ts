/**
 * What every stage1-kvm entrypoint gets from its caller, and how the program finds out which
 * entrypoint it is: the image links `run`, `enter`, `gc` and `stop` to one program.
 */
import { writeSync } from 'node:fs';
import { basename } from 'node:path';
import { usageError } from '@rktnetes/errors';
import { createLogger, type Logger } from '@rktnetes/log';
import type { CommandRunner } from '@rktnetes/pod-net';
import type { Sys } from '@rktnetes/sys';

/** The context of one entrypoint invocation. */
export interface EntrypointContext {
  sys: Sys;
  /** the pod directory: the working directory stage0 runs every entrypoint in */
  podDir: string;
  /** the environment stage0 gave */
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** `performance.now()` when the program's own code started (run reports its cost) */
  startedAt?: number;
  /** runs the networking helpers (CNI plugins, ip, tc, iptables); default: for real (tests fake it) */
  run?: CommandRunner;
}

/** The entrypoints of the kvm image (annotations `coreos.com/rkt/stage1/<name>` = `/<name>`). */
export const KVM_ENTRYPOINTS = ['run', 'enter', 'gc', 'stop'] as const;
export type KvmEntrypoint = (typeof KVM_ENTRYPOINTS)[number];

const isEntrypoint = (s: string | undefined): s is KvmEntrypoint => (KVM_ENTRYPOINTS as readonly string[]).includes(s ?? '');

/**
 * The entrypoint and its arguments: `<dir>/run args...` is run; `stage1-kvm[.mjs] run args...`
 * (direct use) is run too.
 *
 * @throws RktError `stage1-kvm.entrypoint` (usage) for anything else
 */
export function entrypointOf(programPath: string, args: readonly string[]): { entrypoint: KvmEntrypoint; argv: string[] } {
  const name = basename(programPath).replace(/\.(mjs|js|ts)$/, '');
  if (isEntrypoint(name)) return { entrypoint: name, argv: [...args] };
  const [first, ...rest] = args;
  if (isEntrypoint(first)) return { entrypoint: first, argv: rest };
  throw usageError('stage1-kvm.entrypoint', `unknown entrypoint ${JSON.stringify(first ?? name)}: use one of ${KVM_ENTRYPOINTS.join(', ')}`);
}

/** Whether `--debug` (any Go spelling of true) appears among the flags. */
export function debugRequested(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    const m = /^--?debug(?:=(.*))?$/.exec(a);
    if (m) return m[1] === undefined || ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(m[1]);
  }
  return false;
}

/** A logger writing synchronously to stderr (run ends in execve, which drops queued output). */
export function kvmLogger(debug: boolean): Logger {
  return createLogger({ prefix: 'stage1-kvm', debug, write: (line) => void writeSync(2, `${line}\n`) });
}
