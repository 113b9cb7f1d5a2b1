// Build-time helper: writes an appc ACI (an uncompressed tar of `manifest` + `rootfs/`), with
// fixed ownership and mtimes so that the image ID (sha512 of the tar) is reproducible.
import { createWriteStream, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';

const MTIME = new Date(0);

/**
 * @param {string} out path of the .aci to write
 * @param {object} manifest appc ImageManifest
 * @param {Array<{path: string, type?: 'file'|'dir'|'symlink', source?: string, content?: string|Buffer, target?: string, mode?: number}>} entries
 *   paths are relative to rootfs/
 */
export async function makeAci(out, manifest, entries) {
  const pack = tarStream.pack();
  const done = pipeline(pack, createWriteStream(out));
  const add = (header, body) => new Promise((res, rej) => pack.entry({ uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: MTIME, ...header }, body, (e) => (e ? rej(e) : res())));
  await add({ name: 'manifest', mode: 0o644 }, JSON.stringify(manifest, null, 2) + '\n');
  await add({ name: 'rootfs', type: 'directory', mode: 0o755 });
  const dirs = new Set();
  for (const e of [...entries].sort((a, b) => a.path.localeCompare(b.path))) {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        await add({ name: `rootfs/${d}`, type: 'directory', mode: 0o755 });
      }
    }
    if (e.type === 'dir') {
      if (!dirs.has(e.path)) await add({ name: `rootfs/${e.path}`, type: 'directory', mode: e.mode ?? 0o755 });
      dirs.add(e.path);
    } else if (e.type === 'symlink') {
      await add({ name: `rootfs/${e.path}`, type: 'symlink', linkname: e.target, mode: 0o777 });
    } else {
      const body = e.content ?? readFileSync(e.source);
      await add({ name: `rootfs/${e.path}`, mode: e.mode ?? 0o644 }, body);
    }
  }
  pack.finalize();
  await done;
}

/**
 * The image entries of the files a bundled bin needs next to its executable (tools/build.mjs):
 * `dist/NAME.cjs` and its code cache, as `<dir>/NAME.cjs` and `<dir>/NAME.cjs.cache`.
 */
export function bundleCompanions(executable, dir = '') {
  const cjs = executable.replace(/\.mjs$/, '.cjs');
  const base = cjs.slice(cjs.lastIndexOf('/') + 1);
  const at = (f) => (dir ? `${dir}/${f}` : f);
  return [
    { path: at(base), source: cjs, mode: 0o644 },
    { path: at(`${base}.cache`), source: `${cjs}.cache`, mode: 0o644 },
  ];
}
