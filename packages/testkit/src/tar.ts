/**
 * Inline file trees and the deterministic tar writer/reader behind every image builder.
 *
 * A {@link FileTree} describes files by path; {@link treeToEntries} turns it into ordered tar
 * entries (creating missing parent directories), {@link buildTar} writes them with tar-stream, and
 * {@link readTar} reads any (optionally compressed) tar back for assertions.
 */
import { extract as tarExtract, pack as tarPack, type Header } from 'tar-stream';
import { internalError, userError } from '@rktnetes/errors';
import { decompress } from './compress';

/** The mtime of every entry unless one is given, so that archives and their hashes are stable. */
export const FIXED_MTIME = new Date('2016-01-01T00:00:00Z');

/** Attributes every node may override; defaults are uid/gid 0 and {@link FIXED_MTIME}. */
export interface NodeAttrs {
  /** permission bits (without the file type); default 0o644 for files, 0o755 for directories */
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  mtime?: Date;
  /** extended attributes, written as PAX `SCHILY.xattr.<name>` records */
  xattrs?: Record<string, string>;
}

/** A regular file. */
export interface FileNode extends NodeAttrs {
  type: 'file';
  content?: Buffer | string;
}
/** A directory (its children are other keys of the tree). */
export interface DirNode extends NodeAttrs {
  type: 'dir';
}
/** A symbolic link; `target` is written verbatim (relative or absolute). */
export interface SymlinkNode extends NodeAttrs {
  type: 'symlink';
  target: string;
}
/** A hard link to another path of the same tree (tree-relative, e.g. `bin/busybox`). */
export interface HardlinkNode extends NodeAttrs {
  type: 'hardlink';
  target: string;
}
/** A character or block device node. */
export interface DeviceNode extends NodeAttrs {
  type: 'char' | 'block';
  major: number;
  minor: number;
}
/** A named pipe. */
export interface FifoNode extends NodeAttrs {
  type: 'fifo';
}
/** An OCI layer whiteout: the key `a/b` is written as the empty file `a/.wh.b`. */
export interface WhiteoutNode {
  type: 'whiteout';
}
/** An OCI opaque-directory marker: the key `a/` is written as `a/.wh..wh..opq`. */
export interface OpaqueNode {
  type: 'opaque';
}

/** One node of a {@link FileTree}; a bare string or Buffer is shorthand for a 0644 file. */
export type TreeNode =
  | FileNode
  | DirNode
  | SymlinkNode
  | HardlinkNode
  | DeviceNode
  | FifoNode
  | WhiteoutNode
  | OpaqueNode
  | string
  | Buffer;

/**
 * An inline description of a directory tree: keys are relative paths (a trailing `/` is allowed
 * on directories, a leading `/` is ignored), values describe the node. Entries are written in
 * key order after their parent directories.
 */
export type FileTree = Record<string, TreeNode>;

/** The tar entry types tar-stream can write. */
export type TarEntryType = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';

/**
 * One tar entry exactly as written: `name` and `linkname` are not normalised, so hostile archives
 * (`../evil`, `/etc/passwd`, symlinks pointing out, duplicates) can be expressed.
 */
export interface RawTarEntry {
  name: string;
  /** default 'file' */
  type?: TarEntryType;
  content?: Buffer | string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
  /** extra PAX records, e.g. `{ 'SCHILY.xattr.user.x': 'y' }` */
  pax?: Record<string, string>;
}

/** Options of {@link treeToEntries}. */
export interface TreeToEntriesOptions {
  /** prepended to every entry name and hard link target, e.g. `rootfs/` (default none) */
  prefix?: string;
  /** also write an entry for the prefix directory itself (default false) */
  prefixEntry?: boolean;
}

