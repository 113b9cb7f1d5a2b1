/**
 * The tree store: rendering an image and its dependencies into `cas/tree/<id>/rootfs`, hashing,
 * verifying and removing rendered trees.
 *
 * A render happens in a private temp dir under `cas/tmp` and is renamed into place once it is
 * complete, hashed and synced, so a tree dir that exists is always whole.
 */
import {
  closeSync,
  constants,
  createReadStream,
  existsSync,
  fchmodSync,
  fchownSync,
  futimesSync,
  linkSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  chmodSync,
  chownSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { systemError, userError, isRktError } from '@rktnetes/errors';
import { flock, mknod, type ImageDependency, type ImageManifest } from './deps';
import { entryFromHeader, invalid, TreeModel, type Entry } from './entries';
import { fsyncDir, isENOENT, mkdirp, privateDir, removeTree, syncFilesystem, tempName, writeAll, writeFileAtomic } from './fsutil';
import { isTreeStoreID, keyFromHex, treeStoreIDFor } from './keys';
import { FileLock, lockFd, withLock } from './lock';
import { manifestOf, resolveByName, resolveKey } from './resolve';
import { scanTar } from './tarscan';
import { hashTree, TREE_METADATA } from './treehash';
import { assertWritable, type StoreContext } from './context';
import { hashLayeredTree, treeLayerIDs } from './oci/tree-layers';

/** Most images a dependency chain may have. */
const MAX_CHAIN = 256;

/** One image of a flattened dependency list. */
export interface ChainImage {
  key: string;
  manifest: ImageManifest;
  manifestText: string;
  /** 0 for the top image */
  level: number;
  /** path whitelists of the images above this one in its branch, as `rootfs/...` paths */
  upperWhitelists: Set<string>[];
}

/** The result of {@link render}. */
export interface RenderResult {
  treeStoreID: string;
  /** the tree dir: `cas/tree/<id>` (holds `rootfs`, `manifest`, `hash`, `image`) */
  path: string;
  /**
   * `cas/tree/<id>/rootfs`, the root filesystem (an overlayfs lower dir). For a layered render
   * (`layered`) this directory does not exist: mount {@link lowerDirs} instead
   */
  rootfs: string;
  /**
   * the overlayfs lower dirs of the image, uppermost first (`lowerdir=` order): `[rootfs]` for
   * ACIs and flattened renders, the layer directories (`cas/layer/<hex>`) for layered images
   */
  lowerDirs: string[];
  /** true when the image is rendered as layers (an OCI/Docker image without `flatten`) */
  layered: boolean;
  /** the image keys rendered, upper first */
  images: string[];
  /** the content hash of the tree */
  hash: string;
  /** false when the tree was already rendered */
  rendered: boolean;
}

function whitelistSet(pwl: string[] | undefined): Set<string> | undefined {
  if (!pwl || pwl.length === 0) return undefined;
  return new Set(pwl.map((p) => ['rootfs', ...p.split('/').filter((c) => c !== '' && c !== '.')].join('/')));
}

function resolveDependency(ctx: StoreContext, parent: ChainImage, d: ImageDependency): string {
  try {
    if (d.imageID) {
      const key = resolveKey(ctx, d.imageID);
      const { manifest } = manifestOf(ctx, key);
      if (manifest.name !== d.imageName) {
        throw userError('store.not-found', `image ${d.imageID} is named "${manifest.name}", not "${d.imageName}"`);
      }
      return key;
    }
    return resolveByName(ctx, d.imageName, d.labels ?? []);
  } catch (e) {
    if (isRktError(e) && (e.code === 'store.not-found' || e.code === 'store.ambiguous')) {
      throw userError(e.code, `dependency "${d.imageName}" of image "${parent.manifest.name}" (${parent.key}): ${e.message}`, { cause: e });
    }
    throw e;
  }
}

/**
 * The flattened dependency list of `key` as appc renders it: the image first, then each
 * dependency's own list, later dependencies before earlier ones (so they take precedence).
 * Throws `image.invalid` on a dependency cycle and `store.not-found` for a missing dependency.
 */
export function dependencyChain(ctx: StoreContext, key: string): ChainImage[] {
  const out: ChainImage[] = [];
  const visit = (k: string, level: number, ancestors: string[], upper: Set<string>[]): void => {
    if (ancestors.includes(k)) throw invalid(JSON.stringify(k), `has a dependency cycle through ${ancestors.join(' -> ')}`);
    if (out.length >= MAX_CHAIN) throw invalid(JSON.stringify(key), `has more than ${MAX_CHAIN} images in its dependency chain`);
    const { manifest, text } = manifestOf(ctx, k);
    const img: ChainImage = { key: k, manifest, manifestText: text, level, upperWhitelists: upper };
    out.push(img);
    const own = whitelistSet(manifest.pathWhitelist);
    const below = own ? [...upper, own] : upper;
    const deps = manifest.dependencies ?? [];
    for (let i = deps.length - 1; i >= 0; i--) {
      visit(resolveDependency(ctx, img, deps[i] as ImageDependency), level + 1, [...ancestors, k], below);
    }
  };
  visit(key, 0, [], []);
  return out;
}

/** The tree store ID `key` renders to with the dependencies resolvable now. */
export function treeStoreID(ctx: StoreContext, key: string): string {
  return treeStoreIDFor(dependencyChain(ctx, key).map((i) => i.key));
}

interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
}

