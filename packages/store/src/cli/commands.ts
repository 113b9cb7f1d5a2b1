/**
 * The implementations of the rkt-store subcommands. Each opens the store, calls the library,
 * prints a table or JSON and returns the exit status.
 */
import { EXIT_FAILURE } from '@rktnetes/errors';
import { openStore, type Store } from '../store';
import { shortKey } from '../keys';
import { formatBytes, formatTime, parseDuration, table } from './format';

export interface CliContext {
  /** the data dir holding `cas/` */
  dir: string;
  format: 'table' | 'json';
  debug: (msg: string) => void;
  out: (text: string) => void;
}

async function withStore<T>(ctx: CliContext, readOnly: boolean, fn: (s: Store) => Promise<T> | T): Promise<T> {
  const store = openStore(ctx.dir, { readOnly, debug: ctx.debug });
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

const json = (v: unknown) => JSON.stringify(v, null, 2);

/** `rkt-store list` */
export function list(ctx: CliContext): Promise<number> {
  return withStore(ctx, true, (s) => {
    const images = s.listImages();
    if (ctx.format === 'json') ctx.out(json(images));
    else {
      const rows = images.map((i) => {
        const version = i.labels.find((l) => l.name === 'version')?.value;
        return [shortKey(i.key), version ? `${i.name}:${version}` : i.name, formatBytes(i.size), formatTime(i.importTime), formatTime(i.lastUsed)];
      });
      ctx.out(table(['ID', 'NAME', 'SIZE', 'IMPORT TIME', 'LAST USED'], rows));
    }
    return 0;
  });
}

/** `rkt-store import FILE` */
export function importFile(ctx: CliContext, file: string, opts: { allowDevices: boolean; latest: boolean }): Promise<number> {
  return withStore(ctx, false, async (s) => {
    const info = await s.importImage(file, { allowDevices: opts.allowDevices, latest: opts.latest });
    ctx.out(ctx.format === 'json' ? json(info) : info.key);
    return 0;
  });
}

/** `rkt-store fsck`: exit 254 when problems (not garbage) are found. */
export function fsck(ctx: CliContext, opts: { verifyBlobs: boolean; verifyTrees: boolean }): Promise<number> {
  return withStore(ctx, false, async (s) => {
    const r = await s.fsck(opts);
    if (ctx.format === 'json') ctx.out(json(r));
    else {
      const issues = [...r.problems.map((p) => ['problem', p.kind, p.message]), ...r.garbage.map((g) => ['garbage', g.kind, g.message])];
      if (issues.length) ctx.out(table(['CLASS', 'KIND', 'DETAIL'], issues));
      ctx.out(`${r.images} images, ${r.trees} trees: ${r.problems.length} problems, ${r.garbage.length} garbage (removed by gc)`);
    }
    return r.ok ? 0 : EXIT_FAILURE;
  });
}

/** `rkt-store gc` */
export function gc(ctx: CliContext, opts: { gracePeriod?: string; keep: string[] }): Promise<number> {
  return withStore(ctx, false, async (s) => {
    const keep = new Set(opts.keep.map((k) => s.resolveImage(k)));
    const r = await s.gc({ gracePeriod: opts.gracePeriod === undefined ? undefined : parseDuration(opts.gracePeriod), keep });
    if (ctx.format === 'json') ctx.out(json(r));
    else {
      for (const k of r.removedImages) ctx.out(`removed image ${k}`);
      for (const id of r.removedTrees) ctx.out(`removed tree ${id}`);
      ctx.out(
        `gc: ${r.removedImages.length} images, ${r.removedTrees.length} trees, ${r.removedTemp.length} temp files, ${r.removedOrphanBlobs.length} orphan blobs removed; ${r.skipped.length} in use`,
      );
    }
    return 0;
  });
}

/** `rkt-store verify [TREE...]`: exit 254 when a tree does not match its hash. */
export function verify(ctx: CliContext, ids: string[]): Promise<number> {
  return withStore(ctx, true, async (s) => {
    const todo = ids.length ? ids : s.listTrees().map((t) => t.treeStoreID);
    const results = [];
    for (const id of todo) results.push(await s.verifyTree(id));
    if (ctx.format === 'json') ctx.out(json(results));
    else ctx.out(table(['TREE', 'STATUS'], results.map((r) => [r.treeStoreID, r.ok ? 'ok' : r.expected ? 'modified' : 'no hash'])));
    return results.every((r) => r.ok) ? 0 : EXIT_FAILURE;
  });
}