/** Normalises a tree key: no leading `/`, no trailing `/`, no empty or `.` segments. */
export function normalizeTreePath(key: string): string {
  return key
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

function asNode(v: TreeNode): Exclude<TreeNode, string | Buffer> {
  return typeof v === 'string' || Buffer.isBuffer(v) ? { type: 'file', content: v } : v;
}

function attrs(n: NodeAttrs, defaultMode: number): Partial<RawTarEntry> {
  const pax: Record<string, string> = {};
  for (const [k, v] of Object.entries(n.xattrs ?? {})) pax[`SCHILY.xattr.${k}`] = v;
  return {
    mode: n.mode ?? defaultMode,
    uid: n.uid ?? 0,
    gid: n.gid ?? 0,
    ...(n.uname === undefined ? {} : { uname: n.uname }),
    ...(n.gname === undefined ? {} : { gname: n.gname }),
    mtime: n.mtime ?? FIXED_MTIME,
    ...(Object.keys(pax).length ? { pax } : {}),
  };
}

/**
 * Turns a {@link FileTree} into ordered tar entries. Every entry follows its parent: a parent the
 * tree declares is written first as declared (even a symlink, which makes "file below a symlinked
 * directory" trees possible), a missing one is created as a 0755 directory. No path is written
 * twice.
 *
 * @throws RktError `testkit.tree-invalid` for an empty key or a node of unknown type
 */
export function treeToEntries(tree: FileTree, opts: TreeToEntriesOptions = {}): RawTarEntry[] {
  const prefix = opts.prefix ?? '';
  const nodes = new Map<string, Exclude<TreeNode, string | Buffer>>();
  for (const [key, value] of Object.entries(tree)) {
    const path = normalizeTreePath(key);
    if (!path) throw userError('testkit.tree-invalid', `file tree key ${JSON.stringify(key)} names no path`);
    nodes.set(path, asNode(value));
  }
  const out: RawTarEntry[] = [];
  const written = new Set<string>();
  if (opts.prefixEntry && prefix) {
    out.push({ name: prefix.endsWith('/') ? prefix : `${prefix}/`, type: 'directory', ...attrs({}, 0o755) });
  }

  const emit = (path: string, node: Exclude<TreeNode, string | Buffer>): void => {
    if (written.has(path)) return;
    const slash = path.lastIndexOf('/');
    if (slash > 0) {
      const parent = path.slice(0, slash);
      // a declared parent is written as declared, even a symlink: hostile trees rely on that
      emit(parent, nodes.get(parent) ?? { type: 'dir' });
    }
    written.add(path);
    out.push(...nodeEntries(prefix, path, node));
  };
  for (const [path, node] of nodes) emit(path, node);
  return out;
}

function nodeEntries(prefix: string, path: string, node: Exclude<TreeNode, string | Buffer>): RawTarEntry[] {
  const name = prefix + path;
  switch (node.type) {
    case 'file':
      return [{ name, type: 'file', content: node.content ?? '', ...attrs(node, 0o644) }];
    case 'dir':
      return [{ name: `${name}/`, type: 'directory', ...attrs(node, 0o755) }];
    case 'symlink':
      return [{ name, type: 'symlink', linkname: node.target, ...attrs(node, 0o777) }];
    case 'hardlink':
      return [{ name, type: 'link', linkname: prefix + normalizeTreePath(node.target), ...attrs(node, 0o644) }];
    case 'char':
    case 'block':
      return [
        {
          name,
          type: node.type === 'char' ? 'character-device' : 'block-device',
          devmajor: node.major,
          devminor: node.minor,
          ...attrs(node, 0o666),
        },
      ];
    case 'fifo':
      return [{ name, type: 'fifo', ...attrs(node, 0o644) }];
    case 'whiteout': {
      const slash = path.lastIndexOf('/');
      const wh = slash < 0 ? `.wh.${path}` : `${path.slice(0, slash)}/.wh.${path.slice(slash + 1)}`;
      return [{ name: prefix + wh, type: 'file', content: '', ...attrs({}, 0o644) }];
    }
    case 'opaque':
      return [
        { name: `${name}/`, type: 'directory', ...attrs({}, 0o755) },
        { name: `${name}/.wh..wh..opq`, type: 'file', content: '', ...attrs({}, 0o644) },
      ];
    default:
      throw userError('testkit.tree-invalid', `file tree node ${path} has unknown type ${(node as { type: unknown }).type}`);
  }
}

/**
 * Writes `entries` as a tar archive (ustar, PAX records for long names and xattrs). Defaults:
 * uid/gid 0, {@link FIXED_MTIME}, mode 0644 (files) or 0755 (directories). Mode 0 is kept as 0.
 */
export async function buildTar(entries: readonly RawTarEntry[]): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
  })();
  try {
    for (const e of entries) {
      const type = e.type ?? 'file';
      const content = e.content === undefined ? undefined : Buffer.from(e.content);
      const defaultMode = type === 'directory' ? 0o755 : 0o644;
      const mode = e.mode ?? defaultMode;
      const header: Partial<Header> & { name: string } = {
        name: e.name,
        type,
        // tar-stream replaces a falsy mode by its default; S_IFMT bits are masked off when encoding
        mode: mode === 0 ? 0o170000 : mode,
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        mtime: e.mtime ?? FIXED_MTIME,
        ...(e.linkname === undefined ? {} : { linkname: e.linkname }),
        ...(e.uname === undefined ? {} : { uname: e.uname }),
        ...(e.gname === undefined ? {} : { gname: e.gname }),
        ...(e.devmajor === undefined ? {} : { devmajor: e.devmajor }),
        ...(e.devminor === undefined ? {} : { devminor: e.devminor }),
        ...(e.pax ? { pax: e.pax } : {}),
      };
      await new Promise<void>((resolve, reject) => {
        const cb = (err?: Error | null) => (err ? reject(err) : resolve());
        if (type === 'file') pack.entry(header, content ?? Buffer.alloc(0), cb);
        else pack.entry(header, cb).end(null);
      });
    }
    pack.finalize();
    await collected;
  } catch (e) {
    pack.destroy();
    await collected.catch(() => undefined);
    throw internalError('testkit.tar-write', 'cannot write test tar archive', { cause: e });
  }
  return Buffer.concat(chunks);
}

