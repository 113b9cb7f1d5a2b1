/**
 * Test helpers for layered images: sources built in memory from inline file trees (testkit's
 * layer builder), with counters of how often each layer was read.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { buildLayerTar, compress, type FileTree, type OciRuntimeConfig } from '@rktnetes/testkit';
import type { LayeredImageSource, LayerSource } from '@rktnetes/store';

export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface TestLayer {
  files: FileTree;
  compression?: 'none' | 'gzip' | 'zstd';
}

export interface BuiltSource {
  source: LayeredImageSource;
  /** reads per layer (index = layer, bottom first) */
  opens: number[];
  diffIDs: string[];
  digests: string[];
  blobs: Buffer[];
  config: Buffer;
}

function runtimeConfig(c: OciRuntimeConfig): Record<string, unknown> {
  const set = (v: string[] | Record<string, object> | undefined) => (Array.isArray(v) ? Object.fromEntries(v.map((k) => [k, {}])) : v);
  return { ...c, ...(c.ExposedPorts ? { ExposedPorts: set(c.ExposedPorts) } : {}), ...(c.Volumes ? { Volumes: set(c.Volumes) } : {}) };
}

/** A layered image source from layers (bottom first) and a runtime config. */
export async function layeredSource(
  layers: TestLayer[],
  opts: { name?: string; tag?: string; config?: OciRuntimeConfig; architecture?: string; corrupt?: number; badDiffID?: number } = {},
): Promise<BuiltSource> {
  const opens = layers.map(() => 0);
  const diffIDs: string[] = [];
  const digests: string[] = [];
  const blobs: Buffer[] = [];
  for (const l of layers) {
    const tar = await buildLayerTar(l.files);
    const blob = compress(tar, l.compression ?? 'gzip');
    diffIDs.push(sha256(tar));
    digests.push(sha256(blob));
    blobs.push(blob);
  }
  const configDiffIDs = diffIDs.map((d, i) => (i === opts.badDiffID ? sha256(`not ${d}`) : d));
  const config = Buffer.from(
    JSON.stringify({
      created: '2016-01-01T00:00:00Z',
      architecture: opts.architecture ?? 'amd64',
      os: 'linux',
      config: runtimeConfig(opts.config ?? {}),
      rootfs: { type: 'layers', diff_ids: configDiffIDs },
    }),
  );
  const sources: LayerSource[] = blobs.map((blob, i) => ({
    digest: digests[i] as string,
    size: blob.length,
    mediaType: 'application/vnd.oci.image.layer.v1.tar',
    open: async function* () {
      opens[i] = (opens[i] ?? 0) + 1;
      let data = blob;
      if (i === opts.corrupt) {
        data = Buffer.from(blob);
        data[data.length - 10] = (data[data.length - 10] ?? 0) ^ 0xff;
      }
      for (let off = 0; off < data.length; off += 4096) yield data.subarray(off, off + 4096);
    },
  }));
  return {
    source: { config, configDigest: sha256(config), layers: sources, name: opts.name ?? 'example.com/test/app', ...(opts.tag ? { tag: opts.tag } : {}) },
    opens,
    diffIDs,
    digests,
    blobs,
    config,
  };
}

/**
 * A listing of a directory tree: one line per path with type, mode, owner and content
 * (whiteouts and xattrs are not shown, they are not visible in a mounted or flattened view).
 */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string, rel: string) => {
    for (const name of readdirSync(abs).sort()) {
      const p = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.push(`${r}/ d ${mode} ${st.uid}:${st.gid}`);
        walk(p, r);
      } else if (st.isSymbolicLink()) out.push(`${r} -> ${readlinkSync(p)}`);
      else if (st.isFile()) out.push(`${r} f ${mode} ${st.uid}:${st.gid} ${JSON.stringify(readFileSync(p, 'utf8').slice(0, 40))}`);
      else out.push(`${r} other`);
    }
  };
  walk(dir, '');
  return out;
}

/**
 * Mounts an overlay of `lowerDirs` at `<work>/merged` as a pod would (with an upper and a work
 * dir in `work`) and returns the merged path and the unmount function.
 */
export function mountOverlay(lowerDirs: string[], work: string): { merged: string; unmount: () => void } {
  const merged = join(work, 'merged');
  for (const d of ['merged', 'upper', 'work']) mkdirSync(join(work, d), { recursive: true });
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowerDirs.join(':')},upperdir=${join(work, 'upper')},workdir=${join(work, 'work')}`, merged]);
  return { merged, unmount: () => execFileSync('umount', [merged]) };
}
