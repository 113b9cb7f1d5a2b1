/**
 * Filling an implicit Docker volume with the image's content at its path, as Docker does for a
 * new volume: a copy (`cp -a`: owners, modes, times, links) of the directory at that path in
 * the app's root filesystem as the image has it, with the directory's mode and owner.
 *
 * The root filesystem is a plain directory for ACIs and pods without overlay. For a layered
 * image in an overlay pod it exists only as a merged view: a read-only overlay of its layer
 * directories is mounted in a private mount namespace of a short-lived child (util-linux
 * `unshare`), so the mount vanishes with the child whatever happens and the host never sees
 * it. Nothing writes to the lower dirs.
 *
 * The path is walked component by component without following symlinks: an image whose path
 * is a symlink (or not a directory) gets an empty volume, so an image cannot make stage0 copy
 * host files.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { SHARED_VOLUMES_MODE } from '@rktnetes/common';
import { systemError } from '@rktnetes/errors';
import { mountsUnder, readMountInfo } from '@rktnetes/sys';
import { escapeDir, fitLowerDirs } from './overlay';

/** An app's root filesystem: a directory, or the lower dirs of a layered image (uppermost first). */
export type ImageRoot = { dir: string } | { lowerDirs: readonly string[] };

/** What the image has at the volume's path. */
export type FillResult =
  /** copied: the directory's mode (permission bits, octal string) and owner */
  | { kind: 'copied'; mode: string; uid: number; gid: number }
  /** the image has nothing there */
  | { kind: 'absent' }
  /** a component is a symlink or not a directory: nothing copied */
  | { kind: 'not-a-directory' };

const EXIT_ABSENT = 3;
const EXIT_NOT_DIR = 4;

// $1 root, $2 destination, then the path components; RKT_LOWERDIR: mount this overlay on the root first
const SCRIPT = `set -e
root=$1; dest=$2; shift 2
if [ -n "$RKT_LOWERDIR" ]; then mount -t overlay -o "ro,lowerdir=$RKT_LOWERDIR" overlay "$root"; fi
p=$root
for c in "$@"; do
  p=$p/$c
  if [ -L "$p" ]; then exit ${EXIT_NOT_DIR}; fi
  if [ ! -e "$p" ]; then exit ${EXIT_ABSENT}; fi
  if [ ! -d "$p" ]; then exit ${EXIT_NOT_DIR}; fi
done
stat -c '%a %u %g' "$p"
cp -a "$p/." "$dest/"
`;

async function run(cmd: string, args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<{ code: number; stdout: string; stderr: string }> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { ...opts, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(err);
      else resolve({ code: err ? (err.code as number) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/**
 * Whether `cp` failed only on entries that vanished between listing and copying. overlayfs
 * lists a whiteout that hides nothing (its directory exists in no lower layer, so the
 * directory is not merged) but then cannot stat it: such entries are not part of the image.
 */
function onlyVanishedEntries(stderr: string): boolean {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  return lines.length > 0 && lines.every((l) => /^cp: cannot stat '.*': No such file or directory$/.test(l));
}

/** The components of an absolute path in an image; undefined when it climbs (`..`). */
function components(path: string): string[] | undefined {
  const parts = path.split('/').filter((c) => c !== '' && c !== '.');
  return parts.includes('..') ? undefined : parts;
}

/**
 * Copies what `root` has at `path` into `dest` (created, mode 0755, below a parent created
 * with the shared volumes mode) and gives `dest` the mode and owner of the image's directory.
 * `scratch` is a directory this function may use for mount points (removed again).
 * System error `pod.volume-fill` when the copy fails.
 */
export async function fillVolumeFromImage(root: ImageRoot, path: string, dest: string, scratch: string): Promise<FillResult> {
  await fsp.mkdir(join(dest, '..'), { recursive: true, mode: SHARED_VOLUMES_MODE });
  await fsp.mkdir(dest, { recursive: true, mode: 0o755 });
  const parts = components(path);
  if (!parts) return { kind: 'not-a-directory' };
  let work: string | undefined;
  try {
    let res: { code: number; stdout: string; stderr: string };
    // LC_ALL: cp's messages are matched (onlyVanishedEntries)
    const env = { ...process.env, LC_ALL: 'C', RKT_LOWERDIR: '' };
    if ('dir' in root) {
      res = await run('sh', ['-c', SCRIPT, 'sh', root.dir, dest, ...parts], { env });
    } else {
      await fsp.mkdir(scratch, { recursive: true, mode: 0o750 });
      work = await fsp.mkdtemp(join(scratch, 'volume-'));
      const mnt = join(work, 'root');
      fs.mkdirSync(mnt);
      let lowers = root.lowerDirs;
      if (lowers.length === 1) {
        // a read-only overlay needs two lower dirs: add an empty one below
        const empty = join(work, 'empty');
        fs.mkdirSync(empty);
        lowers = [...lowers, empty];
      }
      const { data, cwd } = fitLowerDirs(lowers, (l) => l.map(escapeDir).join(':'));
      const args = ['--mount', '--propagation', 'private', '--', 'sh', '-c', SCRIPT, 'sh', mnt, dest, ...parts];
      res = await run('unshare', args, { env: { ...env, RKT_LOWERDIR: data }, ...(cwd ? { cwd } : {}) });
    }
    if (res.code === EXIT_ABSENT) return { kind: 'absent' };
    if (res.code === EXIT_NOT_DIR) return { kind: 'not-a-directory' };
    if (res.code !== 0 && !(res.code === 1 && onlyVanishedEntries(res.stderr))) throw new Error(res.stderr.trim() || `exit status ${res.code}`);
    const [mode = '', uid = '', gid = ''] = res.stdout.trim().split(/\s+/);
    if (!/^[0-7]{1,4}$/.test(mode) || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) throw new Error(`unexpected stat output ${JSON.stringify(res.stdout)}`);
    const m = Number.parseInt(mode, 8);
    fs.chownSync(dest, Number(uid), Number(gid));
    fs.chmodSync(dest, m);
    return { kind: 'copied', mode: `0${m.toString(8).padStart(3, '0')}`, uid: Number(uid), gid: Number(gid) };
  } catch (e) {
    throw systemError('pod.volume-fill', `cannot copy ${path} of the image into volume ${dest}: ${(e as Error).message}`, { cause: e });
  } finally {
    // the mount lived in the child's namespace; never recurse into a mount all the same
    if (work && mountsUnder(fs.realpathSync(work), readMountInfo()).length === 0) await fsp.rm(work, { recursive: true, force: true });
  }
}
