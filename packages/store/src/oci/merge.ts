/**
 * The merged view of a stack of layer directories, computed the way overlayfs presents it:
 * an upper layer's entry hides the same path below; a 0:0 character device (whiteout) hides
 * the path in the layers below; a directory marked opaque hides the content of the same
 * directory in the layers below; a non-directory hides everything below its path.
 *
 * Used where no overlay is mounted: flattened renders, export, reading single files, and the
 * symlink check of a whole image.
 */
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { isENOENT } from '../fsutil';
import { isOpaque, isWhiteout } from './layer-hash';

/** One path of the merged view. */
export interface MergedEntry {
  /** path relative to the root (`etc/passwd`) */
  rel: string;
  /** index (into the layer list, 0 = top) of the layer providing it */
  layer: number;
  /** the path in that layer's directory */
  abs: string;
  st: Stats;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if (isENOENT(e) || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/**
 * The layers (indices, top first) in which directory `rel` is merged, given that layer
 * `first` provides it as a directory: `first`, then each lower candidate where `rel` is a
 * directory too; a whiteout or non-directory ends the list, and so does an opaque directory
 * (after including it).
 */
function dirLayers(dirs: readonly string[], rel: string, candidates: readonly number[], first: number): number[] {
  const out = [first];
  if (isOpaque(join(dirs[first] as string, rel))) return out;
  for (const j of candidates) {
    if (j <= first) continue;
    const p = join(dirs[j] as string, rel);
    const st = lstatOrUndefined(p);
    if (!st) continue;
    if (!st.isDirectory()) break;
    out.push(j);
    if (isOpaque(p)) break;
  }
  return out;
}

/** The layers merged at the root: all, down to the first one whose root is opaque. */
export function rootLayers(dirs: readonly string[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < dirs.length; i++) {
    out.push(i);
    if (isOpaque(dirs[i] as string)) break;
  }
  return out;
}

/**
 * Every path of the merged view of `dirs` (top layer first), parents before children, names
 * sorted within a directory (so the order is deterministic).
 */
export function* walkMerged(dirs: readonly string[]): Generator<MergedEntry> {
  yield* mergeDir(dirs, '', rootLayers(dirs));
}

function* mergeDir(dirs: readonly string[], rel: string, layers: readonly number[]): Generator<MergedEntry> {
  const decided = new Map<string, { layer: number; st: Stats } | null>();
  for (const i of layers) {
    const abs = join(dirs[i] as string, rel);
    for (const name of readdirSync(abs)) {
      if (decided.has(name)) continue;
      const st = lstatSync(join(abs, name));
      decided.set(name, isWhiteout(st) ? null : { layer: i, st });
    }
  }
  for (const name of [...decided.keys()].sort()) {
    const d = decided.get(name);
    if (!d) continue;
    const childRel = rel ? `${rel}/${name}` : name;
    yield { rel: childRel, layer: d.layer, abs: join(dirs[d.layer] as string, childRel), st: d.st };
    if (d.st.isDirectory()) yield* mergeDir(dirs, childRel, dirLayers(dirs, childRel, layers, d.layer));
  }
}

/**
 * The entry of the merged view at `rel` (no symlinks followed), or undefined when the path
 * does not exist there.
 */
export function lookupMerged(dirs: readonly string[], rel: string): MergedEntry | undefined {
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
  let layers = rootLayers(dirs);
  let cur = '';
  for (const [n, part] of parts.entries()) {
    if (part === '..') return undefined;
    cur = cur ? `${cur}/${part}` : part;
    let found: MergedEntry | undefined;
    for (const i of layers) {
      const abs = join(dirs[i] as string, cur);
      const st = lstatOrUndefined(abs);
      if (!st) continue;
      if (isWhiteout(st)) return undefined;
      found = { rel: cur, layer: i, abs, st };
      break;
    }
    if (!found) return undefined;
    if (n === parts.length - 1) return found;
    if (!found.st.isDirectory()) return undefined;
    layers = dirLayers(dirs, cur, layers, found.layer);
  }
  return undefined;
}
