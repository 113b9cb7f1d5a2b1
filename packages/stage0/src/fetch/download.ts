/**
 * Resumable downloads into the store's temp directory.
 *
 * Each URL gets `<store tmp>/fetch-<sha256(url)>/` holding `data` (the bytes so far) and
 * `meta.json` (the URL and the validator, ETag or Last-Modified, of those bytes). The directory
 * is flocked while in use, so concurrent fetches of one URL wait for each other and the store's
 * gc (which removes unlocked temp entries) leaves it alone. An interrupted download leaves it
 * behind; the next fetch of the URL asks only for the rest (`Range` + `If-Range`) and starts
 * over when the server's copy changed or it ignores ranges.
 */
import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemError } from '@rktnetes/errors';
import { realSys } from '@rktnetes/sys';
import { cacheMaxAge, describeNetError, httpRequest, statusError, type HttpClientOptions } from './http';
import { createProgress } from './progress';

/** A locked download directory. */
export interface DownloadDir {
  dir: string;
  /** the downloaded bytes */
  dataPath: string;
  /** unlocks, keeping the data for a later resume */
  release(): void;
  /** removes the data and unlocks (after import, or when the data proved bad) */
  discard(): void;
}

/** The directory a URL downloads into. */
export function downloadDirFor(tmpRoot: string, url: string): string {
  return join(tmpRoot, `fetch-${createHash('sha256').update(url).digest('hex').slice(0, 40)}`);
}

/** Creates (or reuses) and locks the download directory of `url` under `tmpRoot`, waiting for other fetches of it. */
export async function openDownloadDir(tmpRoot: string, url: string): Promise<DownloadDir> {
  const dir = downloadDirFor(tmpRoot, url);
  const sys = realSys();
  for (let attempt = 0; ; attempt++) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    let fd: number;
    try {
      fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 20) continue;
      throw systemError('fetch.io', `cannot open download directory ${dir}`, { cause: e });
    }
    let delay = 20;
    while (!sys.flock(fd, 'ex', { nonBlocking: true })) {
      await sleep(delay);
      delay = Math.min(delay * 2, 500);
    }
    if (sameInode(fd, dir)) {
      let open = true;
      const release = () => {
        if (!open) return;
        open = false;
        closeSync(fd);
      };
      return {
        dir,
        dataPath: join(dir, 'data'),
        release,
        discard() {
          if (!open) return;
          rmSync(dir, { recursive: true, force: true });
          release();
        },
      };
    }
    // removed (by a finished fetch or gc) while we waited: lock the new one
    closeSync(fd);
    if (attempt >= 20) throw systemError('fetch.io', `cannot lock download directory ${dir}: it keeps being replaced`);
  }
}

