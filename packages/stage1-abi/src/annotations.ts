/**
 * How stage0 learns about a stage1: annotations in the stage1 image manifest name the
 * entrypoints (paths inside the stage1 rootfs) and the interface version. Plus the runtime
 * annotations stage0 writes into pod manifests for the stage1. See docs/stage1-interface.md.
 */
import { isAbsolute, join, normalize } from 'node:path';
import * as fsp from 'node:fs/promises';
import { stage1ManifestPath, stage1RootfsPath } from '@rktnetes/common';
import { RktError, systemError, userError } from '@rktnetes/errors';
import { DEFAULT_STAGE1_INTERFACE_VERSION } from './versions';

/** The entrypoint annotations, by short name. */
export const STAGE1_ENTRYPOINTS = {
  run: 'coreos.com/rkt/stage1/run',
  enter: 'coreos.com/rkt/stage1/enter',
  gc: 'coreos.com/rkt/stage1/gc',
  stop: 'coreos.com/rkt/stage1/stop',
  'app/add': 'coreos.com/rkt/stage1/app/add',
  'app/rm': 'coreos.com/rkt/stage1/app/rm',
  'app/start': 'coreos.com/rkt/stage1/app/start',
  'app/stop': 'coreos.com/rkt/stage1/app/stop',
  attach: 'coreos.com/rkt/stage1/attach',
} as const;
export type Stage1EntrypointName = keyof typeof STAGE1_ENTRYPOINTS;
export const STAGE1_ENTRYPOINT_NAMES = Object.keys(STAGE1_ENTRYPOINTS) as Stage1EntrypointName[];

/** Entrypoints a stage1 must declare; the others are optional features. */
export const REQUIRED_STAGE1_ENTRYPOINTS: readonly Stage1EntrypointName[] = ['run', 'enter', 'gc'];
/** The entrypoints whose presence means the stage1 supports mutable pods (rkt's test). */
export const MUTABLE_STAGE1_ENTRYPOINTS: readonly Stage1EntrypointName[] = ['app/rm', 'app/start', 'app/stop'];

/** Stage1 image manifest annotation: the interface version, a decimal integer. */
export const ANNOTATION_INTERFACE_VERSION = 'coreos.com/rkt/stage1/interface-version';
/** Pod manifest annotation written by stage0: `true` when the pod is mutable (absent: false). */
export const ANNOTATION_POD_MUTABLE = 'coreos.com/rkt/stage1/mutable';
/** App annotations in the pod manifest: how the app's stdin/stdout/stderr are wired. */
export const ANNOTATION_APP_STDIN = 'coreos.com/rkt/stage2/stdin';
export const ANNOTATION_APP_STDOUT = 'coreos.com/rkt/stage2/stdout';
export const ANNOTATION_APP_STDERR = 'coreos.com/rkt/stage2/stderr';
/** Values of the stdio annotations. */
export const APP_IO_MODES = ['interactive', 'log', 'null', 'stream', 'tty'] as const;
export type AppIoMode = (typeof APP_IO_MODES)[number];

/** The part of an annotation this library needs (structurally an appc Annotation). */
export interface AnnotationLike {
  name: string;
  value: string;
}
/** An image manifest, or just its annotations. */
export type ManifestLike = { annotations?: readonly AnnotationLike[] | undefined } | readonly AnnotationLike[];

function annotationsOf(m: ManifestLike): readonly AnnotationLike[] {
  return Array.isArray(m) ? (m as readonly AnnotationLike[]) : ((m as { annotations?: readonly AnnotationLike[] }).annotations ?? []);
}

function getAnnotation(m: ManifestLike, name: string): string | undefined {
  return annotationsOf(m).find((a) => a.name === name)?.value;
}

const annotationName = (name: Stage1EntrypointName | string) => (name in STAGE1_ENTRYPOINTS ? STAGE1_ENTRYPOINTS[name as Stage1EntrypointName] : name);

/**
 * The entrypoint path a stage1 manifest declares (e.g. `/init`), by short name (`run`,
 * `app/add`) or full annotation name; undefined when it declares none.
 */
export function stage1EntrypointFromManifest(manifest: ManifestLike, name: Stage1EntrypointName | string): string | undefined {
  return getAnnotation(manifest, annotationName(name));
}

/**
 * Like {@link stage1EntrypointFromManifest} but a missing entrypoint is a user error
 * `stage1.entrypoint.missing` ("the stage1 does not implement stop").
 */
