/**
 * Random access to the members of an uncompressed tar file (an `oci-archive:` or
 * `docker-archive:` source): one pass over the headers only, then each member is read from its
 * offset. A gzip-compressed archive is first decompressed into a temporary file.
 */
import { closeSync, createReadStream, createWriteStream, mkdtempSync, openSync, readSync, rmSync, fstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { userError } from '@rktnetes/errors';
import { detectCompression } from '@rktnetes/store';

/** One member of the archive. */
export interface TarMember {
  name: string;
  /** `file`, `dir`, `symlink`, `link` or `other` */
  type: 'file' | 'dir' | 'symlink' | 'link' | 'other';
  /** offset of the data in the file */
  offset: number;
  size: number;
  linkname: string;
}

function normalize(name: string): string {
  return name
    .split('/')
    .filter((p) => p !== '' && p !== '.')
    .join('/');
}

function cstr(b: Buffer, start: number, len: number): string {
  const s = b.subarray(start, start + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? s.length : nul).toString('utf8');
}

function octal(b: Buffer, start: number, len: number): number {
  const first = b[start] ?? 0;
  if (first & 0x80) {
    // base-256 (GNU) for large values
    let v = 0;
    for (let i = 1; i < len; i++) v = v * 256 + (b[start + i] ?? 0);
    return v;
  }
  const s = cstr(b, start, len).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) break;
    const len = Number(data.subarray(off, sp).toString());
    if (!Number.isFinite(len) || len <= 0) break;
    const rec = data.subarray(sp + 1, off + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    off += len;
  }
  return out;
}

/** An indexed tar file. Call {@link close} when done (removes a temporary decompressed copy). */
export class TarIndex {
  private constructor(
    readonly path: string,
    readonly members: Map<string, TarMember>,
    private readonly cleanup: () => void,
  ) {}

  /**
   * Indexes the tar file at `path` (gzip-compressed archives are decompressed to a temp file).
   * Throws `fetch.no-file` when unreadable, `image.corrupt` when it is not a tar archive.
   */
  static async open(path: string, what: string): Promise<TarIndex> {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw userError('fetch.no-file', `${what}: cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    }
    const head = Buffer.alloc(6);
    readSync(fd, head, 0, 6, 0);
    closeSync(fd);
    const kind = detectCompression(head);
    if (kind === 'none') return new TarIndex(path, index(path, what), () => {});
    if (kind !== 'gzip') throw userError('image.unsupported', `${what}: ${kind}-compressed archives are not supported; decompress ${path} first`);
    const dir = mkdtempSync(join(tmpdir(), 'rkt-archive-'));
    const plain = join(dir, 'archive.tar');
    try {
      await pipeline(createReadStream(path), createGunzip(), createWriteStream(plain));
      return new TarIndex(plain, index(plain, what), () => rmSync(dir, { recursive: true, force: true }));
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      if ((e as { code?: string }).code?.startsWith('Z_')) throw userError('image.corrupt', `${what}: ${path} is not valid gzip data`, { cause: e });
      throw e;
    }
  }

  /** The member `name` (leading `./` ignored), or undefined. Hard links resolve to their target. */
  get(name: string): TarMember | undefined {
    let m = this.members.get(normalize(name));
    for (let hops = 0; m?.type === 'link' && hops < 8; hops++) m = this.members.get(normalize(m.linkname));
    if (m?.type === 'symlink') {
      const dir = normalize(name).split('/').slice(0, -1);
      const target = m.linkname.startsWith('/') ? normalize(m.linkname) : normalize([...dir, m.linkname].join('/'));
      if (!target.split('/').includes('..')) return this.get(target);
    }
    return m;
  }

  /** A member's bytes as a stream. */
  stream(m: TarMember): AsyncIterable<Buffer> {
    if (m.size === 0) return (async function* () {})();
    return createReadStream(this.path, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 1 << 20 });
  }

  /** A (small) member's bytes. */
  read(m: TarMember): Buffer {
    const fd = openSync(this.path, 'r');
    try {
      const b = Buffer.alloc(m.size);
      let off = 0;
      while (off < m.size) {
        const n = readSync(fd, b, off, m.size - off, m.offset + off);
        if (n === 0) break;
        off += n;
      }
      return b;
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    this.cleanup();
  }
}

function index(path: string, what: string): Map<string, TarMember> {
  const members = new Map<string, TarMember>();
  const fd = openSync(path, 'r');
  const bad = (why: string) => userError('image.corrupt', `${what}: ${path} is not a valid tar archive (${why})`);
  try {
    const total = fstatSync(fd).size;
    const h = Buffer.alloc(512);
    let off = 0;
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax: Record<string, string> = {};
    while (off + 512 <= total) {
      readSync(fd, h, 0, 512, off);
      if (h.every((b) => b === 0)) break;
      if (cstr(h, 257, 5) !== 'ustar' && h.subarray(257, 263).toString('latin1') !== 'ustar ') {
        // v7 tar has no magic; check the checksum instead
        const sum = octal(h, 148, 8);
        let calc = 0;
        for (let i = 0; i < 512; i++) calc += i >= 148 && i < 156 ? 32 : (h[i] ?? 0);
        if (sum !== calc) throw bad(`bad header at offset ${off}`);
      }
      const type = String.fromCharCode(h[156] ?? 0);
      const size = octal(h, 124, 12);
      const dataOff = off + 512;
      const next = dataOff + Math.ceil(size / 512) * 512;
      if (next > total) throw bad('truncated');
      const readData = () => {
        const b = Buffer.alloc(size);
        readSync(fd, b, 0, size, dataOff);
        return b;
      };
      if (type === 'x') pax = parsePax(readData());
      else if (type === 'g') {
        // global header: nothing here depends on it
      } else if (type === 'L') longName = cstr(readData(), 0, size);
      else if (type === 'K') longLink = cstr(readData(), 0, size);
      else {
        const prefix = cstr(h, 345, 155);
        const rawName = pax.path ?? longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
        const linkname = pax.linkpath ?? longLink ?? cstr(h, 157, 100);
        const realSize = pax.size !== undefined ? Number(pax.size) : size;
        const kind: TarMember['type'] = type === '0' || type === '\0' || type === '7' ? 'file' : type === '5' ? 'dir' : type === '2' ? 'symlink' : type === '1' ? 'link' : 'other';
        const name = normalize(rawName);
        if (name) members.set(name, { name, type: kind, offset: dataOff, size: kind === 'file' ? realSize : 0, linkname });
        pax = {};
        longName = undefined;
        longLink = undefined;
        off = dataOff + Math.ceil(realSize / 512) * 512;
        continue;
      }
      off = next;
    }
  } finally {
    closeSync(fd);
  }
  return members;
}