/** Writes entries into a render (or layer) dir; the {@link TreeModel} has already approved each one. */
export class Extractor {
  readonly dirs = new Map<string, DirMeta>();
  private readonly made = new Set<string>();
  private readonly asRoot = process.getuid?.() === 0;

  constructor(private readonly base: string) {}

  private ensureDir(rel: string): void {
    if (this.made.has(rel)) return;
    const parts = rel.split('/');
    let cur = '';
    for (const p of parts) {
      cur = cur ? `${cur}/${p}` : p;
      if (this.made.has(cur)) continue;
      const abs = join(this.base, cur);
      try {
        mkdirSync(abs, 0o755);
        // independent of the umask; explicit directory entries get their own mode at the end
        chmodSync(abs, 0o755);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        // never write through anything but a real directory
        if (!lstatSync(abs).isDirectory()) throw systemError('store.render', `render: ${cur} is not a directory`);
      }
      this.made.add(cur);
    }
  }

  async write(e: Entry, replace: boolean, body: AsyncIterable<Buffer>): Promise<void> {
    const slash = e.path.lastIndexOf('/');
    if (slash > 0) this.ensureDir(e.path.slice(0, slash));
    const abs = join(this.base, e.path);
    if (e.type === 'dir') {
      this.ensureDir(e.path);
      this.dirs.set(e.path, { mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime });
      return;
    }
    if (replace) unlinkSync(abs);
    switch (e.type) {
      case 'file': {
        const fd = openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          for await (const c of body) writeAll(fd, c);
          if (this.asRoot) fchownSync(fd, e.uid, e.gid);
          fchmodSync(fd, e.mode);
          futimesSync(fd, e.mtime, e.mtime);
        } finally {
          closeSync(fd);
        }
        return;
      }
      case 'symlink':
        symlinkSync(e.linkname as string, abs);
        if (this.asRoot) lchownSync(abs, e.uid, e.gid);
        lutimesSync(abs, e.mtime, e.mtime);
        return;
      case 'hardlink':
        // shares the target's inode and metadata
        linkSync(join(this.base, e.linkname as string), abs);
        return;
      case 'fifo':
      case 'char':
      case 'block':
        mknod(abs, e.type, 0o600, e.devmajor ?? 0, e.devminor ?? 0);
        break;
    }
    if (this.asRoot) chownSync(abs, e.uid, e.gid);
    chmodSync(abs, e.mode);
    utimesSync(abs, e.mtime, e.mtime);
  }

  /** Applies directory metadata, deepest first (a read-only directory is filled before it is closed). */
  finishDirs(): void {
    const paths = [...this.dirs.keys()].sort((a, b) => b.split('/').length - a.split('/').length);
    for (const p of paths) {
      const m = this.dirs.get(p) as DirMeta;
      const abs = join(this.base, p);
      if (this.asRoot) chownSync(abs, m.uid, m.gid);
      chmodSync(abs, m.mode);
      utimesSync(abs, m.mtime, m.mtime);
    }
  }
}

