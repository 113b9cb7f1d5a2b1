/**
 * Test helpers: ACIs built inline with tar-stream, compressors, temp dirs and a listing of a
 * directory tree to compare a store before and after an operation.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack as tarPack, type Header } from 'tar-stream';
import type { ExecutionContext } from 'ava';

export interface TEntry {
  /** archive path, written verbatim (e.g. `rootfs/bin/sh`, `../evil`) */
  path: string;
  type?: 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  /** symlink or hard link target, verbatim */
  target?: string;
  devmajor?: number;
  devminor?: number;
}

export interface ManifestOpts {
  labels?: Record<string, string>;
  dependencies?: unknown[];
  pathWhitelist?: string[];
  annotations?: Record<string, string>;
  app?: unknown;
}

/** An image manifest object. */
export function manifest(name: string, o: ManifestOpts = {}): Record<string, unknown> {
  const m: Record<string, unknown> = { acKind: 'ImageManifest', acVersion: '0.8.11', name };
  m.labels = Object.entries(o.labels ?? {}).map(([n, value]) => ({ name: n, value }));
  if (o.annotations) m.annotations = Object.entries(o.annotations).map(([n, value]) => ({ name: n, value }));
  if (o.dependencies) m.dependencies = o.dependencies;
  if (o.pathWhitelist) m.pathWhitelist = o.pathWhitelist;
  if (o.app) m.app = o.app;
  return m;
}

type HeaderArg = Partial<Header> & { name: string; type?: string };

const MTIME = new Date('2016-01-01T00:00:00Z');

/** Files as a map `path under rootfs -> content`, for the common case. */
export function files(tree: Record<string, string>): TEntry[] {
  const out: TEntry[] = [{ path: 'rootfs', type: 'dir' }];
  const dirs = new Set<string>();
  for (const p of Object.keys(tree)) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        out.push({ path: `rootfs/${d}`, type: 'dir' });
      }
    }
    out.push({ path: `rootfs/${p}`, content: tree[p] as string });
  }
  return out;
}

/**
 * An uncompressed ACI. `manifest` is written first unless null (left out) or a string
 * (written verbatim).
 */
export async function buildAci(m: Record<string, unknown> | string | null, entries: TEntry[]): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => {
      chunks.push(c as Buffer);
    });
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  const add = (h: HeaderArg, body?: Buffer) =>
    new Promise<void>((resolve, reject) => {
      pack.entry(h as Header, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
    });
  if (m !== null) {
    await add({ name: 'manifest', mode: 0o644, mtime: MTIME }, Buffer.from(typeof m === 'string' ? m : JSON.stringify(m)));
  }
  for (const e of entries) {
    const type = e.type ?? 'file';
    const h: HeaderArg = {
      name: e.path,
      mode: e.mode ?? (type === 'dir' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: MTIME,
      type: type === 'dir' ? 'directory' : type === 'char' ? 'character-device' : type === 'block' ? 'block-device' : type,
    };
    if (e.target !== undefined) h.linkname = e.target;
    if (e.devmajor !== undefined) h.devmajor = e.devmajor;
    if (e.devminor !== undefined) h.devminor = e.devminor;
    await add(h, type === 'file' ? Buffer.from(e.content ?? '') : undefined);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** The key the store must give an uncompressed ACI. */
export function keyOf(aci: Buffer): string {
  return `sha512-${createHash('sha512').update(aci).digest('hex')}`;
}

export const gzip = (b: Buffer): Buffer => gzipSync(b);
export const bzip2 = (b: Buffer): Buffer => execFileSync('bzip2', ['-c'], { input: b, maxBuffer: 1 << 30 });
export const xz = (b: Buffer): Buffer => execFileSync('xz', ['-c', '-T1'], { input: b, maxBuffer: 1 << 30 });

/** A temp dir removed after the test. */
export function tempDir(t: ExecutionContext, prefix = 'rkt-store-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Every path under `dir` with its type and (for files) size, sorted. */
export function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string, rel: string) => {
    for (const name of readdirSync(abs).sort()) {
      const p = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.push(`${r}/`);
        walk(p, r);
      } else out.push(st.isFile() ? `${r} ${st.size}` : `${r} (${st.mode.toString(8)})`);
    }
  };
  walk(dir, '');
  return out;
}
