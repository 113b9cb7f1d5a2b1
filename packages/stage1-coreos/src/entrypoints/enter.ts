/**
 * The enter entrypoint: runs a command inside the pod, in an app's namespaces and root (with
 * `--appname`) or in the stage1's, through util-linux nsenter (which forks into the pod's pid
 * namespace and exits with the command's status).
 */
import { existsSync, readFileSync } from 'node:fs';
import { DEFAULT_PATH, parseEnvFile, relAppEnvPath } from '@rktnetes/common';
import { userError } from '@rktnetes/errors';
import { parseEnterArgs } from '@rktnetes/stage1-abi';
import type { Sys } from '@rktnetes/sys';

/** What enterPod needs from its surroundings. */
export interface EnterContext {
  sys: Sys;
  env: NodeJS.ProcessEnv;
  debug: (message: string) => void;
  /** where /proc is (tests) */
  procRoot?: string;
}

function readTolerant(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The pid of `pid` in the innermost pid namespace it belongs to (the last `NSpid` field). */
function innermostPid(proc: string, pid: number): number | undefined {
  const m = /^NSpid:\s*(.*)$/m.exec(readTolerant(`${proc}/${pid}/status`) ?? '');
  const last = m?.[1]?.trim().split(/\s+/).at(-1);
  return last === undefined ? undefined : Number(last);
}

/**
 * The host pid of app `app` of the pod whose PID 1 is `podPid`: the init records each app's pid
 * in the pod's pid namespace in `/rkt/pids/<app>`; the child of PID 1 with that namespace pid is
 * the app. Errors (user): `stage1.enter.no-app` when the app is unknown or no longer running.
 */
export function appHostPid(podPid: number, app: string, proc = '/proc'): number {
  const recorded = Number.parseInt(readTolerant(`${proc}/${podPid}/root/rkt/pids/${app}`) ?? '', 10);
  const children = (readTolerant(`${proc}/${podPid}/task/${podPid}/children`) ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  const found = Number.isInteger(recorded) ? children.find((c) => innermostPid(proc, c) === recorded) : undefined;
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
 * The nsenter argv entering process `target`: all its namespaces but the user one, its root
 * and `/` as working directory, then the command.
 */
export function nsenterArgv(target: number, command: readonly string[], proc = '/proc'): string[] {
  return ['nsenter', `--target=${target}`, '--mount', '--uts', '--ipc', '--net', '--pid', '--cgroup', `--root=${proc}/${target}/root`, `--wd=${proc}/${target}/root`, '--', ...command];
}

/**
 * enter: execs nsenter into the app (or, without `--appname`, the stage1 environment of PID 1)
 * with the app's environment file (`/rkt/env/<app>` in the stage1 root) as environment. Never
 * returns.
 */
export function enterPod(argv: readonly string[], ctx: EnterContext): never {
  const args = parseEnterArgs(argv);
  const proc = ctx.procRoot ?? '/proc';
  let target = args.pid;
  let env: Record<string, string> = { PATH: DEFAULT_PATH };
  if (args.appName !== undefined) {
    target = appHostPid(args.pid, args.appName, proc);
    const text = readTolerant(`${proc}/${args.pid}/root${relAppEnvPath(args.appName)}`);
    if (text !== undefined) env = Object.fromEntries(parseEnvFile(text, `environment of app ${args.appName}`));
  }
  const nsArgv = nsenterArgv(target, args.command, proc);
  ctx.debug(`enter: ${nsArgv.join(' ')}`);
  return ctx.sys.execve(nsenterPath(ctx.env), nsArgv, env);
}
