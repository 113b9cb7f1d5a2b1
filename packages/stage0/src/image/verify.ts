/**
 * `rkt image verify IMAGE...`: checks that each image's blob still hashes to its ID and that
 * its rendered tree (if it has one) still matches the hash recorded when it was rendered. A
 * modified tree is repaired by rendering it again; a corrupt blob cannot be repaired here
 * (remove the image and fetch it again) and makes the command fail after checking the rest.
 */
import { userError, oneLine } from '@rktnetes/errors';
import type { Store } from '@rktnetes/store';
import { writeStdout } from '../output/stdout';
import type { Context } from '../cli/context';
import { withStore } from './store';

/** What happened to one image. */
export interface VerifyOutcome {
  ref: string;
  key?: string;
  /** `ok`: blob and tree verified; `not-rendered`: blob verified, no tree to check; `repaired`: the tree was modified and re-rendered; `failed`: see `reason` */
  status: 'ok' | 'not-rendered' | 'repaired' | 'failed';
  treeStoreID?: string;
  reason?: string;
}

async function drain(stream: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of stream) {
    // the store hashes while streaming and fails at the end on a mismatch
  }
}

/** Verifies (and repairs) one image. Never throws for the image's own problems: they are the outcome. */
export async function verifyImage(store: Store, ref: string): Promise<VerifyOutcome> {
  let key: string | undefined;
  try {
    key = store.resolveImage(ref);
    await drain(await store.exportImage(key));
    const treeStoreID = store.treeStoreID(key);
    if (!store.listTrees().some((t) => t.treeStoreID === treeStoreID)) return { ref, key, status: 'not-rendered' };
    const check = await store.verifyTree(treeStoreID);
    if (check.ok) return { ref, key, status: 'ok', treeStoreID };
    await store.render(key, { rebuild: true });
    const again = await store.verifyTree(treeStoreID);
    if (!again.ok) return { ref, key, status: 'failed', treeStoreID, reason: `tree ${treeStoreID} still differs after re-rendering it` };
    return { ref, key, status: 'repaired', treeStoreID };
  } catch (e) {
    return { ref, ...(key ? { key } : {}), status: 'failed', reason: oneLine(e) };
  }
}

/** Runs `rkt image verify`: one line per image; throws `image.verify-failed` at the end if any failed. */
export async function runImageVerify(ctx: Context, refs: readonly string[]): Promise<VerifyOutcome[]> {
  const outcomes = await withStore(ctx, 'write', async (store) => {
    const out: VerifyOutcome[] = [];
    for (const ref of refs) {
      const o = await verifyImage(store, ref);
      out.push(o);
      const id = `"${ref}" ("${o.key ?? ''}")`;
      switch (o.status) {
        case 'ok':
          writeStdout(`successfully verified checksum for image: ${id}\n`);
          break;
        case 'not-rendered':
          writeStdout(`successfully verified checksum for image: ${id}; not rendered, no tree to verify\n`);
          break;
        case 'repaired':
          writeStdout(`tree ${o.treeStoreID} of image ${id} did not match its checksum; rendered it again\n`);
          break;
        case 'failed':
          ctx.log.info(o.reason?.includes(ref) ? (o.reason ?? '') : `image "${ref}": ${o.reason}`);
          break;
      }
    }
    return out;
  });
  const failed = outcomes.filter((o) => o.status === 'failed');
  if (failed.length) {
    throw userError('image.verify-failed', `${failed.length} image(s) failed verification: ${failed.map((f) => JSON.stringify(f.ref)).join(', ')}`, {
      details: { failed },
    });
  }
  return outcomes;
}
