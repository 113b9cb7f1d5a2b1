/**
 * `rkt export [--app=APP] [--overwrite] UUID OUTPUT.aci`: an exited pod's app, as it was when
 * the pod stopped (the overlay upper layer merged over the image), written as a gzipped ACI with
 * the app's image manifest.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { appInfoManifestPath, appRootfsPath, appTreeStoreIdPath, tmpDir } from '@rktnetes/common';
import { systemError, userError, usageError } from '@rktnetes/errors';
import { mountsUnder, readMountInfo, type Sys } from '@rktnetes/sys';
import type { Context } from '../../cli/context';
import { podStatus, readPodManifest, usesOverlay } from '../info';
import { podSys } from '../lock';
import { mountImageOverlay } from '../overlay';
import { treeLowerDirs } from '../trees';
import { findPod } from '../uuid-arg';
import { chooseApp } from './enter';

export interface ExportOptions {
  app?: string;
  overwrite: boolean;
}

type TarPack = ReturnType<(typeof import('tar-stream'))['pack']>;

/** Adds one entry (and its content) to the tar, waiting until the pack took it. */
function addEntry(pack: TarPack, header: Record<string, unknown>, content?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (content) pack.entry(header as never, content, cb);
    else pack.entry(header as never, cb);
  });
}

/** Adds `dir` (as `prefix`) and everything below it, in lexical order, hard links kept. */
async function addTree(pack: TarPack, dir: string, prefix: string, links: Map<string, string>): Promise<void> {
  const st = await fsp.lstat(dir);
  const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
  await addEntry(pack, { ...base, name: `${prefix}/`, type: 'directory' });
  const names = (await fsp.readdir(dir)).sort();
  for (const name of names) {
    const path = join(dir, name);
    const entryName = `${prefix}/${name}`;
    const s = await fsp.lstat(path);
    const h = { name: entryName, mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, mtime: s.mtime };
    if (s.isDirectory()) {
      await addTree(pack, path, entryName, links);
    } else if (s.isSymbolicLink()) {
      await addEntry(pack, { ...h, type: 'symlink', linkname: await fsp.readlink(path) });
    } else if (s.isFile()) {
      const key = `${s.dev}:${s.ino}`;
      const first = s.nlink > 1 ? links.get(key) : undefined;
      if (first !== undefined) {
        await addEntry(pack, { ...h, type: 'link', linkname: first });
        continue;
      }
      if (s.nlink > 1) links.set(key, entryName);
      await addEntry(pack, { ...h, type: 'file', size: s.size }, await fsp.readFile(path));
    } else if (s.isCharacterDevice() || s.isBlockDevice()) {
      const dev = BigInt(s.rdev);
      const major = Number(((dev >> 32n) & 0xfffff000n) | ((dev >> 8n) & 0xfffn));
      const minor = Number(((dev >> 12n) & 0xffffff00n) | (dev & 0xffn));
      await addEntry(pack, { ...h, type: s.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: major, devminor: minor });
    } else if (s.isFIFO()) {
      await addEntry(pack, { ...h, type: 'fifo' });
    }
    // sockets are not part of an image
  }
}

/** Writes `rootfs` and `manifestPath` as a gzipped ACI to `target`. */
async function writeAci(rootfs: string, manifestPath: string, target: string, overwrite: boolean): Promise<void> {
  let fd: number;
  try {
    fd = fs.openSync(target, overwrite ? 'w' : 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw userError('export.exists', `target file ${target} exists (try --overwrite)`);
    throw systemError('export.open', `unable to open target ${target}`, { cause: e });
  }
  const tar = await import('tar-stream');
  const pack = tar.pack();
  const out = fs.createWriteStream('', { fd });
  const done = pipeline(pack as unknown as NodeJS.ReadableStream, createGzip(), out);
  try {
    await addEntry(pack, { name: 'manifest', type: 'file', mode: 0o644, mtime: new Date() }, await fsp.readFile(manifestPath));
    await addTree(pack, rootfs, 'rootfs', new Map());
    pack.finalize();
    await done;
  } catch (e) {
    pack.destroy();
    await done.catch(() => undefined);
    await fsp.rm(target, { force: true });
    throw systemError('export.write', `error building aci ${target}`, { cause: e });
  }
}

/** Whether `path` is itself a mount point and nothing is mounted below it. */
function isLoneMountPoint(path: string): boolean {
  const real = fs.realpathSync(path);
  const mounts = mountsUnder(real, readMountInfo());
  return mounts.length > 0 && mounts.every((m) => m.mountPoint === real);
}

/** Runs `rkt export`. */
export async function exportCommand(ctx: Context, ref: string, output: string, o: ExportOptions, sys: Sys = podSys()): Promise<void> {
  if (!output.endsWith('.aci')) throw usageError('cli.invalid-value', `extension must be .aci (given ${output})`);
  const loc = await findPod(ctx.dataDir, ref);
  const p = await podStatus(ctx.dataDir, loc, sys);
  if (!p || (p.state !== 'exited' && p.state !== 'exited garbage')) {
    throw userError('pod.not-exited', 'pod is not exited. Only exited pods can be exported', { details: { uuid: loc.uuid } });
  }
  const app = chooseApp(await readPodManifest(p.path, p.uuid), o.app, 'export');
  const manifestPath = appInfoManifestPath(p.path, app);
  const rootfs = appRootfsPath(p.path, app);
  if (fs.existsSync(rootfs) && isLoneMountPoint(rootfs)) {
    // the pod's own overlay is still mounted (gc has not run): it is the merged view
    return writeAci(rootfs, manifestPath, output, o.overwrite);
  }
  if (!(await usesOverlay(p.path))) {
    if (mountsUnder(fs.realpathSync(rootfs), readMountInfo()).length > 0) {
      throw userError('export.mounts', 'pod has remaining mountpoints. Only pods using overlayfs or with no mountpoints can be exported');
    }
    return writeAci(rootfs, manifestPath, output, o.overwrite);
  }
  const id = (await fsp.readFile(appTreeStoreIdPath(p.path, app), 'utf8')).trim();
  await fsp.mkdir(tmpDir(ctx.dataDir), { recursive: true, mode: 0o750 });
  const work = await fsp.mkdtemp(join(tmpDir(ctx.dataDir), `rkt-export-${p.uuid}-`));
  let target: string | undefined;
  try {
    // the app's upper dir over its image again: a tree's rootfs, or a layered image's layers
    const lowerDirs = await treeLowerDirs(ctx.dataDir, id, (m) => ctx.log.debug(m));
    target = mountImageOverlay(sys, p.path, { lowerDirs, treeStoreId: id, dest: work, app });
    await writeAci(target, manifestPath, output, o.overwrite);
  } finally {
    if (target) {
      try {
        sys.umount2(target, 0);
      } catch (e) {
        ctx.log.error(e, `error unmounting directory ${target}`);
      }
    }
    if (!target || mountsUnder(target, readMountInfo()).length === 0) await fsp.rm(work, { recursive: true, force: true });
  }
}
