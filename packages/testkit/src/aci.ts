/**
 * App Container Image (ACI) builder: a tar with a `manifest` JSON file and a `rootfs/` tree,
 * optionally compressed with gzip, bzip2 or xz (appc spec `spec/aci.md`).
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { compress, decompress, type Compression } from './compress';
import { buildTar, treeToEntries, type FileTree, type RawTarEntry } from './tar';

/** The compressions an ACI may use. */
export type AciCompression = Exclude<Compression, 'zstd'>;

/** What {@link buildAci} writes. */
export interface AciOptions {
  /**
   * The image manifest: an object is serialised as JSON; a string or Buffer is written verbatim
   * (for malformed-manifest tests); `null` leaves the `manifest` entry out.
   */
  manifest: object | string | Buffer | null;
  /** the rootfs, paths relative to `rootfs/` */
  files?: FileTree;
  /** default 'none' */
  compression?: AciCompression;
  /** write the `rootfs/` directory entry itself (default true) */
  rootfsEntry?: boolean;
  /** entries written verbatim before the manifest (hostile archives) */
  rawBefore?: RawTarEntry[];
  /** entries written verbatim after the rootfs (hostile archives: `../evil`, `/etc/x`, ...) */
  raw?: RawTarEntry[];
  /** cut the uncompressed tar to this many bytes before compressing it */
  truncateTarAt?: number;
  /** cut the final (possibly compressed) output to this many bytes */
  truncateAt?: number;
}

/**
 * Builds an ACI in memory. The archive is deterministic (fixed mtimes, uid/gid 0 unless given),
 * so its image ID is stable across runs. Entry order: `rawBefore`, `manifest`, `rootfs/`, the
 * tree (parents first), `raw`.
 *
 * @throws RktError `testkit.tool-missing` for bzip2/xz when the CLI is not installed
 */
export async function buildAci(opts: AciOptions): Promise<Buffer> {
  const entries: RawTarEntry[] = [...(opts.rawBefore ?? [])];
  if (opts.manifest !== null) {
    const content =
      typeof opts.manifest === 'string' || Buffer.isBuffer(opts.manifest)
        ? opts.manifest
        : `${JSON.stringify(opts.manifest, null, 2)}\n`;
    entries.push({ name: 'manifest', type: 'file', mode: 0o644, content });
  }
  entries.push(
    ...treeToEntries(opts.files ?? {}, { prefix: 'rootfs/', prefixEntry: opts.rootfsEntry ?? true }),
    ...(opts.raw ?? []),
  );
  let tarball = await buildTar(entries);
  if (opts.truncateTarAt !== undefined) tarball = tarball.subarray(0, opts.truncateTarAt);
  let out = compress(tarball, opts.compression ?? 'none');
  if (opts.truncateAt !== undefined) out = out.subarray(0, opts.truncateAt);
  return out;
}

/** What {@link writeAci} wrote. */
export interface WrittenAci {
  path: string;
  /** `sha512-<128 hex>` of the uncompressed tar (the appc image ID) */
  imageId: string;
  size: number;
}

/** Builds an ACI with {@link buildAci} and writes it to `path`. */
export async function writeAci(path: string, opts: AciOptions): Promise<WrittenAci> {
  const aci = await buildAci(opts);
  await writeFile(path, aci);
  return { path, imageId: aciImageId(aci), size: aci.length };
}

/**
 * The appc image ID of an ACI: `sha512-` and the hex SHA-512 of the uncompressed tar. Pass
 * `length` to truncate the hex part (rkt shows 32 hex digits in listings).
 */
export function aciImageId(aci: Buffer, length?: number): string {
  const hex = createHash('sha512').update(decompress(aci)).digest('hex');
  return `sha512-${length === undefined ? hex : hex.slice(0, length)}`;
}
