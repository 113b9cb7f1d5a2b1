/**
 * `rkt gc [--grace-period=30m] [--expire-prepared=24h] [--mark-only]`: the passes of
 * docs/pod-lifecycle.md. Exited pods are marked (moved to `exited-garbage`, which starts the
 * grace period), aborted prepares and expired prepared pods moved to `garbage`; then marked
 * pods older than the grace period and all garbage are deleted, and so are stale embryos.
 * Pods another process is working on are skipped.
 *
 * Pods are marked and deleted several at a time ({@link GC_CONCURRENCY}, see ../concurrency.ts).
 */
import * as fsp from 'node:fs/promises';
import { isPodGone, listPods, renamePod, type PodDirState, type PodState } from '@rktnetes/common';
import { oneLine } from '@rktnetes/errors';
import type { Context } from '../../cli/context';
import { forEachLimit, POD_CONCURRENCY } from '../concurrency';
import { deletePod } from '../delete';
import { formatGoDuration, quote } from '../format';
import { podStatus, type PodStatus } from '../info';
import { podSys, tryLockPod } from '../lock';

export interface GcOptions {
  /** ms a marked pod is kept before deletion (default 30 minutes) */
  gracePeriodMs: number;
  /** ms after which a prepared pod that never ran is discarded (default 24 hours) */
  expirePreparedMs: number;
  markOnly: boolean;
}

export const DEFAULT_GRACE_PERIOD_MS = 30 * 60_000;
export const DEFAULT_EXPIRE_PREPARED_MS = 24 * 3_600_000;

/** How many pods gc works on at once. */
export const GC_CONCURRENCY = POD_CONCURRENCY;

async function podsIn(ctx: Context, dir: PodDirState): Promise<PodStatus[]> {
  const out: PodStatus[] = [];
  for (const loc of await listPods(ctx.dataDir, [dir])) {
    const st = await podStatus(ctx.dataDir, loc);
    if (st) out.push(st);
  }
  return out;
}

/** Renames pods of `dir` in `state` to `to`, reporting each; lost races are ignored. */
async function mark(ctx: Context, dir: PodDirState, state: PodState, to: PodDirState, message: (p: PodStatus) => string, filter?: (p: PodStatus) => Promise<boolean>): Promise<void> {
  const pods = (await podsIn(ctx, dir)).filter((p) => p.state === state && p.dir === dir);
  await forEachLimit(pods, GC_CONCURRENCY, async (p) => {
    if (filter && !(await filter(p))) return;
    process.stderr.write(`${message(p)}\n`);
    try {
      await renamePod(ctx.dataDir, p.uuid, dir, to, state);
    } catch (e) {
      if (!isPodGone(e)) ctx.log.warn(`rename error: ${oneLine(e)}`);
    }
  });
}

/** ms since the pod directory's change time (its last rename). */
async function ageOf(p: PodStatus): Promise<number | undefined> {
  try {
    return Date.now() - (await fsp.lstat(p.path)).ctimeMs;
  } catch {
    return undefined;
  }
}

/** Locks and deletes pods of `dir` accepted by `ready`. */
async function sweep(ctx: Context, dir: PodDirState, ready: (p: PodStatus) => Promise<boolean>): Promise<void> {
  const sys = podSys();
  const pods = (await podsIn(ctx, dir)).filter((p) => p.dir === dir);
  await forEachLimit(pods, GC_CONCURRENCY, async (p) => {
    if (!(await ready(p))) return;
    const lock = tryLockPod(p.path, sys);
    if (!lock) return;
    try {
      process.stdout.write(`Garbage collecting pod ${quote(p.uuid)}\n`);
      await deletePod(ctx, sys, p);
    } finally {
      lock.close();
    }
  });
}

/**
 * How old an unlocked embryo must be to count as left over. Its creator renames it to `prepare`
 * a few milliseconds after creating it; only a creator that died in between leaves one.
 */
export const EMBRYO_STALE_MS = 10_000;

/**
 * Removes embryos left by a creator killed between creating and renaming them: unlocked, older
 * than {@link EMBRYO_STALE_MS}, and empty (stage0 writes nothing into an embryo), so nothing but
 * the directory itself can ever be lost. rkt leaves them forever.
 */
async function sweepEmbryos(ctx: Context): Promise<void> {
  const sys = podSys();
  for (const loc of await listPods(ctx.dataDir, ['embryo'])) {
    let age: number;
    try {
      age = Date.now() - (await fsp.lstat(loc.path)).ctimeMs;
    } catch {
      continue; // renamed or removed meanwhile
    }
    if (age < EMBRYO_STALE_MS) continue;
    const lock = tryLockPod(loc.path, sys);
    if (!lock) continue;
    try {
      await fsp.rmdir(loc.path);
      process.stderr.write(`removed stale embryo pod ${quote(loc.uuid)}\n`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') ctx.log.warn(`cannot remove embryo pod ${quote(loc.uuid)}: ${oneLine(e)}`);
    } finally {
      lock.close();
    }
  }
}

/** Runs the gc passes. */
export async function gcCommand(ctx: Context, o: GcOptions): Promise<void> {
  await mark(ctx, 'run', 'exited', 'exited-garbage', (p) => `moving pod ${quote(p.uuid)} to garbage`);
  await mark(ctx, 'prepare', 'aborted prepare', 'garbage', (p) => `moving failed prepare ${quote(p.uuid)} to garbage`);
  if (o.markOnly) return;
  await mark(ctx, 'prepared', 'prepared', 'garbage', (p) => `moving expired prepared pod ${quote(p.uuid)} to garbage`, async (p) => {
    const age = await ageOf(p);
    return age !== undefined && (o.expirePreparedMs <= 0 || age >= o.expirePreparedMs);
  });
  await sweep(ctx, 'exited-garbage', async (p) => {
    if (p.state !== 'exited garbage') return false;
    const age = await ageOf(p);
    if (age === undefined) return false;
    if (o.gracePeriodMs <= 0 || age >= o.gracePeriodMs) return true;
    process.stderr.write(`pod ${quote(p.uuid)} not removed: still within grace period (${formatGoDuration(o.gracePeriodMs)})\n`);
    return false;
  });
  await sweep(ctx, 'garbage', async (p) => p.state === 'garbage');
  await sweepEmbryos(ctx);
}
