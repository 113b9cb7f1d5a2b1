/**
 * `rkt cat-manifest [--pretty-print=true] --uuid-file=FILE | UUID`: print a pod's manifest.
 */
import { userError } from '@rktnetes/errors';
import { serializePodManifest } from '@rktnetes/schema';
import type { Context } from '../../cli/context';
import { podStatus, readPodManifest } from '../info';
import { findPod } from '../uuid-arg';

/** Prints the manifest of the pod `ref` names, tab-indented unless `pretty` is false. */
export async function catManifestCommand(ctx: Context, ref: string, pretty: boolean): Promise<void> {
  const loc = await findPod(ctx.dataDir, ref);
  const p = await podStatus(ctx.dataDir, loc);
  if (!p) throw userError('pod.gone', `pod ${loc.uuid} is gone`);
  const manifest = await readPodManifest(p.path, p.uuid);
  const value: unknown = JSON.parse(serializePodManifest(manifest));
  process.stdout.write(`${pretty ? JSON.stringify(value, null, '\t') : JSON.stringify(value)}\n`);
}
