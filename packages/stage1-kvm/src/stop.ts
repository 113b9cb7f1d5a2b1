/**
 * The stop entrypoint. Without `--force`: SIGTERM to the shim, which asks the guest init to
 * stop (the apps get SIGTERM, SIGKILL after 10 s, their statuses are written, the VM powers
 * off). With `--force`: SIGKILL to the shim and qemu.
 */
import { userError } from '@rktnetes/errors';
import { parseStopArgs } from '@rktnetes/stage1-abi';
import type { EntrypointContext } from './context';
import { podProcesses, signalProcess } from './procs';

/** What stop did. */
export interface KvmStopResult {
  force: boolean;
  /** the processes signalled */
  signalled: Array<{ pid: number; what: 'shim' | 'qemu'; signal: NodeJS.Signals }>;
}

/**
 * Stops the pod (see the module doc). A pod whose processes are already gone is not an error;
 * stop returns once the request is made.
 *
 * @throws RktError `stage1-kvm.stop.not-running` (user) when neither the shim nor qemu is found
 */
export async function kvmStop(argv: readonly string[], ctx: EntrypointContext): Promise<KvmStopResult> {
  const args = parseStopArgs(argv);
  const procs = await podProcesses(ctx.podDir, args.uuid);
  if (procs.shim === undefined && procs.qemu === undefined) {
    throw userError('stage1-kvm.stop.not-running', `pod ${args.uuid} has no running virtual machine`);
  }
  const signalled: KvmStopResult['signalled'] = [];
  const send = (pid: number | undefined, what: 'shim' | 'qemu', signal: NodeJS.Signals) => {
    if (pid !== undefined && signalProcess(ctx.sys, pid, signal)) signalled.push({ pid, what, signal });
  };
  if (args.force) {
    // the shim first: the pod's process dies by SIGKILL (qemu follows through PDEATHSIG)
    send(procs.shim, 'shim', 'SIGKILL');
    send(procs.qemu, 'qemu', 'SIGKILL');
  } else if (procs.shim !== undefined) {
    send(procs.shim, 'shim', 'SIGTERM');
  } else {
    // no shim to relay the request: qemu ends at once on SIGTERM
    send(procs.qemu, 'qemu', 'SIGTERM');
  }
  ctx.log.debug(`stop: ${signalled.map((s) => `${s.signal} to ${s.what} ${s.pid}`).join(', ') || 'nothing left to signal'}`);
  return { force: args.force, signalled };
}
