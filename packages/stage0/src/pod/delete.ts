/**
 * Deleting a pod (rkt's deletePod, shared by `rkt gc` and `rkt rm`). For a pod that ran: make
 * sure its stage1 is mounted, run the stage1 gc entrypoint (it releases what stage1 set up
 * outside the pod directory), unmount everything left under the pod directory, then remove the
 * stage1 root and finally the directory. A pod whose stage1 gc fails is unmounted but kept, for
 * the next gc to retry. The caller holds the pod's exclusive lock.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join, relative } from 'node:path';
import { stage1RootfsPath, stage1ImagePath } from '@rktnetes/common';
import { oneLine, systemError } from '@rktnetes/errors';
import { buildGcArgs } from '@rktnetes/stage1-abi';
import { mountsUnder, readMountInfo, unmountTree, type Sys } from '@rktnetes/sys';
import type { Context } from '../cli/context';
import { readPodStage1, runEntrypoint } from '../stage1/entrypoints';
import { quote } from './format';
import { unregisterPod } from './mds';
import { readableStage1Root, stage1TreeStoreId, usesOverlay, type PodStatus } from './info';
import { mountImageOverlay } from './overlay';
import { treeLowerDirs } from './trees';

/**
 * Mounts the stage1 overlay again when it is gone (a reboot between exit and gc), so that the
 * gc entrypoint exists. Returns whether it mounted something.
 */
async function remountStage1(ctx: Context, sys: Sys, p: PodStatus, s1id: string): Promise<boolean> {
  const target = join(fs.realpathSync(p.path), relative(p.path, stage1RootfsPath(p.path)));
  if (readMountInfo().some((m) => m.mountPoint === target)) return false;
  let lowerDirs: string[];
  try {
    lowerDirs = await treeLowerDirs(ctx.dataDir, s1id, (m) => ctx.log.debug(m));
  } catch (e) {
    throw systemError('pod.gc', `stage1 tree ${s1id} is no longer in the store`, { cause: e });
  }
  mountImageOverlay(sys, p.path, { lowerDirs, treeStoreId: s1id, dest: stage1ImagePath(p.path) });
  return true;
}

/**
 * Runs the stage1 gc entrypoint of a pod that ran. Returns false when the entrypoint ran and
 * failed (or was killed): what it releases outside the pod directory (network namespace,
 * address leases, iptables rules, cgroups) is found through that directory, so the pod must
 * stay for a later gc rather than be deleted and its resources leaked. When no entrypoint can
 * run at all (stage1 gone from the store), nothing ever could: the pod may go (rkt's behaviour).
 */
async function stage1Gc(ctx: Context, sys: Sys, p: PodStatus): Promise<boolean> {
  let status: number;
  try {
    if (await usesOverlay(p.path)) {
      const id = await stage1TreeStoreId(p.path);
      if (id) await remountStage1(ctx, sys, p, id);
    }
    const s1 = await readPodStage1(p.path);
    const args = buildGcArgs({ uuid: p.uuid, debug: ctx.debug, localConfig: ctx.localConfig }, s1.interfaceVersion, {
      onOmit: (o) => ctx.log.debug(`not passing --${o.flag} to stage1 gc: needs interface version ${o.since}`),
    });
    status = await runEntrypoint(s1, 'gc', args, { stdout: 'ignore' });
  } catch (e) {
    ctx.log.warn(`skipping stage1 GC on ${quote(p.uuid)}: ${oneLine(e)}`);
    return true;
  }
  if (status !== 0) ctx.log.warn(`problem performing stage1 GC on ${quote(p.uuid)}: gc entrypoint exited with status ${status}; keeping the pod for a later gc`);
  return status === 0;
}

/**
 * Deletes a pod in `exited-garbage` or `garbage` that the caller has locked. Returns false
 * (after reporting why) when something could not be removed; the pod can be retried later.
 */
export async function deletePod(ctx: Context, sys: Sys, p: PodStatus): Promise<boolean> {
  const ran = p.state === 'exited garbage' || p.state === 'exited deleting' || p.state === 'exited';
  const released = ran ? await stage1Gc(ctx, sys, p) : true;
  try {
    unmountTree(p.path, sys);
  } catch (e) {
    ctx.log.error(e, `GC of leftover mounts for pod ${quote(p.uuid)} failed`);
    return false;
  }
  if (!released) return false;
  // never recurse into a mount: a host volume could be below
  if (mountsUnder(p.path, readMountInfo()).length > 0) {
    ctx.log.warn(`pod ${quote(p.uuid)} still has mounts; not removing it`);
    return false;
  }
  const mds = await unregisterPod(p.path, p.uuid);
  if (mds) ctx.log.debug(`unregistering pod ${quote(p.uuid)} from the metadata service: ${mds}`);
  try {
    // the stage1 root first: if that fails, the manifest stays for a later retry
    await fsp.rm(await readableStage1Root(p.path), { recursive: true, force: true });
    await fsp.rm(p.path, { recursive: true, force: true });
  } catch (e) {
    ctx.log.error(e, `unable to remove pod ${quote(p.uuid)}`);
    return false;
  }
  return true;
}
