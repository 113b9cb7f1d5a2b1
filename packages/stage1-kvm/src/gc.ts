/**
 * The gc entrypoint: releases what a kvm pod held outside its directory: a qemu that survived
 * (only possible if something broke: qemu holds the pod lock, and gc runs on unlocked pods),
 * the pod's networks (port forwarding, CNI DEL, the network namespace and the taps in it), and
 * mounts left under the pod directory.
 */
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { stage1RootfsPath } from '@rktnetes/common';
import { parseGcArgs } from '@rktnetes/stage1-abi';
import { unmountTree } from '@rktnetes/sys';
import type { EntrypointContext } from './context';
import { podKvmPath } from './layout';
import { releaseKvmNetwork, type KvmReleaseOptions } from './net';
import { cmdlineOf, podProcesses, signalProcess } from './procs';

/** The options of {@link releaseKvmNetwork} for the pod of an entrypoint (gc, a failed run). */
export function releaseOptions(ctx: EntrypointContext, args: { uuid: string; localConfig?: string | undefined; debug: boolean }): KvmReleaseOptions {
  return {
    pod: ctx.podDir,
    uuid: args.uuid,
    stage1Root: stage1RootfsPath(ctx.podDir),
    ...(args.localConfig !== undefined ? { localConfig: args.localConfig } : {}),
    sys: ctx.sys,
    env: ctx.env,
    debugEnabled: args.debug,
    warn: (m) => ctx.log.warn(m),
    debug: (m) => ctx.log.debug(m),
    ...(ctx.run ? { run: ctx.run } : {}),
  };
}

/** What gc did. */
export interface KvmGcResult {
  /** pids of pod processes killed */
  killed: number[];
  /** what could not be cleaned up of the pod's networks, one message each */
  netProblems: string[];
  /** mount points unmounted */
  unmounted: string[];
}

/**
 * Kills the pod's leftover qemu and shim (SIGKILL, waiting up to 2 s for them to go), then
 * tears down its networks from `net-info.json` and `<pod>/netns` (`@rktnetes/pod-net`: port
 * forwarding, DEL for each network with `--local-config`'s plugins, the namespace, which takes
 * the taps with it), unmounts everything at or below the pod directory and removes the enter
 * socket. Idempotent. Network problems are returned (and logged as warnings), not thrown.
 *
 * @throws RktError `sys.unmountTree`
 */
export async function kvmGc(argv: readonly string[], ctx: EntrypointContext): Promise<KvmGcResult> {
  const args = parseGcArgs(argv);
  const procs = await podProcesses(ctx.podDir, args.uuid);
  const killed = [procs.qemu, procs.shim].filter((p): p is number => p !== undefined && signalProcess(ctx.sys, p, 'SIGKILL'));
  for (let i = 0; i < 100 && killed.some((p) => cmdlineOf(p) !== undefined); i++) await sleep(20);
  const netProblems = releaseKvmNetwork(releaseOptions(ctx, args));
  for (const p of netProblems) ctx.log.warn(`network cleanup: ${p}`);
  const unmounted = unmountTree(ctx.podDir, ctx.sys);
  rmSync(podKvmPath(ctx.podDir, 'enterSocket'), { force: true });
  ctx.log.debug(`gc: pod ${args.uuid}: killed ${killed.join(', ') || 'nothing'}; unmounted ${unmounted.join(', ') || 'nothing'}`);
  return { killed, netProblems, unmounted };
}
