/**
 * Before/after pictures of what a fault must not change: a directory tree (types, modes,
 * owners, sizes and content hashes, never crossing a mount point), the store's listing and its
 * integrity check.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isRktError } from '@rktnetes/errors';
import { openStore, type FsckReport } from '@rktnetes/store';
import { mountPoints } from '@rktnetes/testkit';

/** One line per path, keyed by the path relative to the snapshot root. */
export type TreeSnapshot = Map<string, string>;

export interface SnapshotOptions {
  /** paths (relative, `/`-separated) to leave out, with everything below them */
  skip?: (rel: string) => boolean;
  /** hash the content of regular files up to this size (default 1 MiB); larger ones by size only */
  hashLimit?: number;
}

/**
 * Walks `dir` without following symlinks or entering mount points. Directory times are left
 * out (creating and removing a temp file changes them); everything else that a write would
 * change is in: type, mode, owner, size, content hash, link target.
 */
export function treeSnapshot(dir: string, opts: SnapshotOptions = {}): TreeSnapshot {
  const mounts = new Set(mountPoints());
  const limit = opts.hashLimit ?? 1 << 20;
  const out: TreeSnapshot = new Map();
  const walk = (abs: string): void => {
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch {
      return; // removed meanwhile
    }
    for (const name of names.sort()) {
      const p = join(abs, name);
      const rel = relative(dir, p);
      if (opts.skip?.(rel)) continue;
      let st;
      try {
        st = lstatSync(p);
      } catch {
        continue;
      }
      const own = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out.set(rel, `dir ${own}${mounts.has(p) ? ' mountpoint' : ''}`);
        if (!mounts.has(p)) walk(p);
      } else if (st.isSymbolicLink()) {
        out.set(rel, `symlink ${own} -> ${readlinkSync(p)}`);
      } else if (st.isFile()) {
        let digest = '';
        if (st.size <= limit) {
          try {
            digest = ` ${createHash('sha1').update(readFileSync(p)).digest('hex')}`;
          } catch {
            digest = ' unreadable';
          }
        }
        out.set(rel, `file ${own} ${st.size}${digest}`);
      } else {
        out.set(rel, `special ${own} ${st.rdev}`);
      }
    }
  };
  walk(dir);
  return out;
}

/** What changed from `a` to `b`: `+ path`, `- path`, `~ path: before => after`. */
export function diffSnapshots(a: TreeSnapshot, b: TreeSnapshot): string[] {
  const out: string[] = [];
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined) out.push(`- ${k} (${v})`);
    else if (w !== v) out.push(`~ ${k}: ${v} => ${w}`);
  }
  for (const [k, v] of b) if (!a.has(k)) out.push(`+ ${k} (${v})`);
  return out;
}

/**
 * What never changes when nothing is written to a data dir: every path except the sqlite files
 * (their bytes change on a mere read: WAL checkpoints) and the per-object lock files, whose
 * creation is not a change of content. The database's content is compared with {@link storeListing}.
 */
export const volatileDataPath = (rel: string): boolean =>
  /^cas\/db\/store\.sqlite-(wal|shm)$/.test(rel) || rel === 'cas/db/store.sqlite';

/** The store's images and trees, one line each, sorted (read-only; never migrates). */
export function storeListing(dataDir: string): string[] {
  const store = openStore(dataDir, { readOnly: true });
  try {
    const images = store.listImages().map((i) => `image ${i.key} ${i.name} ${i.size} latest=${i.latest}`);
    const trees = store.listTrees().map((t) => `tree ${t.treeStoreID} ${t.image ?? ''}`);
    return [...images, ...trees].sort();
  } finally {
    store.close();
  }
}

/**
 * The store's integrity check, read-only. `verifyBlobs` re-hashes every blob (slow with many
 * images). Version skew between this checkout's store and the bundled rkt that wrote the data
 * dir is reported as such rather than as a problem.
 */
export async function storeFsck(dataDir: string, opts: { verifyBlobs?: boolean; verifyTrees?: boolean } = {}): Promise<FsckReport> {
  let store;
  try {
    store = openStore(dataDir, { readOnly: true });
  } catch (e) {
    if (isRktError(e) && e.code === 'store.schema-older') {
      throw new Error(`the bundled rkt wrote an older store schema than this checkout's store reads: rebuild packages/stage0 (${e.message})`);
    }
    throw e;
  }
  try {
    return await store.fsck({ verifyBlobs: opts.verifyBlobs ?? false, verifyTrees: opts.verifyTrees ?? true });
  } finally {
    store.close();
  }
}

/** One line per fsck problem (not garbage). */
export const fsckProblems = (r: FsckReport): string[] => r.problems.map((p) => `${p.kind}: ${p.message}`);
