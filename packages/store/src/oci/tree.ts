/**
 * Rendering, reading and exporting layered images: the layered tree (a list of layer
 * directories for overlayfs), the flattened tree (whiteouts applied, for users that copy the
 * root filesystem instead of mounting it), single files, and an ACI of the flattened image.
 */
import {
  chmodSync,
  chownSync,
  constants as fsc,
  copyFileSync,
  createReadStream,
  existsSync,
  lchownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  utimesSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { systemError, userError } from '@rktnetes/errors';
import type { StoreContext } from '../context';
import { mknod } from '../deps';
import { writeFileAtomic } from '../fsutil';
import { treeStoreIDFor } from '../keys';
import { FileLock } from '../lock';
import { buildTree, type RenderResult } from '../render';
import { loadTarStream } from '../tarscan';
import { hashTree } from '../treehash';
import { readRecord, recordLayerDirs, type LayeredRecord } from './image';
import { hashLayerDir } from './layer-hash';
import { lookupMerged, walkMerged } from './merge';
import { combineLayerHashes, lowerDirsFor, TREE_LAYERS_FILE } from './tree-layers';

/** Marks the tree store ID of a flattened render, so it differs from the layered one. */
const FLAT_MARK = 'flattened';

/** The tree store ID of a layered image: layered, or flattened. */
export function layeredTreeStoreID(key: string, flatten: boolean): string {
  return treeStoreIDFor(flatten ? [key, FLAT_MARK] : [key]);
}

/** The record's layers, top first, each checked to be in the store. Throws `store.not-found`. */
function presentLayers(ctx: StoreContext, key: string, r: LayeredRecord): Array<{ diffID: string; hash: string; size: number }> {
  return [...r.layers].reverse().map((l) => {
    const row = ctx.rows.layer(l.diffID);
    if (!row || !existsSync(ctx.layout.layer(l.diffID))) {
      throw userError('store.not-found', `layer ${l.diffID} of image ${key} is missing from the store; remove the image and fetch it again`);
    }
    return { diffID: l.diffID, hash: row.hash, size: row.size };
  });
}

/**
 * Renders a layered image. Without `flatten`: a tree holding `layers` (diff IDs, top first),
 * `manifest`, `image` and `hash`, and the result's `lowerDirs` are the layer directories (an
 * image without any file gets an empty `rootfs` as its only lower dir). With `flatten`: a
 * tree with a real `rootfs`, the layers merged with their whiteouts applied.
 */
export async function renderLayered(ctx: StoreContext, key: string, opts: { rebuild?: boolean; flatten?: boolean } = {}): Promise<RenderResult> {
  const rec = readRecord(ctx, key);
  const manifestText = ctx.rows.image(key)?.manifest ?? '';
  const flatten = opts.flatten ?? false;
  const id = layeredTreeStoreID(key, flatten);
  if (flatten) {
    const r = await buildTree(ctx, key, id, opts, async (tmp) => {
      presentLayers(ctx, key, rec);
      flattenInto(recordLayerDirs(ctx, rec), join(tmp, 'rootfs'));
      writeFileAtomic(join(tmp, 'manifest'), manifestText);
      return hashTree(tmp);
    });
    return { ...r, images: [key], lowerDirs: [r.rootfs], layered: false };
  }
  const r = await buildTree(ctx, key, id, opts, async (tmp) => {
    const layers = presentLayers(ctx, key, rec);
    writeFileAtomic(join(tmp, TREE_LAYERS_FILE), JSON.stringify(layers.map((l) => l.diffID)));
    writeFileAtomic(join(tmp, 'manifest'), manifestText);
    if (layers.length === 0) mkdirSync(join(tmp, 'rootfs'), 0o755);
    return { hash: combineLayerHashes(layers), size: layers.reduce((n, l) => n + l.size, 0) };
  });
  const diffIDs = presentLayers(ctx, key, rec).map((l) => l.diffID);
  const lowerDirs = diffIDs.length ? lowerDirsFor(ctx.layout, diffIDs) : [r.rootfs];
  return { ...r, images: [key], lowerDirs, layered: true };
}

interface DirMeta {
  st: Stats;
  path: string;
}

function applyMeta(path: string, st: Stats, asRoot: boolean, link = false): void {
  if (link) {
    if (asRoot) lchownSync(path, st.uid, st.gid);
    lutimesSync(path, st.atime, st.mtime);
    return;
  }
  if (asRoot) chownSync(path, st.uid, st.gid);
  chmodSync(path, st.mode & 0o7777);
  utimesSync(path, st.atime, st.mtime);
}

/**
 * Copies the merged view of `dirs` (top first) into `out` (created): whiteouts and opaque
 * directories applied, hard links within a layer kept, ownership (as root), modes and times
 * preserved. Everything is created below directories made here, so nothing is written through
 * a symlink.
 */
export function flattenInto(dirs: readonly string[], out: string): void {
  const asRoot = process.getuid?.() === 0;
  mkdirSync(out, 0o755);
  const dirMeta: DirMeta[] = [];
  const links = new Map<string, string>();
  for (const e of walkMerged(dirs)) {
    const dst = join(out, e.rel);
    const st = e.st;
    if (st.isDirectory()) {
      mkdirSync(dst, 0o700);
      dirMeta.push({ st, path: dst });
    } else if (st.isFile()) {
      const inode = `${e.layer}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(inode) : undefined;
      if (first) {
        linkSync(first, dst);
        continue;
      }
      copyFileSync(e.abs, dst, fsc.COPYFILE_EXCL | fsc.COPYFILE_FICLONE);
      applyMeta(dst, st, asRoot);
      if (st.nlink > 1) links.set(inode, dst);
    } else if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(e.abs), dst);
      applyMeta(dst, st, asRoot, true);
    } else if (st.isFIFO()) {
      mknod(dst, 'fifo', 0o600);
      applyMeta(dst, st, asRoot);
    }
    // sockets and device nodes are not image content (layers never hold devices but whiteouts)
  }
  for (const d of dirMeta.reverse()) applyMeta(d.path, d.st, asRoot);
}

/**
 * A regular file of a layered image by absolute path (no symlinks followed). Throws
 * `store.not-found`.
 */
export function readLayeredFile(ctx: StoreContext, key: string, path: string): Buffer {
  const rec = readRecord(ctx, key);
  const e = lookupMerged(recordLayerDirs(ctx, rec), path);
  if (!e) throw userError('store.not-found', `file ${path} not found in image ${key}`);
  if (!e.st.isFile()) throw userError('store.not-found', `${path} in image ${key} is not a regular file`);
  return readFileSync(e.abs);
}

/**
 * Checks every layer of a layered image against the hash recorded when it was stored. Throws
 * `store.corrupt` naming the first modified layer.
 */
export function verifyLayers(ctx: StoreContext, key: string, rec: LayeredRecord = readRecord(ctx, key)): void {
  for (const l of presentLayers(ctx, key, rec)) {
    if (hashLayerDir(ctx.layout.layer(l.diffID)) !== l.hash) {
      throw systemError('store.corrupt', `layer ${l.diffID} of image ${key} was modified in the store; remove the image and fetch it again`);
    }
  }
}

/**
 * The layered image as an ACI (uncompressed tar): `manifest` and `rootfs/` with the merged
 * view of its layers, in a deterministic order. Its sha512 is not the image key (the key
 * hashes the record); importing it yields a separate ACI image. Layers are verified first
 * (`store.corrupt`). The store lock is held shared until the stream ends, so gc cannot remove
 * the layers meanwhile.
 */
export async function exportLayered(ctx: StoreContext, key: string): Promise<Readable> {
  const lock = await FileLock.acquire(ctx.layout.storeLock, 'sh', { create: !ctx.readOnly });
  try {
    const rec = readRecord(ctx, key);
    verifyLayers(ctx, key, rec);
    const dirs = recordLayerDirs(ctx, rec);
    const manifest = Buffer.from(ctx.rows.image(key)?.manifest ?? '');
    if (!ctx.readOnly) ctx.rows.touch(key, Date.now());
    const [{ pack: newPack }, { PassThrough }, { pipeline }] = await Promise.all([loadTarStream(), import('node:stream'), import('node:stream/promises')]);
    const pack = newPack();
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const writing = (async () => {
      const epoch = new Date(0);
      pack.entry({ name: 'manifest', mode: 0o644, mtime: epoch, uid: 0, gid: 0 }, manifest);
      pack.entry({ name: 'rootfs', type: 'directory', mode: 0o755, mtime: epoch, uid: 0, gid: 0 });
      const links = new Map<string, string>();
      for (const e of walkMerged(dirs)) {
        const st = e.st;
        const name = `rootfs/${e.rel}`;
        const base = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
        if (st.isDirectory()) pack.entry({ ...base, type: 'directory' });
        else if (st.isSymbolicLink()) pack.entry({ ...base, type: 'symlink', linkname: readlinkSync(e.abs) });
        else if (st.isFIFO()) pack.entry({ ...base, type: 'fifo' });
        else if (st.isFile()) {
          const inode = `${e.layer}:${st.ino}`;
          const first = st.nlink > 1 ? links.get(inode) : undefined;
          if (first) {
            pack.entry({ ...base, type: 'link', linkname: first });
            continue;
          }
          if (st.nlink > 1) links.set(inode, name);
          await new Promise<void>((resolve, reject) => {
            const entry = pack.entry({ ...base, type: 'file', size: st.size }, (err) => (err ? reject(err) : resolve()));
            pipeline(createReadStream(e.abs, { highWaterMark: 1 << 20 }), entry).catch(reject);
          });
        }
      }
      pack.finalize();
    })();
    writing.catch((e: unknown) => pack.destroy(e as Error));
    pipeline(pack, out).catch((e: unknown) => out.destroy(e as Error));
    out.once('close', () => lock?.release());
    return out;
  } catch (e) {
    lock?.release();
    throw e;
  }
}
