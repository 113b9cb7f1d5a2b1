/**
 * `rkt image rm IMAGE...`: removes images by ID, ID prefix or name. Every image that can be
 * removed is; the others are reported one line each and make the command fail at the end.
 * Images used by a pod that is being prepared, prepared or running are never removed.
 */
import { oneLine, userError } from '@rktnetes/errors';
import type { Store } from '@rktnetes/store';
import { writeStdout } from '../output/stdout';
import type { Context } from '../cli/context';
import { ACTIVE_POD_STATES, imageUsers, podReferences, type PodReferences } from './pods';
import { withStore } from './store';

/** The outcome of removing images. */
export interface RemoveResult {
  /** removed images: key and name */
  removed: Array<{ ref: string; key: string; name: string }>;
  /** references that were not removed, with the reason (one line) */
  failed: Array<{ ref: string; reason: string }>;
}

function describeUsers(pods: readonly PodReferences[]): string {
  const shown = pods.slice(0, 3).map((p) => `${p.uuid} (${p.state})`);
  return `${pods.length === 1 ? 'pod' : 'pods'} ${shown.join(', ')}${pods.length > 3 ? ` and ${pods.length - 3} more` : ''}`;
}

/**
 * Resolves every reference, then removes each distinct image not used by an active pod.
 * `onRemoved`/`onFailed` are called as it goes.
 */
export async function removeImages(
  ctx: Context,
  store: Store,
  refs: readonly string[],
  on: { removed?: (r: RemoveResult['removed'][number]) => void; failed?: (f: RemoveResult['failed'][number]) => void } = {},
): Promise<RemoveResult> {
  const res: RemoveResult = { removed: [], failed: [] };
  const fail = (ref: string, reason: string) => {
    res.failed.push({ ref, reason });
    on.failed?.({ ref, reason });
  };
  const todo = new Map<string, { ref: string; name: string }>();
  for (const ref of refs) {
    try {
      const info = store.getImage(ref);
      if (!todo.has(info.key)) todo.set(info.key, { ref, name: info.name });
    } catch (e) {
      fail(ref, oneLine(e));
    }
  }
  if (todo.size === 0) return res;
  const users = imageUsers(store, await podReferences(ctx.dataDir, ACTIVE_POD_STATES, (m) => ctx.log.warn(m)));
  for (const [key, { ref, name }] of todo) {
    const pods = users.get(key);
    if (pods) {
      fail(ref, `image "${ref}" (${key}) is used by ${describeUsers(pods)}; remove the pods first`);
      continue;
    }
    try {
      await store.removeImage(key);
      const r = { ref, key, name };
      res.removed.push(r);
      on.removed?.(r);
    } catch (e) {
      fail(ref, `cannot remove image "${ref}" (${key}): ${oneLine(e)}`);
    }
  }
  return res;
}

/** Runs `rkt image rm`: throws `image.rm-failed` after removing what it could. */
export async function runImageRm(ctx: Context, refs: readonly string[]): Promise<void> {
  const res = await withStore(ctx, 'write', (s) =>
    removeImages(ctx, s, refs, {
      removed: (r) => writeStdout(`successfully removed aci for image: "${r.key}" ("${r.name}")\n`),
      failed: (f) => ctx.log.info(f.reason),
    }),
  );
  if (res.removed.length) ctx.log.info(`${res.removed.length} image(s) successfully removed`);
  if (res.failed.length) {
    throw userError('image.rm-failed', `${res.failed.length} image(s) cannot be removed: ${res.failed.map((f) => JSON.stringify(f.ref)).join(', ')}`, {
      details: { failed: res.failed },
    });
  }
}
