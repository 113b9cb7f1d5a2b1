/**
 * The enter entrypoint: runs a command inside the pod. With `--appname` (`rkt enter`, `rkt app
 * exec`) the pod's static init (`init exec`) runs it as the app runs — namespaces, root,
 * cgroups, working directory, environment, capabilities, groups, ids, no_new_privs, seccomp;
 * without it, util-linux nsenter runs it as root in the stage1 environment of PID 1. Both fork
 * into the pod's pid namespace and exit with the command's status.
 */
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { DEFAULT_PATH } from '@rktnetes/common';
import { userError } from '@rktnetes/errors';
import { parseEnterArgs } from '@rktnetes/stage1-abi';
import type { Sys } from '@rktnetes/sys';
import { INIT_PATH } from '../run/run';


/** What enterPod needs from its surroundings. */
export interface EnterContext {
  sys: Sys;
  env: NodeJS.ProcessEnv;
  debug: (message: string) => void;
  /** where /proc is (tests) */
  procRoot?: string;
  /** the pod directory (unused: enter finds everything through the pod's PID 1) */
  pod?: string;
}

function readTolerant(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The pids of `pid` in the pid namespaces it belongs to, outermost first (its `NSpid` fields). */
function nsPids(proc: string, pid: number): number[] {
  const m = /^NSpid:\s*(.*)$/m.exec(readTolerant(`${proc}/${pid}/status`) ?? '');
  return (m?.[1]?.trim().split(/\s+/) ?? []).map(Number);
}

/**
 * The host pid of app `app` of the pod whose PID 1 is `podPid`: the init records each app's pid
 * in the pod's pid namespace in `/rkt/pids/<app>`; the child of PID 1 with that pid in the pod's
 * namespace (PID 1's innermost; an app with a pid namespace of its own has one more level) is
 * the app. Errors (user): `stage1.enter.no-app` when the app is unknown or no longer running.
 */
export function appHostPid(podPid: number, app: string, proc = '/proc'): number {
  const recorded = Number.parseInt(readTolerant(`${proc}/${podPid}/root/rkt/pids/${app}`) ?? '', 10);
  const children = (readTolerant(`${proc}/${podPid}/task/${podPid}/children`) ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  const level = nsPids(proc, podPid).length - 1;
  const found = Number.isInteger(recorded) && level >= 0 ? children.find((c) => nsPids(proc, c)[level] === recorded) : undefined;
  if (found === undefined) throw userError('stage1.enter.no-app', `app ${app} is not running in the pod of process ${podPid}`, { details: { app, pid: podPid } });
  return found;
}

/** The nsenter program: from PATH, else /usr/bin/nsenter. */
function nsenterPath(env: NodeJS.ProcessEnv): string {
  for (const dir of (env.PATH ?? DEFAULT_PATH).split(':')) {
    if (dir && existsSync(`${dir}/nsenter`)) return `${dir}/nsenter`;
  }
  return '/usr/bin/nsenter';
}

/**
 * The nsenter argv entering process `target`: its mount, UTS, IPC, network, pid and cgroup
 * namespaces and, with `user` (a pod with `--private-users`), its user namespace as its root
 * (nsenter joins that one last, after those the host's capabilities are needed for), its root
 * and `/` as working directory, then the command.
 */
export function nsenterArgv(target: number, command: readonly string[], proc = '/proc', user = false): string[] {
  return ['nsenter', `--target=${target}`, ...(user ? ['--user'] : []), '--mount', '--uts', '--ipc', '--net', '--pid', '--cgroup', `--root=${proc}/${target}/root`, `--wd=${proc}/${target}/root`, '--', ...command];
}

/** Whether process `pid` is in another user namespace than this process (a pod with --private-users). */
export function inOtherUserNamespace(pid: number, proc = '/proc'): boolean {
  try {
    return readlinkSync(`${proc}/${pid}/ns/user`) !== readlinkSync(`${proc}/self/ns/user`);
  } catch {
    return false;
  }
}

/**
 * The argv of the static init's exec mode running `command` as app `app` runs: in the
 * namespaces and root of its process `appPid`, its cgroups, working directory and environment,
 * with its capability sets, groups, uid, gid, no_new_privs and seccomp filter (read from the
 * app's spec through the root of the pod's PID 1, `podPid`).
 */
export function initExecArgv(podPid: number, appPid: number, app: string, command: readonly string[]): string[] {
  return ['init', 'exec', String(podPid), String(appPid), app, '--', ...command];
}

/**
 * enter: with `--appname`, execs the pod's init (`/proc/<pid>/root/init exec`, see
 * {@link initExecArgv}) so that the command runs exactly as the app does; without it, execs
 * nsenter into the stage1 environment of PID 1 as root. Never returns.
 */
export function enterPod(argv: readonly string[], ctx: EnterContext): never {
  const args = parseEnterArgs(argv);
  const proc = ctx.procRoot ?? '/proc';
  if (args.appName !== undefined) {
    const target = appHostPid(args.pid, args.appName, proc);
    const initArgv = initExecArgv(args.pid, target, args.appName, args.command);
    ctx.debug(`enter: ${initArgv.join(' ')}`);
    return ctx.sys.execve(`${proc}/${args.pid}/root/${INIT_PATH}`, initArgv, { PATH: DEFAULT_PATH });
  }
  const nsArgv = nsenterArgv(args.pid, args.command, proc, inOtherUserNamespace(args.pid, proc));
  ctx.debug(`enter: ${nsArgv.join(' ')}`);
  return ctx.sys.execve(nsenterPath(ctx.env), nsArgv, { PATH: DEFAULT_PATH });
}