/** Whether `e` passes the path whitelists that apply to its image. */
function whitelisted(img: ChainImage, own: Set<string> | undefined, e: Entry): boolean {
  if (e.path === 'rootfs') return true;
  if (own && e.type !== 'dir' && !own.has(e.path)) return false;
  return img.upperWhitelists.every((w) => w.has(e.path));
}

async function renderInto(ctx: StoreContext, dir: string, chain: ChainImage[]): Promise<void> {
  const what = JSON.stringify(chain[0]?.manifest.name ?? '');
  const model = new TreeModel(what, { allowDevices: true, render: true });
  const ex = new Extractor(dir);
  mkdirSync(join(dir, 'rootfs'), 0o755);
  chmodSync(join(dir, 'rootfs'), 0o755);
  for (const [layer, img] of chain.entries()) {
    const own = whitelistSet(img.manifest.pathWhitelist);
    const imgWhat = JSON.stringify(`${img.manifest.name} (${img.key})`);
    await withLock(ctx.layout.imageLock(img.key), 'sh', async () => {
      const blob = ctx.layout.blob(img.key);
      if (!existsSync(blob)) throw userError('store.not-found', `image ${img.key} has no blob in the store; remove and fetch it again`);
      const hash = createHash('sha512');
      const corruptBlob = (cause?: unknown) =>
        systemError('store.corrupt', `image ${img.key} is corrupt in the store (its content no longer matches its ID); remove and fetch it again`, { cause });
      await scanTar(fileChunks(blob), {
        what: imgWhat,
        tap: (c) => hash.update(c),
        async onEntry(header, body) {
          const e = entryFromHeader(imgWhat, header);
          if (!e || e.path === 'manifest' || !whitelisted(img, own, e)) return;
          const d = model.add(e, layer, imgWhat);
          if (d === 'skip') return;
          await ex.write(e, d === 'replace', body);
        },
      }).catch((e: unknown) => {
        throw isRktError(e) && e.code === 'image.corrupt' ? corruptBlob(e) : e;
      });
      if (keyFromHex(hash.digest('hex')) !== img.key) throw corruptBlob();
    });
  }
  model.checkSymlinks();
  ex.finishDirs();
  writeFileAtomic(join(dir, 'manifest'), chain[0]?.manifestText ?? '');
}

async function* fileChunks(path: string): AsyncGenerator<Buffer> {
  const s = createReadStream(path, { highWaterMark: 1 << 20 });
  try {
    for await (const c of s) yield c as Buffer;
  } finally {
    s.destroy();
  }
}

/**
 * Renders `key` (a full key) and its dependency chain unless that tree already exists (or
 * `rebuild`). Locks: store (shared) -> tree (exclusive) -> each image (shared while read).
 */
export async function render(ctx: StoreContext, key: string, opts: { rebuild?: boolean } = {}): Promise<RenderResult> {
  assertWritable(ctx, 'render an image');
  const chain = dependencyChain(ctx, key);
  const id = treeStoreIDFor(chain.map((i) => i.key));
  const images = chain.map((i) => i.key);
  const r = await buildTree(ctx, key, id, opts, async (tmp) => {
    await renderInto(ctx, tmp, chain);
    return hashTree(tmp);
  });
  if (r.rendered) ctx.debug(`rendered ${key} into ${id} (${chain.length} images)`);
  return { ...r, images, lowerDirs: [r.rootfs], layered: false };
}

/** What {@link buildTree} returns. */
export interface BuiltTree {
  treeStoreID: string;
  path: string;
  rootfs: string;
  hash: string;
  rendered: boolean;
}

