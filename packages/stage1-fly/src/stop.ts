/**
 * The stop entrypoint: SIGTERM to the app (SIGKILL with `--force`). The app is the process
 * that run became, named in `<pod>/pid`.
 */
import { childPidOf, readPodPid } from '@rktnetes/common';
import { userError } from '@rktnetes/errors';
import { parseStopArgs } from '@rktnetes/stage1-abi';
import { errnoOf, type Sys } from '@rktnetes/sys';
import { readPodPgid, type EntrypointContext } from './context';

/** What stop did. */
export interface FlyStopResult {
  pid: number;
  signal: 'SIGTERM' | 'SIGKILL';
  /** whether the app process was still there */
  signalledPid: boolean;
  /** whether the app's whole process group was signalled too */
  signalledGroup: boolean;
}

/** kill(2), false when the target is gone (ESRCH). */
function signal(sys: Pick<Sys, 'kill'>, pid: number, sig: NodeJS.Signals): boolean {
  try {
    sys.kill(pid, sig);
    return true;
  } catch (e) {
    if (errnoOf(e) === 'ESRCH') return false;
    throw e;
  }
}

/**
 * Stops the pod: SIGTERM to its pid, or SIGKILL with `--force`. When the app leads its own
 * process group (recorded by run in `pgid`), the group is signalled too with `--force`, and
 * instead of the pid when the app itself is already gone (rkt fly does the same), so that
 * children that inherited the pod lock do not keep the pod running. A pod whose processes are
 * all gone is not an error.
 *
 * @throws RktError `stage1-fly.stop.no-pid` when run has not written `pid` yet
 */
export async function flyStop(argv: readonly string[], ctx: EntrypointContext): Promise<FlyStopResult> {
  const args = parseStopArgs(argv);
  const recorded = await readPodPid(ctx.podDir);
  const pid = recorded?.kind === 'ppid' ? await childPidOf(recorded.pid) : recorded?.pid;
  if (pid === undefined) throw userError('stage1-fly.stop.no-pid', `pod ${args.uuid} has no pid yet: it has not started`);
  const sig = args.force ? 'SIGKILL' : 'SIGTERM';
  const leadsGroup = readPodPgid(ctx.podDir) === pid;
  const signalledPid = signal(ctx.sys, pid, sig);
  const signalledGroup = leadsGroup && (args.force || !signalledPid) ? signal(ctx.sys, -pid, sig) : false;
  ctx.log.debug(`stop: ${sig} to ${pid}${signalledPid ? '' : ' (gone)'}${signalledGroup ? ` and process group ${pid}` : ''}`);
  return { pid, signal: sig, signalledPid, signalledGroup };
}
