/**
 * Cgroups of apps added to a running mutable pod. They go below the pod cgroups run created
 * (recorded in `runtime-config`), whichever cgroup the caller of app/add runs in.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { systemError } from '@rktnetes/errors';
import { errnoOf, readMountInfo } from '@rktnetes/sys';
import { type AppResources, type CgroupPlan, type Hierarchy, createPodCgroups, detectHierarchies, planPodCgroups, removeCgroups } from '../run/cgroups';
import { readRuntimeConfig } from '../run/runtime-config';

/**
 * The mounted hierarchies, each with `base` moved to the parent of the pod's cgroup in it (from
 * `runtime-config`); hierarchies the pod has no cgroup in are left out.
 */
export function podHierarchies(hierarchies: readonly Hierarchy[], podCgroups: readonly string[]): Hierarchy[] {
  const out: Hierarchy[] = [];
  for (const h of hierarchies) {
    const dir = podCgroups.find((d) => d.startsWith(`${h.mountPoint}/`) && !hierarchies.some((o) => o !== h && o.mountPoint.length > h.mountPoint.length && d.startsWith(`${o.mountPoint}/`)));
    if (dir) out.push({ ...h, base: dirname(dir) });
  }
  return out;
}

/** The recorded pod cgroup directories of a pod. */
export function recordedPodCgroups(pod: string): string[] {
  return readRuntimeConfig(pod)?.cgroups ?? [];
}

/**
 * Creates the cgroups of one app below the pod's and writes its limits (both cgroup versions:
 * on a unified host the init enabled the controllers when the pod started). Returns the plan
 * (its `appProcs` are what the app joins). Errors (system): `stage1.cgroup.*`.
 */
export function createAppCgroups(pod: string, uuid: string, app: { name: string; resources: AppResources }, restrictDevices: boolean): CgroupPlan {
  const hierarchies = podHierarchies(detectHierarchies(readFileSync('/proc/self/cgroup', 'utf8'), readMountInfo()), recordedPodCgroups(pod));
  const plan = planPodCgroups(hierarchies, uuid, [app], { restrictDevices });
  createPodCgroups(plan);
  if (plan.unified) {
    for (const { path, value } of plan.writes) {
      if (!plan.appProcs[app.name]?.some((p) => dirname(p) === dirname(path))) continue;
      try {
        writeFileSync(path, value);
      } catch (e) {
        throw systemError('stage1.cgroup.write', `write ${value} to ${path}: ${errnoOf(e) ?? (e as Error).message}`, { cause: e, details: { path } });
      }
    }
  }
  return plan;
}

/**
 * Removes an app's cgroups (killing what is left in them). Returns the directories that could
 * not be removed.
 */
export async function removeAppCgroups(pod: string, app: string, kill: (pid: number) => void): Promise<string[]> {
  const dirs = recordedPodCgroups(pod).map((d) => join(d, app));
  return removeCgroups(dirs, kill);
}
