/**
 * The stop entrypoint: asks the pod to shut down (SIGTERM to its PID 1, which stops the apps and
 * gives them the stop timeout before SIGKILL), or kills it with `--force`.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { podPidPath } from '@rktnetes/common';
import { parseStopArgs } from '@rktnetes/stage1-abi';
import { type Sys, errnoOf } from '@rktnetes/sys';
import { cgroupProcs, cgroupTree, podCgroupName } from '../run/cgroups';
import { readRuntimeConfig } from '../run/runtime-config';

/** What stopPod needs from its surroundings. */
export interface StopContext {
  sys: Sys;
  pod: string;
  debug: (message: string) => void;
}

function readPid(path: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Whether process `pid` is in the pod's cgroup (guards against a recycled pid). */
export function belongsToPod(pid: number, uuid: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`/${podCgroupName(uuid)}`);
  } catch {
    return false;
  }
}

/**
 * stop: SIGTERM to the pod's PID 1 (from `<pod>/pid`), or with `--force` SIGKILL to it and to
 * every process in the pod's cgroups. A pod that already exited, or never wrote its pid, is not
 * an error. Returns the exit status.
 */
export function stopPod(argv: readonly string[], ctx: StopContext): number {
  const args = parseStopArgs(argv);
  const signal = args.force ? 'SIGKILL' : 'SIGTERM';
  const send = (pid: number) => {
    try {
      ctx.sys.kill(pid, signal);
    } catch (e) {
      if (errnoOf(e) !== 'ESRCH') throw e;
    }
  };
  const pid = readPid(podPidPath(ctx.pod));
  if (pid !== undefined && belongsToPod(pid, args.uuid)) {
    ctx.debug(`stop: ${signal} to ${pid}`);
    send(pid);
  }
  if (args.force) {
    const name = podCgroupName(args.uuid);
    for (const top of readRuntimeConfig(ctx.pod)?.cgroups ?? []) {
      if (basename(top) !== name) continue;
      for (const d of cgroupTree(top)) for (const p of cgroupProcs(d)) send(p);
    }
  }
  return 0;
}
