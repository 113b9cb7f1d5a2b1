/**
 * `rkt rm --uuid-file=FILE | UUID...`: remove pods that are not running, right away (gc
 * without the grace period), running the stage1 gc entrypoint of those that ran. Prints each
 * removed pod's uuid.
 */
import { isPodGone, renamePod } from '@rktnetes/common';
import { userError } from '@rktnetes/errors';
import type { Sys } from '@rktnetes/sys';
import type { Context } from '../../cli/context';
import { deletePod } from '../delete';
import { quote } from '../format';
import { podStatus, type PodStatus } from '../info';
import { podSys, tryLockPod } from '../lock';
import { findPod } from '../uuid-arg';

/** Moves a pod to a garbage directory when needed; throws when it cannot be removed now. */
async function toGarbage(ctx: Context, p: PodStatus): Promise<PodStatus> {
  const busy = (why: string) => userError('pod.busy', `pod ${quote(p.uuid)} is currently ${why}`, { details: { uuid: p.uuid } });
  const move = async (to: 'garbage' | 'exited-garbage', message?: string): Promise<PodStatus> => {
    if (message) process.stderr.write(`${message}\n`);
    try {
      const path = await renamePod(ctx.dataDir, p.uuid, p.dir, to, p.state);
      return { ...p, path, dir: to, state: to === 'garbage' ? 'garbage' : 'exited garbage' };
    } catch (e) {
      if (isPodGone(e)) throw userError('pod.gone', `pod ${quote(p.uuid)} changed state, try again`, { cause: e });
      throw e;
    }
  };
  switch (p.state) {
    case 'running':
      throw busy('running');
    case 'embryo':
    case 'preparing':
      throw busy('being prepared');
    case 'deleting':
    case 'exited deleting':
      throw busy('being deleted');
    case 'aborted prepare':
      return move('garbage', `moving failed prepare ${quote(p.uuid)} to garbage`);
    case 'prepared':
      return move('garbage', `moving expired prepared pod ${quote(p.uuid)} to garbage`);
    case 'exited':
      return move('exited-garbage');
    case 'exited garbage':
    case 'garbage':
      return p;
  }
}

async function removeOne(ctx: Context, sys: Sys, ref: string): Promise<void> {
  const loc = await findPod(ctx.dataDir, ref);
  const st = await podStatus(ctx.dataDir, loc, sys);
  if (!st) throw userError('pod.gone', `pod ${quote(loc.uuid)} is gone`);
  const p = await toGarbage(ctx, st);
  const lock = tryLockPod(p.path, sys);
  if (!lock) throw userError('pod.busy', `unable to acquire exclusive lock on pod ${quote(p.uuid)}`);
  try {
    if (!(await deletePod(ctx, sys, p))) throw userError('pod.rm', `pod ${quote(p.uuid)} could not be removed completely`);
  } finally {
    lock.close();
  }
  process.stdout.write(`${quote(p.uuid)}\n`);
}

/**
 * Removes every named pod, reporting failures one line each; sets exit status 254 when any
 * failed. With a single pod its error is thrown instead.
 */
export async function rmCommand(ctx: Context, refs: readonly string[]): Promise<void> {
  const sys = podSys();
  if (refs.length === 1) return removeOne(ctx, sys, refs[0]!);
  let failed = 0;
  for (const ref of refs) {
    try {
      await removeOne(ctx, sys, ref);
    } catch (e) {
      failed++;
      ctx.log.error(e);
    }
  }
  if (failed) {
    process.stderr.write(`rkt: failed to remove ${failed} pod(s)\n`);
    process.exitCode = 254;
  }
}
