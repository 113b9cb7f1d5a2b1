/**
 * Tar entries of an ACI and the safety model applied both when an image is imported and when
 * images are rendered on top of each other.
 *
 * The model keeps one node per path (relative to the archive root, e.g. `rootfs/usr/bin`)
 * and enforces, for every entry:
 * - no absolute names and no `..` components;
 * - only `manifest` (a regular file) and `rootfs` (a directory) at the top level;
 * - nothing is ever written below a symlink or another non-directory (within one image that is
 *   an error; below a path an upper image already provides as non-directory it is skipped);
 * - hard links name an earlier non-directory entry under rootfs, not through a symlink;
 * - symlink targets, resolved like the kernel would inside rootfs (absolute targets from the
 *   rootfs root, following the other symlinks of the tree), never climb above rootfs. This is
 *   checked once all entries are known ({@link TreeModel.checkSymlinks}), so a symlink added
 *   later cannot turn an earlier one into an escape;
 * - device nodes only when allowed.
 */
import type { Header } from 'tar-stream';
import { userError, type RktError } from '@rktnetes/errors';

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'char' | 'block';

/** A tar entry with its name normalized (`./rootfs//a/` -> `rootfs/a`). */
export interface Entry {
  path: string;
  type: EntryType;
  /** permission bits including setuid/setgid/sticky */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  /** normalized archive path for hard links, the raw target for symlinks */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

const TYPE_MAP: Record<string, EntryType | undefined> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'dir',
  symlink: 'symlink',
  link: 'hardlink',
  fifo: 'fifo',
  'character-device': 'char',
  'block-device': 'block',
};

/** An `image.unsafe-path` error naming the image and the entry. */
export function unsafe(what: string, path: string, reason: string): RktError {
  return userError('image.unsafe-path', `image ${what}: entry "${path}" ${reason}`, { details: { image: what, entry: path } });
}

/** An `image.invalid` error naming the image. */
export function invalid(what: string, reason: string, cause?: unknown): RktError {
  return userError('image.invalid', `image ${what}: ${reason}`, { cause, details: { image: what } });
}

/** An `image.corrupt` error naming the image. */
export function corrupt(what: string, reason: string, cause?: unknown): RktError {
  return userError('image.corrupt', `image ${what}: ${reason}`, { cause, details: { image: what } });
}

/**
 * Normalizes an archive name: drops `.` and empty components and a trailing slash. Returns
 * undefined for the archive root itself (`./`). Throws `image.unsafe-path` for absolute names
 * and names with `..`.
 */
export function normalizeName(what: string, raw: string): string | undefined {
  if (raw.startsWith('/')) throw unsafe(what, raw, 'has an absolute path');
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw unsafe(what, raw, 'has a ".." component');
  if (parts.some((p) => p.includes('\0'))) throw unsafe(what, raw, 'has a NUL byte');
  return parts.length ? parts.join('/') : undefined;
}

/**
 * Turns a tar-stream header into an {@link Entry}, or undefined for entries without effect
 * (the archive root, PAX global headers). Validates the name and the top-level layout.
 */
export function entryFromHeader(what: string, h: Header): Entry | undefined {
  const rawType = h.type as string | null;
  if (rawType === 'pax-global-header') return undefined;
  const type = rawType ? TYPE_MAP[rawType] : undefined;
  if (!type) throw invalid(what, `entry "${h.name}" has unsupported type ${rawType ?? 'unknown'}`);
  const path = normalizeName(what, h.name);
  if (path === undefined) {
    if (type !== 'dir') throw invalid(what, `entry "${h.name}" names the archive root but is not a directory`);
    return undefined;
  }
  const top = path.split('/', 1)[0];
  if (top === 'manifest') {
    if (path !== 'manifest' || type !== 'file') throw invalid(what, `entry "${h.name}": manifest must be a regular file`);
  } else if (top === 'rootfs') {
    if (path === 'rootfs' && type !== 'dir') throw invalid(what, 'rootfs must be a directory');
  } else {
    throw invalid(what, `entry "${h.name}" is outside rootfs (an ACI holds only manifest and rootfs)`);
  }
  const e: Entry = {
    path,
    type,
    mode: (h.mode ?? 0o644) & 0o7777,
    uid: h.uid ?? 0,
    gid: h.gid ?? 0,
    size: type === 'file' ? h.size ?? 0 : 0,
    mtime: h.mtime instanceof Date ? h.mtime : new Date(0),
  };
  if (type === 'hardlink') {
    const target = normalizeName(what, h.linkname ?? '');
    if (target === undefined || (target !== 'rootfs' && !target.startsWith('rootfs/'))) {
      throw unsafe(what, path, `is a hard link to "${h.linkname}" outside rootfs`);
    }
    e.linkname = target;
  } else if (type === 'symlink') {
    if (!h.linkname) throw invalid(what, `symlink "${path}" has an empty target`);
    if (h.linkname.includes('\0')) throw unsafe(what, path, 'has a NUL byte in its target');
    e.linkname = h.linkname;
  } else if (type === 'char' || type === 'block') {
    e.devmajor = h.devmajor ?? 0;
    e.devminor = h.devminor ?? 0;
  }
  return e;
}

interface Node {
  /** 'implicit' is a directory only created because something lives below it */
  type: EntryType | 'implicit';
  layer: number;
  linkname?: string;
}

/** What to do with an entry in a render. */
export type Decision =
  /** create it (nothing there yet) */
  | 'create'
  /** it is a directory that already exists: apply its metadata */
  | 'update-dir'
  /** replace the regular file this image wrote earlier under the same name */
  | 'replace'
  /** leave it out: an upper image provides this path or a non-directory above it */
  | 'skip';

