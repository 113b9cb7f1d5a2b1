/**
 * One app of the pod, resolved from its runtime app and image manifest into everything the
 * init needs: identity, program, environment, capabilities, seccomp, resources and mounts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { appImageManifestPath, appRootfsPath, type EnvEntry } from '@rktnetes/common';
import { userError } from '@rktnetes/errors';
import {
  type App,
  getAnnotation,
  type ImageManifest,
  type OomScoreAdjIsolator,
  type PodManifest,
  type RuntimeApp,
  type TypedIsolator,
  parseImageManifest,
  parseIsolator,
} from '@rktnetes/schema';
import {
  ANNOTATION_APP_MASKED_PATHS,
  ANNOTATION_APP_PID_NAMESPACE,
  type AppPidNamespace,
  appPidNamespace,
  ANNOTATION_APP_READONLY_PATHS,
  parsePathList,
} from '@rktnetes/stage1-abi';
import { appNoNewPrivileges, appSeccomp, type SeccompSpec } from '@rktnetes/seccomp';
import { type AppCapabilities, appCapabilities } from './caps';
import type { AppResources } from './cgroups';
import { composeEnvironment, resolveExec } from './exec';
import { type AppIdentity, resolveIdentity } from './identity';
import { type AppMount, appMounts } from './volumes';

/** Options of the pod that shape every app. */
export interface AppOptions {
  disableCapabilitiesRestriction: boolean;
  disableSeccomp: boolean;
  /** `AC_METADATA_URL`, when the metadata service is used */
  metadataUrl?: string;
  /** called for isolators this stage1 does not apply */
  warn?: (message: string) => void;
}

/** An app ready to be handed to the init. */
export interface PreparedApp {
  name: string;
  /** host path of its root filesystem */
  root: string;
  image: ImageManifest;
  app: App;
  identity: AppIdentity;
  workDir: string;
  /** argv; argv[0] is the program's path inside the app */
  argv: string[];
  /** the image's `pre-start` event handler: argv, argv[0] resolved like the program's */
  preStart?: string[];
  /** the image's `post-stop` event handler */
  postStop?: string[];
  env: EnvEntry[];
  caps: AppCapabilities;
  /** undefined: no seccomp filter */
  seccomp?: SeccompSpec;
  noNewPrivs: boolean;
  /** the `rktnetes.io/stage2/masked-paths` annotation: replaces the stage1's masked paths */
  maskedPaths?: string[];
  /** the `rktnetes.io/stage2/readonly-paths` annotation: replaces the stage1's read-only paths */
  readOnlyPaths?: string[];
  resources: AppResources;
  oomScoreAdj?: number;
  mounts: AppMount[];
  readOnlyRootFS: boolean;
  /** the `rktnetes.io/stage2/pid-namespace` annotation: `private` gives the app a pid namespace of its own */
  pidNamespace: AppPidNamespace;
}

const APPLIED = new Set([
  'resource/memory',
  'resource/cpu',
  'os/linux/capabilities-retain-set',
  'os/linux/capabilities-remove-set',
  'os/linux/no-new-privileges',
  'os/linux/seccomp-retain-set',
  'os/linux/seccomp-remove-set',
  'os/linux/oom-score-adj',
  'os/linux/cpu-shares',
]);

const last = <K extends TypedIsolator['kind']>(list: readonly TypedIsolator[], ...kinds: K[]) =>
  list.filter((i): i is Extract<TypedIsolator, { kind: K }> => (kinds as string[]).includes(i.kind)).at(-1);

/**
 * Resolves one app of the pod. The runtime app's `app` (what stage0 wrote, possibly with
 * command-line overrides) wins over the image's. Later isolators override earlier ones of the
 * same name; isolators this stage1 does not apply are reported through `opts.warn` and ignored.
 * no_new_privs is the `os/linux/no-new-privileges` isolator's value when the app has one;
 * without one it is set for a non-root app with a seccomp filter (rkt's rule). The
 * `rktnetes.io/stage2/masked-paths` and `.../readonly-paths` annotations are parsed into
 * `maskedPaths` and `readOnlyPaths`; `rktnetes.io/stage2/pid-namespace` into `pidNamespace`.
 * Errors (user): `stage1.app.missing` (no rootfs), `stage1.exec.*`, `stage1.user.*`,
 * `stage1.group.*`, `stage1.seccomp.*` (including `stage1.seccomp.profile-invalid`),
 * `stage1.annotation.invalid`, `stage1.volume.*`, schema errors of the manifests.
 */
