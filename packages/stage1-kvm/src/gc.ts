/**
 * The gc entrypoint: releases what a kvm pod held outside its directory: a qemu that survived
 * (only possible if something broke: qemu holds the pod lock, and gc runs on unlocked pods),
 * the pod's tap devices, and mounts left under the pod directory.
 */
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseGcArgs } from '@rktnetes/stage1-abi';
import { unmountTree } from '@rktnetes/sys';
import type { EntrypointContext } from './context';
import { podKvmPath } from './layout';
import { cmdlineOf, podProcesses, signalProcess } from './procs';
import { deleteRecordedTaps, type IpRunner, runIp } from './tap';

/** What gc did. */
export interface KvmGcResult {
  /** pids of pod processes killed */
  killed: number[];
  /** tap devices deleted */
  taps: string[];
  /** mount points unmounted */
  unmounted: string[];
}

/**
 * Kills the pod's leftover qemu and shim (SIGKILL, waiting up to 2 s for them to go), deletes
 * the taps recorded in `<pod>/kvm/taps`, unmounts everything at or below the pod directory
 * and removes the enter socket. Idempotent; `--local-config` is accepted and unused.
 *
 * @throws RktError `stage1-kvm.net.ip` when a tap cannot be deleted, `sys.unmountTree`
 */
export async function kvmGc(argv: readonly string[], ctx: EntrypointContext, ip: IpRunner = runIp): Promise<KvmGcResult> {
  const args = parseGcArgs(argv);
  const procs = await podProcesses(ctx.podDir, args.uuid);
  const killed = [procs.qemu, procs.shim].filter((p): p is number => p !== undefined && signalProcess(ctx.sys, p, 'SIGKILL'));
  for (let i = 0; i < 100 && killed.some((p) => cmdlineOf(p) !== undefined); i++) await sleep(20);
  const taps = deleteRecordedTaps(podKvmPath(ctx.podDir, 'taps'), ip);
  const unmounted = unmountTree(ctx.podDir, ctx.sys);
  rmSync(podKvmPath(ctx.podDir, 'enterSocket'), { force: true });
  ctx.log.debug(`gc: pod ${args.uuid}: killed ${killed.join(', ') || 'nothing'}; taps ${taps.join(', ') || 'none'}; unmounted ${unmounted.join(', ') || 'nothing'}`);
  return { killed, taps, unmounted };
}
