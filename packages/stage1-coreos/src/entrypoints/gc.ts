/**
 * The gc entrypoint: releases what the pod held outside its directory. Idempotent, and it works
 * after a crash (run recorded its cgroups in `runtime-config` before creating them; without that
 * record the pod cgroups are searched by name).
 */
import { basename } from 'node:path';
import { stage1RootfsPath } from '@rktnetes/common';
import { parseGcArgs } from '@rktnetes/stage1-abi';
import { type Sys, errnoOf, unmountTree } from '@rktnetes/sys';
import { findPodCgroups, podCgroupName, removeCgroups } from '../run/cgroups';
import { readRuntimeConfig } from '../run/runtime-config';
import { releaseNetwork } from '../run/network';

/** What gcPod needs from its surroundings. */
export interface GcContext {
  sys: Sys;
  pod: string;
  env: NodeJS.ProcessEnv;
  warn: (message: string) => void;
  debug: (message: string) => void;
}

/**
 * gc: kills any process left in the pod's cgroups and removes them (children first), tears down
 * the pod's networks (port forwarding, CNI DEL for each network in `net-info.json`, the network
 * namespace in `<pod>/netns`), and unmounts everything still mounted at or below the pod
 * directory. Returns the exit status (0, or 254 when cgroups or network resources could not be
 * removed; they are listed as warnings).
 */
export async function gcPod(argv: readonly string[], ctx: GcContext): Promise<number> {
  const args = parseGcArgs(argv);
  const name = podCgroupName(args.uuid);
  const recorded = readRuntimeConfig(ctx.pod)?.cgroups;
  const dirs = (recorded && recorded.length > 0 ? recorded : findPodCgroups(args.uuid)).filter((d) => basename(d) === name);
  ctx.debug(`gc: cgroups ${dirs.join(' ') || '(none)'}`);
  const left = await removeCgroups(dirs, (pid) => {
    try {
      ctx.sys.kill(pid, 'SIGKILL');
    } catch (e) {
      if (errnoOf(e) !== 'ESRCH') throw e;
    }
  });
  for (const d of left) ctx.warn(`cannot remove cgroup ${d}`);
  const netLeft = releaseNetwork({ pod: ctx.pod, uuid: args.uuid, stage1Root: stage1RootfsPath(ctx.pod), localConfig: args.localConfig, sys: ctx.sys, env: ctx.env, debugEnabled: args.debug, warn: ctx.warn, debug: ctx.debug });
  for (const p of netLeft) ctx.warn(`network cleanup: ${p}`);
  const unmounted = unmountTree(ctx.pod, ctx.sys);
  if (unmounted.length > 0) ctx.debug(`gc: unmounted ${unmounted.join(' ')}`);
  return left.length > 0 || netLeft.length > 0 ? 254 : 0;
}
