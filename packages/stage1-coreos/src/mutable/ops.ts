/**
 * The app/start, app/stop and app/rm entrypoints of a mutable pod: requests to PID 1 on the
 * control socket, plus app/rm's cleanup of what app/add created outside PID 1 (cgroups, spec,
 * seccomp program, log).
 */
import { rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT_APP_STOP_NO_SUCH_APP, stage1RootfsPath } from '@rktnetes/common';
import { ENV_STOP_TIMEOUT, parseAppRmArgs, parseAppStartArgs, parseAppStopArgs } from '@rktnetes/stage1-abi';
import { errnoOf } from '@rktnetes/sys';
import { STOP_TIMEOUT_SECONDS } from '../run/run';
import type { CrossingContext } from './add';
import { removeAppCgroups } from './cgroups';
import { ctlCall, ctlRequest, replyError } from './control';
import { appExtLogDir, appLogPath, appSpecPath, readRunArgs } from './pod';

export { ENV_STOP_TIMEOUT };

const SIGTERM = 15;

/** app/start: starts (or restarts) an added app. */
export async function appStart(argv: readonly string[], ctx: CrossingContext): Promise<number> {
  const args = parseAppStartArgs(argv);
  readRunArgs(ctx.pod);
  const pid = await ctlCall(ctx.pod, `start ${args.appName}`);
  ctx.debug(`app ${args.appName} started, pid ${pid} in the pod`);
  return 0;
}

/** The stop timeout from the environment. */
export function stopTimeout(env: NodeJS.ProcessEnv): number {
  const v = env[ENV_STOP_TIMEOUT];
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isInteger(n) && n >= 0 ? n : STOP_TIMEOUT_SECONDS;
}

/**
 * app/stop: SIGTERM, then SIGKILL after the timeout; returns once the app exited. Exit status 5
 * when the pod does not know the app (rkt's convention); an app that is not running is fine.
 */
export async function appStop(argv: readonly string[], ctx: CrossingContext): Promise<number> {
  const args = parseAppStopArgs(argv);
  readRunArgs(ctx.pod);
  const r = await ctlRequest(ctx.pod, `stop ${args.appName} ${SIGTERM} ${stopTimeout(ctx.env)}`);
  if (!r.ok && r.code === 'app.unknown') {
    ctx.warn(r.message);
    return EXIT_APP_STOP_NO_SUCH_APP;
  }
  if (!r.ok) throw replyError(r);
  ctx.debug(`app ${args.appName} stopped: ${r.data}`);
  return 0;
}

/**
 * app/rm: PID 1 forgets the app and detaches its mounts (the app must not be running), then
 * its cgroups, spec, seccomp program and logs go. An app PID 1 does not know is cleaned up all
 * the same (a failed app/add).
 */
export async function appRm(argv: readonly string[], ctx: CrossingContext): Promise<number> {
  const args = parseAppRmArgs(argv);
  readRunArgs(ctx.pod);
  const name = args.appName;
  const r = await ctlRequest(ctx.pod, `rm ${name}`);
  if (!r.ok && r.code !== 'app.unknown') throw replyError(r);
  const left = await removeAppCgroups(ctx.pod, name, (pid) => {
    try {
      ctx.sys.kill(pid, 'SIGKILL');
    } catch (e) {
      if (errnoOf(e) !== 'ESRCH') throw e;
    }
  });
  for (const d of left) ctx.warn(`cannot remove cgroup ${d}`);
  const s1 = stage1RootfsPath(ctx.pod);
  for (const p of [appSpecPath(name), join('rkt/seccomp', `${name}.bpf`), appLogPath(name)]) {
    try {
      rmSync(join(s1, p), { force: true });
    } catch (e) {
      ctx.warn(`cannot remove ${join(s1, p)}: ${(e as Error).message}`);
    }
  }
  // only the empty mount point: the directory itself is the host's (never recurse into it)
  try {
    rmdirSync(join(s1, appExtLogDir(name)));
  } catch {
    // not there, or still a mount point somewhere
  }
  return left.length > 0 ? 254 : 0;
}
