/**
 * Layers of layered images: each is streamed once (compressed digest verified, decompressed,
 * diff ID verified) and extracted into its own directory `cas/layer/<hex>`, with OCI whiteouts
 * turned into their overlayfs form, so that an image's root filesystem is an overlay of its
 * layer directories. Layers are shared by every image that lists them.
 */
import { closeSync, constants, existsSync, mkdirSync, openSync, renameSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Header } from 'tar-stream';
import { isRktError, systemError, userError } from '@rktnetes/errors';
import { uncompressed } from '../archive';
import { assertWritable, type StoreContext } from '../context';
import { corrupt, entryFromHeader, normalizeName, TreeModel, type Entry } from '../entries';
import { fsyncDir, isENOENT, mkdirp, removeTree, syncFilesystem, tempName } from '../fsutil';
import { lockFd, withLock } from '../lock';
import { Extractor } from '../render';
import type { LayerInfo } from '../rows';
import { scanTar } from '../tarscan';
import { lsetxattr, OVERLAY_OPAQUE_XATTR } from '../xattr';
import { hashLayerDir } from './layer-hash';
import { isSha256Digest } from './media';

/** Where the bytes of one layer come from. */
export interface LayerSource {
  /** digest of the blob as {@link open} yields it; verified while reading when given */
  digest?: string;
  /** the announced media type (for messages: the compression is recognised from the bytes) */
  mediaType?: string;
  /** the blob's size in bytes; verified when given */
  size?: number;
  /** opens the blob (gzip, zstd or plain tar); called only when the layer is not stored yet */
  open(): Promise<AsyncIterable<Uint8Array>> | AsyncIterable<Uint8Array>;
}

/** The outcome of {@link ensureLayer}. */
export interface EnsuredLayer {
  layer: LayerInfo;
  /** false when the layer was already in the store (nothing was read) */
  transferred: boolean;
  /** bytes read from the source */
  bytes: number;
}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
const ROOT = 'rootfs';

/** Whether the layer `diffID` is complete in the store (row and directory). */
export function hasLayer(ctx: StoreContext, diffID: string): boolean {
  return ctx.rows.layer(diffID) !== undefined && existsSync(ctx.layout.layer(diffID));
}

/**
 * Maps a layer tar header to a store entry below `rootfs/` (so the ACI entry model and
 * extractor apply unchanged), or undefined for the layer root. Names with `..` components or
 * absolute names are refused as in ACIs.
 */
function layerEntry(what: string, h: Header): Entry | undefined {
  const name = normalizeName(what, h.name);
  if (name === undefined) return undefined;
  if (h.type !== 'link') return entryFromHeader(what, { ...h, name: `${ROOT}/${name}` });
  const target = normalizeName(what, h.linkname ?? '');
  if (target === undefined) throw userError('image.unsafe-path', `image ${what}: entry "${name}" is a hard link to the layer root`);
  return entryFromHeader(what, { ...h, name: `${ROOT}/${name}`, linkname: `${ROOT}/${target}` });
}

/** Hashes a file entry's data on its way to the extractor. */
async function* hashing(body: AsyncIterable<Buffer>, done: (hex: string) => void): AsyncGenerator<Buffer> {
  const h = createHash('sha256');
  for await (const c of body) {
    h.update(c);
    yield c;
  }
  done(h.digest('hex'));
}

/**
 * Extracts one layer tar stream into `<dir>/rootfs`. Returns the tar size, the opaque
 * directories and the sha256 of each regular file written (by path below rootfs), so the
 * layer's content hash needs no second read of the files.
 */