/**
 * Creates tree `id` of image `key` unless it exists (or `rebuild`): `fill` writes the content
 * into a private temp dir and returns its hash and size; the hash and image files are added,
 * the file system synced, and the dir renamed into place. Takes the store lock shared and the
 * tree lock exclusively (callers must not hold them).
 */
export async function buildTree(
  ctx: StoreContext,
  key: string,
  id: string,
  opts: { rebuild?: boolean },
  fill: (tmp: string) => Promise<{ hash: string; size: number }>,
): Promise<BuiltTree> {
  const { layout } = ctx;
  const treePath = layout.tree(id);
  const storeLock = await FileLock.acquire(layout.storeLock, 'sh');
  try {
    return await withLock(layout.treeLock(id), 'ex', async () => {
      if (existsSync(treePath)) {
        if (!opts.rebuild) {
          ctx.rows.touchCoarse(key, Date.now());
          return { treeStoreID: id, path: treePath, rootfs: join(treePath, 'rootfs'), hash: readHash(treePath) ?? '', rendered: false };
        }
        removeTreeDir(ctx, treePath);
      }
      mkdirp(layout.tmp, 0o700);
      privateDir(layout.trees);
      const tmp = join(layout.tmp, tempName('render'));
      mkdirSync(tmp, 0o755);
      const dfd = openSync(tmp, constants.O_RDONLY | constants.O_DIRECTORY);
      let moved = false;
      try {
        await lockFd(dfd, 'ex');
        const { hash, size } = await fill(tmp);
        writeFileAtomic(join(tmp, 'hash'), hash);
        writeFileAtomic(join(tmp, 'image'), key);
        writeFileAtomic(join(tmp, TREE_SIZE_FILE), String(size));
        await syncFilesystem(tmp);
        renameSync(tmp, treePath);
        moved = true;
        fsyncDir(layout.trees);
        const now = Date.now();
        const total = imageTreesSize(ctx, key);
        ctx.rows.write('record render', () => {
          ctx.rows.setTreeStoreSize(key, total);
          ctx.rows.touch(key, now);
        });
        return { treeStoreID: id, path: treePath, rootfs: join(treePath, 'rootfs'), hash, rendered: true };
      } finally {
        closeSync(dfd);
        if (!moved) removeTree(tmp);
      }
    });
  } finally {
    storeLock?.release();
  }
}

function readHash(treePath: string): string | undefined {
  try {
    return readFileSync(join(treePath, 'hash'), 'utf8').trim();
  } catch (e) {
    if (isENOENT(e)) return undefined;
    throw e;
  }
}

/**
 * A tree's `size` file: the bytes its render counted (its files, each inode once; for a layered
 * tree, its layers). An image's `tree_store_size` is the sum over all its trees, since an image
 * has several when it was rendered again with other dependencies, or flattened as well as
 * layered (bench/scale-disk.mjs found only the last one counted).
 */
export const TREE_SIZE_FILE = 'size';

/**
 * The bytes of a tree: its `size` file, or for a tree rendered before those existed the files
 * hashTree would count (everything but the metadata, each inode once).
 */
export function treeBytes(treePath: string): number {
  try {
    const n = Number(readFileSync(join(treePath, TREE_SIZE_FILE), 'utf8').trim());
    if (Number.isSafeInteger(n) && n >= 0) return n;
  } catch (e) {
    if (!isENOENT(e)) throw e;
  }
  const inodes = new Set<string>();
  let size = 0;
  const walk = (dir: string, top: boolean): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (e) {
      if (isENOENT(e)) return;
      throw e;
    }
    for (const name of names) {
      if (top && TREE_METADATA.has(name)) continue;
      const st = lstatSync(join(dir, name));
      if (st.isDirectory()) walk(join(dir, name), false);
      else if (st.isFile() && !inodes.has(`${st.dev}:${st.ino}`)) {
        inodes.add(`${st.dev}:${st.ino}`);
        size += st.size;
      }
    }
  };
  walk(treePath, true);
  return size;
}

