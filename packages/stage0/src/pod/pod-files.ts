/**
 * The files stage0 writes into a pod that is still being prepared (in `pods/embryo` or
 * `pods/prepare`, locked by this process). Each file appears whole, by rename(2) of a temporary
 * file, so that `rkt list`/`status` never read half a manifest; durability is settled once for
 * all of them by {@link PodFiles.flush} (every file, then every directory, fsynced) before the
 * pod leaves `prepare`. A crash before that leaves a pod in `prepare` with no lock holder,
 * which gc removes; no published pod ever depends on an unsynced file. Synchronous calls: a few
 * small files cost less than the thread-pool round trips of the asynchronous API.
 */
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomicSync } from '@rktnetes/common';
import { systemError } from '@rktnetes/errors';

export class PodFiles {
  private readonly files: string[] = [];
  private readonly dirs = new Set<string>();

  /** Writes `data` to `path` (replacing it) with `mode`. System error `file.write` on failure. */
  write(path: string, data: string | Uint8Array, mode: number): void {
    writeFileAtomicSync(path, data, mode, { durable: false });
    this.files.push(path);
    this.dirs.add(dirname(path));
  }

  /** Creates an empty file (kept if it exists) at `path`. */
  touch(path: string, mode: number): void {
    fs.closeSync(fs.openSync(path, fs.constants.O_CREAT | fs.constants.O_RDWR, mode));
    this.dirs.add(dirname(path));
  }

  /** Creates a directory (and its parents) the pod's files go to. */
  mkdir(path: string, mode: number): void {
    fs.mkdirSync(path, { recursive: true, mode });
    this.dirs.add(dirname(path));
  }

  /** fsyncs every file written, then every directory written to. */
  flush(): void {
    for (const f of this.files) syncPath(f, true);
    for (const d of this.dirs) syncPath(d, false);
    this.files.length = 0;
    this.dirs.clear();
  }
}

function syncPath(path: string, mustWork: boolean): void {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    if (mustWork) throw systemError('file.write', `cannot sync ${path}`, { cause: e, details: { path } });
    return;
  }
  try {
    fs.fsyncSync(fd);
  } catch (e) {
    // some filesystems refuse fsync on directories; the renames themselves are still atomic
    if (mustWork) throw systemError('file.write', `cannot sync ${path}`, { cause: e, details: { path } });
  } finally {
    fs.closeSync(fd);
  }
}