async function extractLayer(
  chunks: AsyncIterable<Buffer>,
  dir: string,
  what: string,
  tap: (c: Buffer) => void,
): Promise<{ size: number; opaque: string[]; contents: Map<string, string> }> {
  const model = new TreeModel(what, { allowDevices: true });
  const ex = new Extractor(dir);
  const opaque = new Set<string>();
  const contents = new Map<string, string>();
  mkdirSync(join(dir, ROOT), 0o755);
  const { size } = await scanTar(chunks, {
    what,
    tap,
    async onEntry(header, body) {
      const e = layerEntry(what, header);
      if (!e) return;
      const slash = e.path.lastIndexOf('/');
      const parent = e.path.slice(0, slash);
      const base = e.path.slice(slash + 1);
      if (base.startsWith(WHITEOUT_PREFIX)) {
        if (base === OPAQUE_MARKER) {
          if (parent !== ROOT && model.add({ ...e, path: parent, type: 'dir', mode: 0o755, size: 0 }, 0) === 'create') {
            await ex.write({ ...e, path: parent, type: 'dir', mode: 0o755, size: 0 }, false, body);
          }
          opaque.add(parent);
          return;
        }
        // other `.wh..wh.` names are aufs bookkeeping, not content
        if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return;
        const hidden = base.slice(WHITEOUT_PREFIX.length);
        if (hidden === '' || hidden === '.' || hidden === '..') {
          throw userError('image.unsafe-path', `image ${what}: entry "${e.path.slice(ROOT.length + 1)}" is a whiteout of "${hidden}"`);
        }
        const w: Entry = { ...e, path: `${parent}/${hidden}`, type: 'char', mode: 0, size: 0, devmajor: 0, devminor: 0 };
        const d = model.add(w, 0);
        if (d !== 'skip') await ex.write(w, d === 'replace', body);
        return;
      }
      // device nodes are never extracted from layers (stage1 provides /dev); 0:0 would be a whiteout
      if (e.type === 'char' || e.type === 'block') return;
      const d = model.add(e, 0);
      if (d === 'skip') return;
      const rel = e.path.slice(ROOT.length + 1);
      if (e.type === 'file') await ex.write(e, d === 'replace', hashing(body, (hex) => contents.set(rel, hex)));
      else {
        // a hard link has its target's content (as it is now: a later replacement of the target makes a new inode)
        const target = e.type === 'hardlink' ? contents.get((e.linkname as string).slice(ROOT.length + 1)) : undefined;
        if (target) contents.set(rel, target);
        else contents.delete(rel);
        await ex.write(e, d === 'replace', body);
      }
    },
  });
  model.checkSymlinks();
  ex.finishDirs();
  for (const p of opaque) lsetxattr(join(dir, p), OVERLAY_OPAQUE_XATTR, 'y');
  return { size, opaque: [...opaque], contents };
}

async function* counted(src: AsyncIterable<Uint8Array>, onChunk: (c: Buffer) => void): AsyncGenerator<Buffer> {
  for await (const c of src) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    onChunk(b);
    yield b;
  }
}

/**
 * Makes sure the layer `diffID` is in the store, reading `src` only when it is not: the blob
 * is checked against `src.digest`/`src.size`, decompressed, checked against `diffID`, and
 * extracted (whiteouts as 0:0 character devices, opaque directories with the
 * `trusted.overlay.opaque` xattr) into a temp dir that is renamed to `cas/layer/<hex>` when
 * complete; then the layer row is added. The caller holds the store lock shared.
 *
 * Throws `image.corrupt` (digest, size or diff ID mismatch, bad compression or tar),
 * `image.unsafe-path` / `image.invalid` (as for ACIs, within the layer).
 */