function sameInode(fd: number, path: string): boolean {
  try {
    const a = fstatSync(fd);
    const b = statSync(path);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

interface Meta {
  url: string;
  etag?: string;
  lastModified?: string;
}

function readMeta(dir: string): Meta | undefined {
  try {
    const v: unknown = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as Record<string, unknown>;
    if (typeof o.url !== 'string') return undefined;
    return {
      url: o.url,
      ...(typeof o.etag === 'string' ? { etag: o.etag } : {}),
      ...(typeof o.lastModified === 'string' ? { lastModified: o.lastModified } : {}),
    };
  } catch {
    return undefined;
  }
}

/** What to download. */
export interface DownloadRequest {
  url: URL;
  /** the ETag of the copy we have: sent as If-None-Match */
  etag?: string;
  /** the progress line's label (`image`, `signature`) */
  label: string;
  /** names the resource in errors */
  what: string;
}

/** How a download ended. */
export interface DownloadResult {
  /** the server said 304: our copy (ETag) is current and nothing was downloaded */
  notModified: boolean;
  /** the URL after redirects */
  url: URL;
  etag?: string;
  /** Cache-Control max-age in seconds */
  maxAge: number;
  /** bytes in the data file */
  size: number;
  /** bytes that were already there from an earlier attempt */
  resumedFrom: number;
}

/**
 * Downloads `req.url` into `dl.dataPath`, resuming an earlier partial download when the server
 * supports ranges and the resource did not change.
 *
 * @throws RktError `fetch.http` (unreachable, timeout, interrupted: the data so far is kept),
 *   `fetch.http-status` (unexpected status), `fetch.deferred` for HTTP 202
 */
export async function download(client: HttpClientOptions, dl: DownloadDir, req: DownloadRequest): Promise<DownloadResult> {
  const href = req.url.href;
  const metaPath = join(dl.dir, 'meta.json');
  const fd = openSync(dl.dataPath, constants.O_RDWR | constants.O_CREAT, 0o600);
  try {
    let have = fstatSync(fd).size;
    const meta = readMeta(dl.dir);
    const validator = meta?.url === href ? (meta.etag ?? meta.lastModified) : undefined;
    if (have > 0 && !validator) {
      ftruncateSync(fd, 0);
      have = 0;
    }
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { 'accept-encoding': 'identity' };
      if (req.etag) headers['if-none-match'] = req.etag;
      if (have > 0 && validator) {
        headers.range = `bytes=${have}-`;
        headers['if-range'] = validator;
      }
      const res = await httpRequest(client, 'GET', req.url, headers, req.what);
      if (res.status === 304 && req.etag) {
        res.body.resume();
        return { notModified: true, url: res.url, etag: header(res.headers.etag) ?? req.etag, maxAge: cacheMaxAge(header(res.headers['cache-control'])), size: have, resumedFrom: have };
      }
      if (res.status === 202) {
        res.body.resume();
        throw systemError('fetch.deferred', `${req.what}: the server asked to try ${href} again later (HTTP 202)`);
      }
      if (res.status === 416 && have > 0 && attempt === 0) {
        res.body.resume();
        ftruncateSync(fd, 0);
        have = 0;
        continue;
      }
      let offset = 0;
      if (res.status === 206) {
        const start = /^bytes (\d+)-/.exec(header(res.headers['content-range']) ?? '')?.[1];
        if (Number(start) !== have) {
          res.body.resume();
          if (attempt > 0) throw systemError('fetch.http', `${req.what}: ${href} answered a range request with the wrong range`);
          ftruncateSync(fd, 0);
          have = 0;
          continue;
        }
        offset = have;
      } else if (res.status === 200) {
        ftruncateSync(fd, 0);
      } else {
        throw statusError(req.what, res);
      }
      const etag = header(res.headers.etag);
      const lastModified = header(res.headers['last-modified']);
      writeFileSync(metaPath, JSON.stringify({ url: href, ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) }));
      const length = Number(header(res.headers['content-length']));
      const total = Number.isFinite(length) && length >= 0 ? offset + length : undefined;
      const progress = createProgress(req.label, total, offset);
      let pos = offset;
      try {
        for await (const chunk of res.body) {
          const buf = chunk as Buffer;
          let done = 0;
          while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, pos + done);
          pos += buf.length;
          progress.add(buf.length);
        }
      } catch (e) {
        throw systemError('fetch.http', `${req.what}: download of ${href} interrupted after ${pos} bytes: ${describeNetError(e, client.timeoutMs)}`, {
          cause: e,
          details: { url: href, bytes: pos },
        });
      } finally {
        progress.done();
      }
      if (total !== undefined && pos !== total) {
        throw systemError('fetch.http', `${req.what}: download of ${href} ended early after ${pos} of ${total ?? '?'} bytes`, {
          details: { url: href, bytes: pos },
        });
      }
      return { notModified: false, url: res.url, ...(etag ? { etag } : {}), maxAge: cacheMaxAge(header(res.headers['cache-control'])), size: pos, resumedFrom: offset };
    }
  } finally {
    closeSync(fd);
  }
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