/** One entry read back by {@link readTar}. */
export interface TarEntryInfo {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** PAX records of the entry, if any */
  pax?: Record<string, string>;
  content: Buffer;
}

/**
 * Reads a tar archive (gzip, bzip2, xz or zstd compressed, or plain) into memory.
 *
 * @throws RktError `testkit.tar-read` when the archive is corrupt or truncated
 */
export async function readTar(archive: Buffer): Promise<TarEntryInfo[]> {
  const plain = decompress(archive);
  const extract = tarExtract();
  const out: TarEntryInfo[] = [];
  try {
    extract.end(plain);
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(Buffer.from(c as Uint8Array));
      const h = entry.header;
      out.push({
        name: h.name,
        type: h.type ?? 'file',
        mode: h.mode ?? 0,
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
        size: h.size ?? 0,
        mtime: h.mtime ?? new Date(0),
        ...(h.linkname ? { linkname: h.linkname } : {}),
        ...(h.type === 'character-device' || h.type === 'block-device'
          ? { devmajor: h.devmajor ?? 0, devminor: h.devminor ?? 0 }
          : {}),
        ...(h.pax ? { pax: h.pax as Record<string, string> } : {}),
        content: Buffer.concat(chunks),
      });
    }
  } catch (e) {
    throw userError('testkit.tar-read', 'cannot read tar archive', { cause: e });
  }
  return out;
}

/** The entry names of a tar archive, in order (a convenience over {@link readTar}). */
export async function listTar(archive: Buffer): Promise<string[]> {
  return (await readTar(archive)).map((e) => e.name);
}
