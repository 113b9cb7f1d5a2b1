/**
 * The environment stage0 gives stage1 entrypoints: the pod lock fd and SELinux labels for run,
 * the crossing variables for app/* and attach.
 */
import {
  DEFAULT_PATH,
  ENV_LOCK_FD,
  ENV_SELINUX_CONTEXT,
  ENV_SELINUX_MOUNT_CONTEXT,
  ENV_STAGE1_ENTERAPP,
  ENV_STAGE1_ENTERCMD,
  ENV_STAGE1_ENTERPID,
} from '@rktnetes/common';
import { userError } from '@rktnetes/errors';
import { valueFlag } from './flags';
import { parseAppName } from './values';

// ------------------------------------------------------------------------------ the lock

/**
 * What stage0 puts in the run entrypoint's environment. `lockFd` is the number of an fd open
 * on the pod directory (`pods/run/<uuid>`, O_RDONLY|O_DIRECTORY) holding an exclusive flock,
 * inherited across exec (close-on-exec cleared). The SELinux variables are always set, empty
 * when SELinux is not used.
 */
export interface RunEnv {
  lockFd: number;
  selinuxContext?: string;
  selinuxMountContext?: string;
}

/** The variables to add to stage0's environment before exec'ing run. */
export function buildRunEnv(e: RunEnv): Record<string, string> {
  if (!Number.isSafeInteger(e.lockFd) || e.lockFd < 0) throw userError('stage1.lock-fd.invalid', `invalid lock fd ${e.lockFd}`);
  return {
    [ENV_LOCK_FD]: String(e.lockFd),
    [ENV_SELINUX_CONTEXT]: e.selinuxContext ?? '',
    [ENV_SELINUX_MOUNT_CONTEXT]: e.selinuxMountContext ?? '',
  };
}

/**
 * The lock fd a run entrypoint inherited. The stage1 must keep it open (and locked) for as long
 * as the pod runs: the pod counts as exited the moment the last holder of the lock closes it.
 * It should set close-on-exec on it for helpers that must not hold it (CNI plugins) and clear
 * it for the process that lives as long as the pod. Errors (user): `stage1.lock-fd.missing`
 * when unset, `stage1.lock-fd.invalid` when not a non-negative integer.
 */
export function lockFdFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[ENV_LOCK_FD];
  if (v === undefined || v === '') throw userError('stage1.lock-fd.missing', `${ENV_LOCK_FD} is not set`);
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n > 2 ** 31 - 1) throw userError('stage1.lock-fd.invalid', `invalid ${ENV_LOCK_FD} ${JSON.stringify(v)}`);
  return n;
}

/** The SELinux labels run was given; empty strings mean "none". */
export function selinuxFromEnv(env: NodeJS.ProcessEnv = process.env): { context: string; mountContext: string } {
  return { context: env[ENV_SELINUX_CONTEXT] ?? '', mountContext: env[ENV_SELINUX_MOUNT_CONTEXT] ?? '' };
}

// ------------------------------------------------------------------ crossing entrypoints

/**
 * What a crossing entrypoint (app/*, attach) needs to run something inside the pod: the host
 * path of the stage1 `enter` entrypoint and the pid to enter; optionally an app.
 */
export interface CrossingEnv {
  enterCmd: string;
  enterPid: number;
  enterApp?: string;
}

/**
 * The whole environment stage0 gives a crossing entrypoint (nothing else is inherited):
 * RKT_STAGE1_ENTERCMD, RKT_STAGE1_ENTERPID, RKT_STAGE1_ENTERAPP when an app is given, and PATH
 * (the caller's, or {@link DEFAULT_PATH}).
 */
export function buildCrossingEnv(c: CrossingEnv, path: string | undefined = process.env.PATH): Record<string, string> {
  const env: Record<string, string> = {
    [ENV_STAGE1_ENTERCMD]: c.enterCmd,
    [ENV_STAGE1_ENTERPID]: String(c.enterPid),
  };
  if (c.enterApp !== undefined) env[ENV_STAGE1_ENTERAPP] = parseAppName(c.enterApp);
  env.PATH = path || DEFAULT_PATH;
  return env;
}

/**
 * Reads the crossing variables; undefined when the command or pid is missing (the entrypoint
 * then runs in its current context, as rkt's do). A malformed pid is a user error
 * `stage1.crossing-env.invalid`.
 */
export function crossingEnvFromEnv(env: NodeJS.ProcessEnv = process.env): CrossingEnv | undefined {
  const cmd = env[ENV_STAGE1_ENTERCMD];
  const pid = env[ENV_STAGE1_ENTERPID];
  if (!cmd || !pid) return undefined;
  const n = /^\d+$/.test(pid) ? Number(pid) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw userError('stage1.crossing-env.invalid', `invalid ${ENV_STAGE1_ENTERPID} ${JSON.stringify(pid)}`);
  const app = env[ENV_STAGE1_ENTERAPP];
  return { enterCmd: cmd, enterPid: n, ...(app ? { enterApp: app } : {}) };
}

/**
 * The argv prefix that runs a command through enter: `[enterCmd, --pid=<pid>, (--appname=<app>),
 * --]`; append the command. The app is used only when `intoApp` (enter the app's stage2 rather
 * than stage1). Empty when `c` is undefined: run the command directly.
 */
export function enterPrefix(c: CrossingEnv | undefined, intoApp = false): string[] {
  if (!c) return [];
  return [c.enterCmd, valueFlag('pid', c.enterPid), ...(intoApp && c.enterApp ? [valueFlag('appname', c.enterApp)] : []), '--'];
}
