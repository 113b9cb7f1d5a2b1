/**
 * Opening the image store for an `rkt image` command and naming images in messages.
 */
import { openStore, type ImageInfo, type Store } from '@rktnetes/store';
import { isRktError, RktError } from '@rktnetes/errors';
import type { Context } from '../cli/context';

/**
 * Runs `fn` with the store of `ctx.dataDir` open (read-only for commands that change nothing)
 * and closes it afterwards.
 */
export async function withStore<T>(ctx: Context, mode: 'read' | 'write', fn: (store: Store) => Promise<T> | T): Promise<T> {
  const store = openStore(ctx.dataDir, { readOnly: mode === 'read', debug: (m) => ctx.log.debug(m) });
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

/** `name:version` when the image has a version label, else the name (as rkt lists images). */
export function displayName(info: Pick<ImageInfo, 'name' | 'labels'>): string {
  const version = info.labels.find((l) => l.name === 'version')?.value;
  return version ? `${info.name}:${version}` : info.name;
}

/**
 * `e` with its message prefixed by `what` (default `image "<ref>"`) unless it already names the
 * image (store errors quote the reference or the name they were given); code, kind and cause
 * are kept. Anything but an RktError is returned as is.
 */
export function aboutImage(ref: string, e: unknown, what = `image "${ref}"`): unknown {
  if (!isRktError(e)) return e;
  const name = ref.startsWith('sha512-') ? ref : ref.replace(/:[^:/]*$/, '');
  if (e.message.includes(`"${ref}"`) || e.message.includes(`"${name}"`)) return e;
  return new RktError(e.code, `${what}: ${e.message}`, { kind: e.kind, cause: e.cause, details: e.details });
}