export async function ensureLayer(ctx: StoreContext, diffID: string, src: LayerSource, what: string): Promise<EnsuredLayer> {
  assertWritable(ctx, 'import a layer');
  if (!isSha256Digest(diffID)) throw userError('image.invalid', `image ${what}: diff ID ${JSON.stringify(diffID)} is not a sha256 digest`);
  const existing = ctx.rows.layer(diffID);
  if (existing && existsSync(ctx.layout.layer(diffID))) return { layer: existing, transferred: false, bytes: 0 };
  const layerWhat = `${what} layer ${src.digest ?? diffID}`;
  return withLock(ctx.layout.layerLock(diffID), 'ex', async () => {
    const row = ctx.rows.layer(diffID);
    const target = ctx.layout.layer(diffID);
    if (row && existsSync(target)) return { layer: row, transferred: false, bytes: 0 };
    // a directory without a row is left from a crash between rename and insert: redo it
    if (existsSync(target)) removeTree(target);
    mkdirp(ctx.layout.tmp, 0o700);
    mkdirp(ctx.layout.layers);
    const tmp = join(ctx.layout.tmp, tempName('layer'));
    mkdirSync(tmp, 0o700);
    const dfd = openSync(tmp, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await lockFd(dfd, 'ex');
      const blobHash = createHash(src.digest?.startsWith('sha512:') ? 'sha512' : 'sha256');
      const diffHash = createHash('sha256');
      let bytes = 0;
      const raw = counted(await src.open(), (c) => {
        bytes += c.length;
        blobHash.update(c);
      });
      let size: number;
      let contents: Map<string, string>;
      try {
        ({ size, contents } = await extractLayer(uncompressed(raw, layerWhat), tmp, layerWhat, (c) => diffHash.update(c)));
      } catch (e) {
        // a truncated or altered blob shows first as a broken stream: report what it is
        if (isRktError(e) && e.code === 'image.corrupt' && src.digest && `${src.digest.split(':')[0]}:${blobHash.copy().digest('hex')}` !== src.digest) {
          throw corrupt(layerWhat, `${e.message.replace(/^image [^:]*: /, '')} (the blob does not match its digest)`, e);
        }
        throw e;
      }
      const blobDigest = `${src.digest?.startsWith('sha512:') ? 'sha512' : 'sha256'}:${blobHash.digest('hex')}`;
      if (src.digest && blobDigest !== src.digest) throw corrupt(layerWhat, `blob has digest ${blobDigest}, expected ${src.digest}`);
      if (src.size !== undefined && bytes !== src.size) throw corrupt(layerWhat, `blob has ${bytes} bytes, expected ${src.size}`);
      const actual = `sha256:${diffHash.digest('hex')}`;
      if (actual !== diffID) throw corrupt(layerWhat, `uncompressed content has digest ${actual}, expected diff ID ${diffID}`);
      const rootfs = join(tmp, ROOT);
      const hash = hashLayerDir(rootfs, contents);
      await syncFilesystem(tmp);
      renameSync(rootfs, target);
      fsyncDir(ctx.layout.layers);
      const layer: LayerInfo = { diffID, size, hash, importTime: new Date() };
      ctx.rows.write('add layer', () => ctx.rows.insertLayer(layer));
      ctx.debug(`layer ${diffID}: ${bytes} bytes read, ${size} bytes uncompressed`);
      return { layer: ctx.rows.layer(diffID) ?? layer, transferred: true, bytes };
    } catch (e) {
      if (isRktError(e)) throw e;
      throw systemError('store.io', `cannot store ${layerWhat}`, { cause: e });
    } finally {
      closeSync(dfd);
      removeTree(tmp);
    }
  });
}

/**
 * Removes a layer: its row first, then its directory (renamed into `tmp/` first, so it vanishes
 * at once). Only gc calls this, holding the store lock exclusively, for layers nothing uses.
 */
export function removeLayer(ctx: StoreContext, diffID: string): void {
  ctx.rows.write('remove layer', () => ctx.rows.deleteLayer(diffID));
  const dir = ctx.layout.layer(diffID);
  const doomed = join(ctx.layout.tmp, tempName('remove'));
  try {
    mkdirp(ctx.layout.tmp, 0o700);
    renameSync(dir, doomed);
    fsyncDir(ctx.layout.layers);
  } catch (e) {
    if (isENOENT(e)) return;
    throw e;
  }
  removeTree(doomed);
}
