/**
 * Reading and writing the small files stages exchange. Files written for another stage are
 * written atomically (temp file in the same directory, fsync, rename); readers tolerate absence
 * where the lifecycle allows it.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { systemError, userError } from '@rktnetes/errors';

// unique among live processes (pid), within this one (counter), and against a dead process's
// leftover with a reused pid (random: uniqueness, not secrecy, so no node:crypto to load)
let tempCounter = 0;
function tempPathFor(path: string): string {
  const random = Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0');
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${tempCounter++}-${random}`);
}

function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Writes `data` to `path` so that readers see either the old content or the whole new one:
 * write a temp file next to it, fsync, set `mode` exactly (umask does not apply), rename over
 * `path`, fsync the directory. The directory must exist. On failure the temp file is removed
 * and a system error `file.write` naming `path` is thrown.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    const fh = await fsp.open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw systemError('file.write', `cannot write ${path}`, { cause: e, details: { path } });
  }
  await syncDir(dirname(path));
}

/**
 * Synchronous twin of {@link writeFileAtomic}, for exit paths and code that cannot await. With
 * `durable: false` the file still appears whole (temp file + rename) but nothing is fsynced: for
 * a writer that syncs a batch of files itself before anything depends on them.
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, mode = 0o644, opts: { durable?: boolean } = {}): void {
  const durable = opts.durable ?? true;
  const tmp = tempPathFor(path);
  try {
    const fd = fs.openSync(tmp, 'wx', mode);
    try {
      fs.writeFileSync(fd, data);
      fs.fchmodSync(fd, mode);
      if (durable) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw systemError('file.write', `cannot write ${path}`, { cause: e, details: { path } });
  }
  if (durable) syncDirSync(dirname(path));
}

/** fsyncs a directory, synchronously; best effort (some filesystems refuse it). */
export function syncDirSync(dir: string): void {
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    // fsync of a directory is best effort: some filesystems refuse it
  }
}

/** fsyncs a directory so a rename or create in it is durable; best effort. */
export async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await fsp.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // some filesystems refuse fsync on directories; the rename itself is still atomic
  }
}

/**
 * Reads a text file, returning undefined when it (or a parent directory) does not exist.
 * Other errors are thrown as a system error `file.read` naming the path.
 */
export async function readFileTolerant(path: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw systemError('file.read', `cannot read ${path}`, { cause: e, details: { path } });
  }
}

/** Synchronous twin of {@link readFileTolerant}. */
export function readFileTolerantSync(path: string): string | undefined {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw systemError('file.read', `cannot read ${path}`, { cause: e, details: { path } });
  }
}

/**
 * Parses a decimal integer the way rkt reads pid and status files: leading blanks, an optional
 * sign, digits; anything after the digits (a newline) is ignored. Throws a user error
 * `file.invalid-int` naming `what` when there is no number.
 */
export function parseIntFile(text: string, what: string): number {
  const m = /^\s*([+-]?\d+)/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw userError('file.invalid-int', `invalid ${what}: expected a decimal integer, got ${JSON.stringify(text.slice(0, 40))}`, {
      details: { what },
    });
  }
  return n;
}

/** Reads an integer file (pid, ppid, app status); undefined when it does not exist. */
export async function readIntFile(path: string): Promise<number | undefined> {
  const text = await readFileTolerant(path);
  return text === undefined ? undefined : parseIntFile(text, path);
}

/** The on-disk form of an integer file: decimal and a newline (what rkt's stage1 writes). */
export function formatIntFile(n: number): string {
  if (!Number.isSafeInteger(n)) throw userError('file.invalid-int', `invalid integer ${n}`);
  return `${n}\n`;
}