export function requireStage1Entrypoint(manifest: ManifestLike, name: Stage1EntrypointName | string): string {
  const ep = stage1EntrypointFromManifest(manifest, name);
  if (ep === undefined) {
    const short = Object.entries(STAGE1_ENTRYPOINTS).find(([, v]) => v === annotationName(name))?.[0] ?? name;
    throw userError('stage1.entrypoint.missing', `stage1 image does not implement the ${short} entrypoint (${annotationName(name)})`, {
      details: { entrypoint: annotationName(name) },
    });
  }
  return ep;
}

/**
 * The interface version a stage1 manifest declares; 1 when the annotation is absent. A value
 * that is not a positive decimal integer is a user error `stage1.interface-version.invalid`.
 */
export function stage1InterfaceVersion(manifest: ManifestLike): number {
  const v = getAnnotation(manifest, ANNOTATION_INTERFACE_VERSION);
  if (v === undefined) return DEFAULT_STAGE1_INTERFACE_VERSION;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RktError('stage1.interface-version.invalid', `invalid stage1 interface version ${JSON.stringify(v)}`, { kind: 'user', details: { value: v } });
  }
  return n;
}

/** Whether the stage1 supports mutable pods: it declares app/rm, app/start and app/stop. */
export function stage1SupportsMutable(manifest: ManifestLike): boolean {
  return MUTABLE_STAGE1_ENTRYPOINTS.every((n) => stage1EntrypointFromManifest(manifest, n) !== undefined);
}

/** Everything stage0 needs to know about a stage1, read from its manifest. */
export interface Stage1Info {
  interfaceVersion: number;
  entrypoints: Partial<Record<Stage1EntrypointName, string>>;
  supportsMutable: boolean;
}

/** Summarises a stage1 manifest. Throws like {@link stage1InterfaceVersion}. */
export function describeStage1(manifest: ManifestLike): Stage1Info {
  const entrypoints: Partial<Record<Stage1EntrypointName, string>> = {};
  for (const n of STAGE1_ENTRYPOINT_NAMES) {
    const ep = stage1EntrypointFromManifest(manifest, n);
    if (ep !== undefined) entrypoints[n] = ep;
  }
  return { interfaceVersion: stage1InterfaceVersion(manifest), entrypoints, supportsMutable: stage1SupportsMutable(manifest) };
}

/**
 * The host path of an entrypoint in a pod: `<pod>/stage1/rootfs/<entrypoint>`. The declared
 * path must be absolute and stay inside the rootfs; otherwise a user error
 * `stage1.entrypoint.invalid`.
 */
export function stage1EntrypointPath(podDir: string, entrypoint: string): string {
  const norm = normalize(entrypoint);
  if (!isAbsolute(entrypoint) || norm === '/' || norm.split('/').includes('..') || entrypoint.includes('\0')) {
    throw userError('stage1.entrypoint.invalid', `invalid stage1 entrypoint path ${JSON.stringify(entrypoint)}: must be an absolute path inside the stage1 rootfs`, {
      details: { entrypoint },
    });
  }
  return join(stage1RootfsPath(podDir), norm);
}

/**
 * Reads the annotations of `<pod>/stage1/manifest`, checking only what this library relies on
 * (an object whose `annotations`, if present, is an array of string name/value pairs). Full
 * validation is the schema library's job. Errors: system `stage1.manifest.read`, user
 * `stage1.manifest.invalid`.
 */
export async function readStage1Annotations(podDir: string): Promise<AnnotationLike[]> {
  const path = stage1ManifestPath(podDir);
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (e) {
    throw systemError('stage1.manifest.read', `cannot read stage1 manifest ${path}`, { cause: e, details: { path } });
  }
  return parseStage1Annotations(text, path);
}

/** The checking half of {@link readStage1Annotations}, for a manifest already in memory. */
export function parseStage1Annotations(text: string, source = 'stage1 manifest'): AnnotationLike[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw userError('stage1.manifest.invalid', `invalid ${source}: not JSON`, { cause: e });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw userError('stage1.manifest.invalid', `invalid ${source}: not an object`);
  const anns = (raw as { annotations?: unknown }).annotations;
  if (anns === undefined || anns === null) return [];
  if (!Array.isArray(anns)) throw userError('stage1.manifest.invalid', `invalid ${source}: annotations is not an array`);
  return anns.map((a, i) => {
    if (typeof a !== 'object' || a === null || typeof a.name !== 'string' || typeof a.value !== 'string') {
      throw userError('stage1.manifest.invalid', `invalid ${source}: annotation ${i} needs string name and value`);
    }
    return { name: a.name, value: a.value };
  });
}
