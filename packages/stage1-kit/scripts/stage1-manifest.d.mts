// Types of stage1-manifest.mjs (plain JavaScript for the build scripts), for the tests.

/** An entry of a stage1 rootfs, as tools/make-aci.mjs takes it (path relative to `rootfs/`). */
export interface ImageEntry {
  path: string;
  type?: 'file' | 'dir' | 'symlink';
  source?: string;
  content?: string | Buffer;
  target?: string;
  mode?: number;
}

/** An appc image manifest as the build writes it. */
export interface Stage1ImageManifest {
  acKind: 'ImageManifest';
  acVersion: string;
  name: string;
  labels: Array<{ name: string; value: string }>;
  annotations: Array<{ name: string; value: string }>;
}

export const STAGE1_ANNOTATION_PREFIX: 'coreos.com/rkt/stage1/';
export const STAGE1_AC_VERSION: string;
export function appcArch(arch?: string): string;
export function entrypointFile(entrypoint: string): string;
export function stage1Manifest(o: { name: string; version: string; entrypoints: readonly string[]; interfaceVersion: string; arch?: string; os?: string }): Stage1ImageManifest;
export function koffiEntries(pkgDir?: string): ImageEntry[];
export function stage1ProgramEntries(o: { program: string; entrypoints: readonly string[]; content?: string | Buffer; pkgDir?: string }): ImageEntry[];
