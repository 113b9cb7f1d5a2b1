/**
 * `rkt stop [--force] --uuid-file=FILE | UUID...`: ask running pods to stop through their
 * stage1 stop entrypoint (`--force` kills them). Returns once the request is made; the pod has
 * exited when its lock is released (`rkt status --wait`).
 */
import { isAfterRun } from '@rktnetes/common';
import { userError } from '@rktnetes/errors';
import { buildStopArgs } from '@rktnetes/stage1-abi';
import type { Context } from '../../cli/context';
import { entrypointFailed, readPodStage1, runEntrypoint } from '../../stage1/entrypoints';
import { forEachLimit, POD_CONCURRENCY } from '../concurrency';
import { quote } from '../format';
import { podStatus } from '../info';
import { podSys } from '../lock';
import { findPod } from '../uuid-arg';

async function stopOne(ctx: Context, ref: string, force: boolean): Promise<void> {
  const loc = await findPod(ctx.dataDir, ref);
  const p = await podStatus(ctx.dataDir, loc, podSys());
  if (!p || isAfterRun(p.state)) {
    process.stdout.write(`pod ${quote(loc.uuid)} is already stopped\n`);
    return;
  }
  if (p.state !== 'running') throw userError('pod.not-running', `pod ${quote(p.uuid)} is not running`, { details: { uuid: p.uuid } });
  const s1 = await readPodStage1(p.path);
  const status = await runEntrypoint(s1, 'stop', buildStopArgs({ uuid: p.uuid, force }, s1.interfaceVersion));
  if (status !== 0) throw entrypointFailed('stop', status, p.uuid);
  process.stdout.write(`${quote(p.uuid)}\n`);
}

/**
 * Stops every named pod, several at a time (the lines they print may come in any order);
 * failures are reported one line each and make the exit status 254.
 */
export async function stopCommand(ctx: Context, refs: readonly string[], force: boolean): Promise<void> {
  if (refs.length === 1) return stopOne(ctx, refs[0]!, force);
  let failed = 0;
  // several at a time: each stop is mostly a stage1 stop entrypoint process (../concurrency.ts)
  await forEachLimit(refs, POD_CONCURRENCY, async (ref) => {
    try {
      await stopOne(ctx, ref, force);
    } catch (e) {
      failed++;
      ctx.log.error(e);
    }
  });
  if (failed) {
    process.stderr.write(`rkt: failed to stop ${failed} pod(s)\n`);
    process.exitCode = 254;
  }
}