/** The bytes of every tree of image `key` present in the store. */
export function imageTreesSize(ctx: StoreContext, key: string): number {
  let total = 0;
  for (const id of listTreeIDs(ctx)) {
    const treePath = ctx.layout.tree(id);
    try {
      if (treeImage(treePath) === key) total += treeBytes(treePath);
    } catch (e) {
      // a tree being removed meanwhile
      if (!isENOENT(e)) throw e;
    }
  }
  return total;
}

/** The image key a tree was rendered for, if recorded. */
export function treeImage(treePath: string): string | undefined {
  try {
    return readFileSync(join(treePath, 'image'), 'utf8').trim();
  } catch (e) {
    if (isENOENT(e)) return undefined;
    throw e;
  }
}

/**
 * Moves a tree out of sight atomically, then deletes it (a crash leaves only garbage in tmp).
 * The directory is flocked before the rename, so gc never sweeps it while this runs.
 */
function removeTreeDir(ctx: StoreContext, treePath: string): void {
  mkdirp(ctx.layout.tmp, 0o700);
  const doomed = join(ctx.layout.tmp, tempName('remove'));
  const fd = openSync(treePath, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    flock(fd, 'ex');
    renameSync(treePath, doomed);
    fsyncDir(ctx.layout.trees);
    removeTree(doomed);
  } finally {
    closeSync(fd);
  }
}

function checkTreeID(id: string): void {
  if (!isTreeStoreID(id)) throw userError('store.invalid-tree', `invalid tree store ID "${id}"`);
}

/** The result of {@link verifyTree}. */
export interface TreeVerification {
  treeStoreID: string;
  ok: boolean;
  /** the hash recorded at render time (undefined when the hash file is missing) */
  expected: string | undefined;
  actual: string;
}

/**
 * Recomputes the hash of a rendered tree and compares it with the recorded one; for a layered
 * tree, from the current content of its layer directories. Throws `store.not-found`.
 */
export async function verifyTree(ctx: StoreContext, id: string): Promise<TreeVerification> {
  checkTreeID(id);
  const treePath = ctx.layout.tree(id);
  return withLock(
    ctx.layout.treeLock(id),
    'sh',
    () => {
      if (!existsSync(treePath)) throw userError('store.not-found', `tree ${id} not found in the store`);
      const expected = readHash(treePath);
      const layers = treeLayerIDs(treePath);
      const hash = layers ? hashLayeredTree(ctx.layout, layers) : hashTree(treePath).hash;
      return { treeStoreID: id, ok: expected === hash, expected, actual: hash };
    },
    { create: !ctx.readOnly },
  );
}

/**
 * Removes a rendered tree (waiting for its lock). Returns false when it did not exist.
 * With `tryOnly`, returns false instead of waiting when the tree is in use.
 */
export async function removeTreeByID(ctx: StoreContext, id: string, opts: { tryOnly?: boolean } = {}): Promise<boolean> {
  assertWritable(ctx, 'remove a tree');
  checkTreeID(id);
  const lock = await FileLock.acquire(ctx.layout.treeLock(id), 'ex', { tryOnly: opts.tryOnly ?? false });
  if (!lock) return false;
  try {
    const treePath = ctx.layout.tree(id);
    if (!existsSync(treePath)) return false;
    const key = treeImage(treePath);
    const bytes = treeBytes(treePath);
    removeTreeDir(ctx, treePath);
    const row = key ? ctx.rows.image(key) : undefined;
    if (key && row) ctx.rows.setTreeStoreSize(key, Math.max(0, row.tree_store_size - bytes));
    return true;
  } finally {
    lock.release();
  }
}

/** IDs of the trees present (complete ones: a tree dir only appears when whole). */
export function listTreeIDs(ctx: StoreContext): string[] {
  try {
    return readdirSync(ctx.layout.trees).filter(isTreeStoreID).sort();
  } catch (e) {
    if (isENOENT(e)) return [];
    throw e;
  }
}
