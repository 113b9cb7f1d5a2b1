/**
 * Unpacking an image's tar into a directory as plain files (`rkt image extract`). The archive
 * was validated when it was imported; paths are still checked here so that nothing can land
 * outside the output directory.
 */
import { closeSync, constants, linkSync, lstatSync, openSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Header } from 'tar-stream';
import { userError } from '@rktnetes/errors';
import { applyMeta, applySymlinkMeta, ensureDirs, makeNode, type Meta } from './fsmeta';

type TarStream = typeof import('tar-stream');

export interface ExtractTarOptions {
  /** names the image in errors */
  what: string;
  /** write only the `rootfs/` part, with `rootfs/` removed from the paths */
  rootfsOnly: boolean;
}

/** An archive path made relative and clean; undefined for paths that escape or are empty. */
export function cleanArchivePath(name: string): string | undefined {
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') return undefined;
    parts.push(p);
  }
  return parts.length ? parts.join('/') : undefined;
}

/** Where an archive path goes in the output ('' is the output directory itself), or undefined to skip it. */
function target(path: string, rootfsOnly: boolean): string | undefined {
  if (!rootfsOnly) return path;
  if (path === 'rootfs') return '';
  return path.startsWith('rootfs/') ? path.slice('rootfs/'.length) : undefined;
}

/**
 * Writes every entry of the tar `chunks` below `dest` (which must exist). Later entries replace
 * earlier ones at the same path, as tar does. Directory metadata is applied last, deepest first.
 */
export async function extractTar(chunks: AsyncIterable<Buffer>, dest: string, opts: ExtractTarOptions): Promise<void> {
  const tar = (await import('tar-stream')) as TarStream & { default?: TarStream };
  const ex = (tar.default ?? tar).extract();
  const made = new Set<string>(['']);
  const dirs = new Map<string, Meta>();
  const bad = (name: string, why: string) => userError('image.corrupt', `${opts.what}: archive entry "${name}" ${why}`);

  const write = async (h: Header, body: AsyncIterable<Buffer>): Promise<void> => {
    const path = cleanArchivePath(h.name);
    if (path === undefined) throw bad(h.name, 'has an unsafe path');
    const rel = target(path, opts.rootfsOnly);
    if (rel === undefined) return;
    const meta: Meta = { mode: h.mode ?? 0o644, uid: h.uid ?? 0, gid: h.gid ?? 0, mtime: h.mtime ?? new Date(0) };
    if (h.type === 'directory') {
      ensureDirs(dest, rel, made, opts.what);
      dirs.set(rel, meta);
      return;
    }
    if (rel === '') throw bad(h.name, 'replaces the output directory');
    const slash = rel.lastIndexOf('/');
    ensureDirs(dest, slash > 0 ? rel.slice(0, slash) : '', made, opts.what);
    const abs = join(dest, rel);
    replaceExisting(abs, rel, made, dirs);
    switch (h.type) {
      case 'file':
      case 'contiguous-file': {
        const fd = openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          for await (const c of body) for (let off = 0; off < c.length; ) off += writeSync(fd, c, off);
        } finally {
          closeSync(fd);
        }
        applyMeta(abs, meta);
        return;
      }
      case 'symlink':
        symlinkSync(h.linkname ?? '', abs);
        applySymlinkMeta(abs, meta);
        return;
      case 'link': {
        const to = cleanArchivePath(h.linkname ?? '');
        const toRel = to === undefined ? undefined : target(to, opts.rootfsOnly);
        if (toRel === undefined || toRel === '') throw bad(h.name, `links to "${h.linkname}" outside the extracted tree`);
        linkSync(join(dest, toRel), abs);
        return;
      }
      case 'fifo':
      case 'character-device':
      case 'block-device':
        makeNode(abs, h.type === 'fifo' ? 'fifo' : h.type === 'character-device' ? 'char' : 'block', h.devmajor ?? 0, h.devminor ?? 0);
        applyMeta(abs, meta);
        return;
      default:
        throw bad(h.name, `has an unsupported type ${String(h.type)}`);
    }
  };

  const consumer = (async () => {
    for await (const entry of ex) {
      const body = entry as unknown as AsyncIterable<Buffer>;
      await write(entry.header, body);
      for await (const _ of body) {
        // drain what was not read
      }
    }
  })();
  const producer = (async () => {
    try {
      for await (const chunk of chunks) {
        if (ex.destroyed) break;
        if (!ex.write(chunk)) await writable(ex);
      }
      (ex as unknown as { end(): void }).end();
    } catch (e) {
      ex.destroy(e as Error);
      throw e;
    }
  })();
  const [c, p] = await Promise.allSettled([consumer, producer]);
  if (p.status === 'rejected') throw p.reason;
  if (c.status === 'rejected') throw c.reason;

  for (const rel of [...dirs.keys()].sort((a, b) => b.split('/').length - a.split('/').length)) {
    applyMeta(join(dest, rel), dirs.get(rel) as Meta);
  }
}

/** Resolves when `ex` can take more data or has been closed (after a failure of the consumer). */
function writable(ex: { once(ev: string, fn: () => void): unknown; off(ev: string, fn: () => void): unknown }): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      ex.off('drain', done);
      ex.off('close', done);
      resolve();
    };
    ex.once('drain', done);
    ex.once('close', done);
  });
}

/** Removes what an earlier entry put at `abs` (tar semantics: the later entry wins). */
function replaceExisting(abs: string, rel: string, made: Set<string>, dirs: Map<string, Meta>): void {
  let isDir: boolean;
  try {
    isDir = lstatSync(abs).isDirectory();
  } catch {
    return;
  }
  rmSync(abs, { recursive: true, force: true });
  if (isDir) {
    for (const d of [...made]) if (d === rel || d.startsWith(`${rel}/`)) made.delete(d);
    for (const d of [...dirs.keys()]) if (d === rel || d.startsWith(`${rel}/`)) dirs.delete(d);
  }
}
