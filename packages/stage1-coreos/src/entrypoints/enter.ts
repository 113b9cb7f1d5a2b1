/**
 * The enter entrypoint: runs a command inside the pod, in an app's namespaces and root (with
 * `--appname`) or in the stage1's, through util-linux nsenter (which forks into the pod's pid
 * namespace and exits with the command's status).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PATH, parseEnvFile, relAppEnvPath } from '@rktnetes/common';
import { userError } from '@rktnetes/errors';
import { parseEnterArgs } from '@rktnetes/stage1-abi';
import { errnoOf, type Sys } from '@rktnetes/sys';
import { readRuntimeConfig } from '../run/runtime-config';

/**
 * rktnetes extension (environment of enter): `1` or `true` runs the command with the app's uid
 * and gid, in the app's cgroups and working directory, as `rkt app exec` does; rkt's stage1s
 * ignore it and run the command as root in `/`.
 */
export const ENV_ENTER_AS_APP = 'RKTNETES_ENTER_AS_APP';

/** What enterPod needs from its surroundings. */
export interface EnterContext {
  sys: Sys;
  env: NodeJS.ProcessEnv;
  debug: (message: string) => void;
  /** where /proc is (tests) */
  procRoot?: string;
  /** the pod directory (stage0 runs enter in it); needed for {@link ENV_ENTER_AS_APP} */
  pod?: string;
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

/** The real uid and gid of process `pid`. */
export function processCredentials(pid: number, proc = '/proc'): { uid: number; gid: number } {
  const status = readTolerant(`${proc}/${pid}/status`) ?? '';
  const uid = /^Uid:\s*(\d+)/m.exec(status)?.[1];
  const gid = /^Gid:\s*(\d+)/m.exec(status)?.[1];
  if (uid === undefined || gid === undefined) throw userError('stage1.enter.no-app', `cannot read the credentials of process ${pid}`, { details: { pid } });
  return { uid: Number(uid), gid: Number(gid) };
}

/** Moves this process into app `app`'s cgroups (below the pod cgroups in `runtime-config`). */
function joinAppCgroups(pod: string, app: string, debug: (m: string) => void): void {
  for (const dir of readRuntimeConfig(pod)?.cgroups ?? []) {
    const procs = join(dir, app, 'cgroup.procs');
    try {
      writeFileSync(procs, String(process.pid));
    } catch (e) {
      debug(`enter: cannot join ${procs}: ${errnoOf(e) ?? (e as Error).message}`);
    }
  }
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
  let nsArgv = nsenterArgv(target, args.command, proc);
  const asApp = ctx.env[ENV_ENTER_AS_APP];
  if (args.appName !== undefined && (asApp === '1' || asApp === 'true')) {
    const { uid, gid } = processCredentials(target, proc);
    if (ctx.pod) joinAppCgroups(ctx.pod, args.appName, ctx.debug);
    const dashes = nsArgv.indexOf('--');
    // the app's working directory rather than its root
    const wd = nsArgv.findIndex((a) => a.startsWith('--wd='));
    if (wd >= 0 && wd < dashes) nsArgv[wd] = `--wd=${proc}/${target}/cwd`;
    nsArgv = [...nsArgv.slice(0, dashes), `--setuid=${uid}`, `--setgid=${gid}`, ...nsArgv.slice(dashes)];
  }
  ctx.debug(`enter: ${nsArgv.join(' ')}`);
  return ctx.sys.execve(nsenterPath(ctx.env), nsArgv, env);
}
