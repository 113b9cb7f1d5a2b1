/**
 * Decompression bombs built cheaply: a valid ACI whose `rootfs/zeros` holds `size` zero bytes,
 * written as a concatenation of compressed members (gzip members, bzip2 and xz streams may be
 * concatenated), so that one compressed megabyte of zeros is made once and repeated. A
 * 256 MiB bomb is ~260 KiB as gzip and ~12 KiB as bzip2, and takes milliseconds to build.
 */
import { buildTar, compress, type RawTarEntry } from '@rktnetes/testkit';

export type BombCompression = 'gzip' | 'bzip2' | 'xz';

/** A ustar header for a regular file of `size` bytes (size must fit 11 octal digits). */
function ustarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  const put = (off: number, len: number, s: string) => h.write(s, off, len, 'latin1');
  const oct = (n: number, len: number) => n.toString(8).padStart(len - 1, '0') + '\0';
  put(0, 100, name);
  put(100, 8, oct(0o644, 8));
  put(108, 8, oct(0, 8));
  put(116, 8, oct(0, 8));
  put(124, 12, oct(size, 12));
  put(136, 12, oct(Math.floor(Date.UTC(2016, 0, 1) / 1000), 12));
  put(148, 8, '        ');
  put(156, 1, '0');
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  let sum = 0;
  for (const b of h) sum += b;
  put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/**
 * An ACI with `size` bytes of zeros in `rootfs/zeros` (a multiple of 1 MiB). With
 * `manifestLast`, the manifest comes after the bomb, so that anything looking for it has to
 * decompress everything first.
 */
export async function bombAci(opts: { manifest: object; size: number; compression: BombCompression; manifestLast?: boolean }): Promise<Buffer> {
  const MiB = 1 << 20;
  if (opts.size % MiB !== 0) throw new Error('bomb size must be a multiple of 1 MiB');
  const manifest: RawTarEntry = { name: 'manifest', content: JSON.stringify(opts.manifest) };
  const rootfs: RawTarEntry = { name: 'rootfs/', type: 'directory', mode: 0o755 };
  const withoutEnd = async (entries: RawTarEntry[]) => {
    const tar = await buildTar(entries);
    return tar.subarray(0, tar.length - 1024); // drop the end-of-archive blocks
  };
  const head = Buffer.concat([await withoutEnd(opts.manifestLast ? [rootfs] : [manifest, rootfs]), ustarHeader('rootfs/zeros', opts.size)]);
  const tail = opts.manifestLast ? await buildTar([manifest]) : Buffer.alloc(1024);
  const zeros = compress(Buffer.alloc(MiB), opts.compression);
  return Buffer.concat([compress(head, opts.compression), ...Array.from({ length: opts.size / MiB }, () => zeros), compress(tail, opts.compression)]);
}