const MAX_SYMLINK_HOPS = 40;

export interface TreeModelOptions {
  /** accept character and block devices (default false) */
  allowDevices?: boolean;
  /**
   * rendering (true) rather than validating an import: a hard link whose target was left out
   * (by a path whitelist or an upper image) is skipped instead of rejected
   */
  render?: boolean;
}

/** The paths of one image (import) or of a stack of images (render), upper layers first. */
export class TreeModel {
  private readonly nodes = new Map<string, Node>();

  constructor(
    private readonly what: string,
    private readonly opts: TreeModelOptions = {},
  ) {}

  /**
   * Adds an entry of layer `layer` (0 = top image; layers are added in increasing order).
   * Throws `image.unsafe-path` / `image.invalid` when the entry breaks the model within its own
   * image; returns 'skip' when an upper layer shadows it.
   */
  add(e: Entry, layer: number, what = this.what): Decision {
    if ((e.type === 'char' || e.type === 'block') && !this.opts.allowDevices) {
      throw invalid(what, `entry "${e.path}" is a device node, which is not allowed`);
    }
    const parts = e.path.split('/');
    let prefix = '';
    for (let i = 0; i < parts.length - 1; i++) {
      prefix = i === 0 ? (parts[0] as string) : `${prefix}/${parts[i]}`;
      const n = this.nodes.get(prefix);
      if (!n || n.type === 'dir' || n.type === 'implicit') continue;
      if (n.layer < layer) return 'skip';
      if (n.type === 'symlink') throw unsafe(what, e.path, `is below the symlink "${prefix}"`);
      throw invalid(what, `entry "${e.path}" is below the non-directory "${prefix}"`);
    }
    let decision: Decision = 'create';
    const existing = this.nodes.get(e.path);
    if (existing) {
      const existingDir = existing.type === 'dir' || existing.type === 'implicit';
      if (existing.layer < layer) {
        if (existing.type !== 'implicit' || e.type !== 'dir') return 'skip';
        decision = 'update-dir';
      } else if (existingDir && e.type === 'dir') {
        decision = 'update-dir';
      } else if (existing.type === 'file' && (e.type === 'file' || e.type === 'hardlink')) {
        decision = 'replace';
      } else if (existing.type === 'hardlink' && (e.type === 'file' || e.type === 'hardlink')) {
        decision = 'replace';
      } else {
        throw invalid(what, `entry "${e.path}" (${e.type}) conflicts with an earlier ${existing.type === 'implicit' ? 'directory' : existing.type} of the same name`);
      }
    }
    if (e.type === 'hardlink') {
      const target = e.linkname as string;
      if (target === e.path) throw invalid(what, `hard link "${e.path}" points to itself`);
      const tparts = target.split('/');
      let tp = '';
      for (let i = 0; i < tparts.length - 1; i++) {
        tp = i === 0 ? (tparts[0] as string) : `${tp}/${tparts[i]}`;
        const n = this.nodes.get(tp);
        if (n && n.type !== 'dir' && n.type !== 'implicit') {
          if (n.layer < layer) return 'skip';
          throw unsafe(what, e.path, `is a hard link through the non-directory "${tp}"`);
        }
      }
      const t = this.nodes.get(target);
      if (!t || t.type === 'dir' || t.type === 'implicit') {
        if (this.opts.render) return 'skip';
        throw invalid(what, `hard link "${e.path}" points to "${target}", which is not an earlier file of the image`);
      }
    }
    prefix = '';
    for (let i = 0; i < parts.length - 1; i++) {
      prefix = i === 0 ? (parts[0] as string) : `${prefix}/${parts[i]}`;
      if (!this.nodes.has(prefix)) this.nodes.set(prefix, { type: 'implicit', layer });
    }
    const node: Node = { type: e.type, layer };
    if (e.type === 'symlink' || e.type === 'hardlink') node.linkname = e.linkname as string;
    if (existing && decision === 'update-dir' && existing.type === 'dir' && existing.layer === layer) return decision;
    this.nodes.set(e.path, node);
    return decision;
  }

  /**
   * Resolves every symlink of the tree like the kernel would with rootfs as `/` and throws
   * `image.unsafe-path` for the first one whose target climbs above rootfs.
   */
  checkSymlinks(): void {
    for (const [path, n] of this.nodes) {
      if (n.type !== 'symlink' || !path.startsWith('rootfs/')) continue;
      const dir = path.split('/').slice(1, -1);
      if (this.escapes(dir, n.linkname as string)) {
        throw unsafe(this.what, path, `is a symlink to "${n.linkname}", which resolves outside rootfs`);
      }
    }
  }

  private escapes(startDir: string[], target: string): boolean {
    let stack = target.startsWith('/') ? [] : [...startDir];
    let queue = target.split('/').filter((c) => c !== '' && c !== '.');
    let hops = 0;
    while (queue.length) {
      const c = queue.shift() as string;
      if (c === '..') {
        if (stack.length === 0) return true;
        stack.pop();
        continue;
      }
      stack.push(c);
      const n = this.nodes.get(`rootfs/${stack.join('/')}`);
      if (!n) continue;
      if (n.type === 'symlink') {
        // a loop fails with ELOOP at run time: harmless
        if (++hops > MAX_SYMLINK_HOPS) return false;
        stack.pop();
        const t = n.linkname as string;
        if (t.startsWith('/')) stack = [];
        queue = [...t.split('/').filter((x) => x !== '' && x !== '.'), ...queue];
      } else if (n.type !== 'dir' && n.type !== 'implicit' && queue.length) {
        // a non-directory in the middle: resolution fails with ENOTDIR
        return false;
      }
    }
    return false;
  }
}