export function prepareApp(pod: string, ra: RuntimeApp, manifest: PodManifest, opts: AppOptions): PreparedApp {
  const root = appRootfsPath(pod, ra.name);
  if (!existsSync(root)) throw userError('stage1.app.missing', `app ${ra.name}: no root filesystem at ${root}`, { details: { app: ra.name } });
  const imagePath = appImageManifestPath(pod, ra.name);
  const image = parseImageManifest(readFileSync(imagePath), { source: imagePath });
  const app = ra.app ?? image.app;
  if (!app) throw userError('stage1.exec.missing', `app ${ra.name} has no executable`, { details: { app: ra.name } });
  const workDir = app.workingDirectory || '/';
  const identity = resolveIdentity(root, ra.name, app.user, app.group, app.supplementaryGIDs);
  const program = resolveExec(root, ra.name, app.exec, workDir, app.environment);
  const isolators = (app.isolators ?? []).map((i) => parseIsolator(i));
  for (const i of isolators) {
    const name = i.kind === 'unknown' ? i.name : i.kind;
    if (!APPLIED.has(name)) opts.warn?.(`app ${ra.name}: isolator ${name} is not supported by stage1-coreos, ignoring it`);
  }
  const caps = appCapabilities(isolators, identity.uid, opts.disableCapabilitiesRestriction);
  // which filter and no_new_privs: the decisions every flavor shares (@rktnetes/seccomp)
  const seccomp = appSeccomp({ name: ra.name, isolators, annotations: ra.annotations, caps: caps.retained, disabled: opts.disableSeccomp });
  const memory = last(isolators, 'resource/memory');
  const cpu = last(isolators, 'resource/cpu');
  const shares = last(isolators, 'os/linux/cpu-shares');
  const oom = last(isolators, 'os/linux/oom-score-adj') as OomScoreAdjIsolator | undefined;
  // an event handler whose program is not found fails when it runs, as the app's status
  const handler = (name: 'pre-start' | 'post-stop'): string[] | undefined => {
    const exec = app.eventHandlers?.find((h) => h.name === name)?.exec;
    if (!exec?.length) return undefined;
    let bin = exec[0]!;
    try {
      bin = resolveExec(root, ra.name, exec, workDir, app.environment);
    } catch {
      // kept as given: exec fails in the app's context
    }
    return [bin, ...exec.slice(1)];
  };
  const preStart = handler('pre-start');
  const postStop = handler('post-stop');
  const pathList = (name: string) => {
    const v = getAnnotation(ra.annotations, name);
    return v === undefined ? undefined : parsePathList(v, name);
  };
  const maskedPaths = pathList(ANNOTATION_APP_MASKED_PATHS);
  const readOnlyPaths = pathList(ANNOTATION_APP_READONLY_PATHS);
  const resources: AppResources = {};
  if (memory?.limit !== undefined) resources.memoryLimit = memory.limit;
  if (cpu?.limit !== undefined) resources.cpuLimitMilli = cpu.limit;
  if (shares !== undefined) resources.cpuShares = shares.value;
  return {
    name: ra.name,
    root,
    image,
    app,
    identity,
    workDir,
    argv: [program, ...(app.exec ?? []).slice(1)],
    ...(preStart ? { preStart } : {}),
    ...(postStop ? { postStop } : {}),
    env: composeEnvironment(ra.name, app.environment, opts.metadataUrl),
    caps,
    ...(seccomp ? { seccomp } : {}),
    noNewPrivs: appNoNewPrivileges(isolators, seccomp !== undefined, identity.uid),
    ...(maskedPaths ? { maskedPaths } : {}),
    ...(readOnlyPaths ? { readOnlyPaths } : {}),
    resources,
    ...(oom ? { oomScoreAdj: oom.value } : {}),
    mounts: appMounts(ra, app, manifest.volumes),
    readOnlyRootFS: ra.readOnlyRootFS ?? false,
    pidNamespace: appPidNamespace(getAnnotation(ra.annotations, ANNOTATION_APP_PID_NAMESPACE)),
  };
}
