/**
 * The pod manifest of a new pod, from the command line and the app images' manifests, as rkt's
 * stage0 generates it: one runtime app per image with the image's app section and the
 * command line's overrides, the volumes, exposed ports and annotations.
 *
 * Arguments after an image are appended to its exec, except for a Docker/OCI image, whose
 * `Cmd` they replace (see ./docker-image).
 *
 * Environment precedence, lowest first (rkt's documentation of `rkt run`): the parent's
 * environment (`--inherit-env`, never replacing the image's), the image's, `--set-env-file`,
 * `--set-env`, and the app's own `--environment`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { userError } from '@rktnetes/errors';
import {
  APPC_VERSION,
  getLabel,
  isACIdentifier,
  isACName,
  isEnvName,
  parsePodManifest,
  VALID_OS_ARCH,
  type App,
  type EnvironmentVariable,
  type ImageManifest,
  type Isolator,
  type PodManifest,
  type RuntimeApp,
  setAnnotation,
} from '@rktnetes/schema';
import {
  ANNOTATION_APP_MASKED_PATHS,
  ANNOTATION_APP_PID_NAMESPACE,
  ANNOTATION_APP_READONLY_PATHS,
  ANNOTATION_APP_SECCOMP_PROFILE,
  ANNOTATION_POD_MUTABLE,
  compactSeccompProfile,
  formatPathList,
} from '@rktnetes/stage1-abi';
import { mergeMounts, parseSeccompFlag, replaceIsolator, SECCOMP_ISOLATORS, type CliApp, type EnvList, type PodArgs } from './args';
import { execWithArgs } from './docker-image';
import { applyPodSettings } from './settings';

/** An app of the command line with its image resolved in the store. */
export interface ResolvedApp {
  cli: CliApp;
  /** full store key */
  imageKey: string;
  manifest: ImageManifest;
}

/** rkt's ImageNameToAppName: the last path component of the image name, sanitized. */
export function imageNameToAppName(name: string): string {
  const last = name.split('/').pop() ?? '';
  const s = last
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '');
  if (s === '') throw userError('pod.app-name', `cannot derive an app name from image name ${JSON.stringify(name)}; use --name`);
  return s;
}

/** Checks the os and arch labels an app image must have (rkt refuses images without them). */
export function checkImageOsArch(m: ImageManifest, key: string): void {
  const os = getLabel(m.labels, 'os');
  const arch = getLabel(m.labels, 'arch');
  if (os === undefined) throw userError('pod.image-labels', `image ${m.name} (${key}): missing os label in the image manifest`);
  if (arch === undefined) throw userError('pod.image-labels', `image ${m.name} (${key}): missing arch label in the image manifest`);
  const arches = VALID_OS_ARCH[os];
  if (!arches) throw userError('pod.image-labels', `image ${m.name} (${key}): bad os ${JSON.stringify(os)}`);
  if (!arches.includes(arch)) throw userError('pod.image-labels', `image ${m.name} (${key}): bad arch ${JSON.stringify(arch)} for ${os}`);
}

/** rkt's mergeEnvs: `override` replaces existing names in place, new names are appended. */
export function mergeEnv(env: EnvironmentVariable[], entries: Iterable<readonly [string, string]>, override: boolean): void {
  for (const [name, value] of entries) {
    const existing = env.find((e) => e.name === name);
    if (existing) {
      if (override) existing.value = value;
    } else {
      env.push({ name, value });
    }
  }
}

/** What the environment of every app gets from pod-wide flags. */
export interface PodEnv {
  inherit?: NodeJS.ProcessEnv;
  setEnvFile: EnvList;
  setEnv: EnvList;
}

function checkEnvNames(entries: EnvList, what: string): void {
  for (const [name] of entries) {
    if (!isEnvName(name)) throw userError('pod.env', `invalid environment variable name ${JSON.stringify(name)} in ${what}`);
  }
}

/**
 * Applies a `--seccomp` value to an app's isolators; returns the annotation value of a profile
 * (read now, checked and compacted). Errors (user): `cli.seccomp-profile` when the file cannot
 * be read, `stage1.seccomp.profile-invalid`; usage errors for a malformed value.
 */
export function applySeccompFlag(value: string, isolators: Isolator[]): string | undefined {
  const flag = parseSeccompFlag(value);
  if (flag.kind === 'isolator' || flag.kind === 'unconfined') replaceIsolator(isolators, flag.isolator, SECCOMP_ISOLATORS);
  else if (flag.kind === 'default') for (let i = isolators.length - 1; i >= 0; i--) if ((SECCOMP_ISOLATORS as readonly string[]).includes(isolators[i]!.name)) isolators.splice(i, 1);
  if (flag.kind !== 'profile') return undefined;
  const path = resolve(flag.path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw userError('cli.seccomp-profile', `cannot read seccomp profile ${path}`, { cause: e, details: { path } });
  }
  return compactSeccompProfile(text, path);
}

/**
 * The runtime app for one image (rkt's generateRuntimeApp + the environment merge). The
 * rktnetes per-app security flags become app annotations: `--seccomp=profile=PATH` the
 * profile's JSON in `rktnetes.io/stage2/seccomp-profile`, `--masked-paths` and
 * `--readonly-paths` JSON lists in `rktnetes.io/stage2/masked-paths` and `.../readonly-paths`.
 */
export function runtimeAppFor(r: ResolvedApp, podMounts: PodArgs['mounts'], env: PodEnv): RuntimeApp {
  const { cli, manifest } = r;
  const name = cli.name ?? imageNameToAppName(manifest.name);
  if (!isACName(name)) throw userError('pod.app-name', `invalid app name ${JSON.stringify(name)}: lowercase letters, digits and dashes`);
  if (!manifest.app && cli.exec === undefined) {
    throw userError('pod.no-app', `image ${manifest.name} (${r.imageKey}) has no app section and --exec argument is not provided`);
  }
  const app: App = manifest.app
    ? (JSON.parse(JSON.stringify(manifest.app)) as App)
    : { user: String(process.getuid?.() ?? 0), group: String(process.getgid?.() ?? 0) };
  if (cli.exec !== undefined) app.exec = [cli.exec];
  if (cli.args !== undefined) {
    // after --exec the arguments follow it (rkt); otherwise a Docker image's Cmd is replaced
    app.exec = cli.exec !== undefined ? [...(app.exec ?? []), ...cli.args] : execWithArgs(manifest, app.exec, cli.args);
  }
  if (cli.workingDir !== undefined) app.workingDirectory = cli.workingDir;
  const isolators: Isolator[] = [...(app.isolators ?? [])];
  for (const iso of cli.isolators) replaceIsolator(isolators, iso);
  if (cli.capsRetain || cli.capsRemove) {
    const caps = ['os/linux/capabilities-retain-set', 'os/linux/capabilities-remove-set'];
    const iso: Isolator = cli.capsRetain
      ? { name: caps[0]!, value: { set: cli.capsRetain } }
      : { name: caps[1]!, value: { set: cli.capsRemove } };
    replaceIsolator(isolators, iso, caps);
  }
  const seccompProfile = cli.seccomp !== undefined ? applySeccompFlag(cli.seccomp, isolators) : undefined;
  if (isolators.length) app.isolators = isolators;
  else delete app.isolators;
  if (cli.user !== undefined) app.user = cli.user;
  if (cli.group !== undefined) app.group = cli.group;
  if (cli.supplementaryGIDs !== undefined) app.supplementaryGIDs = cli.supplementaryGIDs;
  if (cli.userAnnotations) app.userAnnotations = cli.userAnnotations;
  if (cli.userLabels) app.userLabels = cli.userLabels;

  const environment: EnvironmentVariable[] = [...(app.environment ?? [])];
  if (env.inherit) {
    const inherited = Object.entries(env.inherit).filter((e): e is [string, string] => e[1] !== undefined && isEnvName(e[0]) && !/[\n\0]/.test(e[1]));
    mergeEnv(environment, inherited, false);
  }
  checkEnvNames(env.setEnvFile, '--set-env-file');
  checkEnvNames(env.setEnv, '--set-env');
  checkEnvNames(cli.environment, '--environment');
  mergeEnv(environment, env.setEnvFile, true);
  mergeEnv(environment, env.setEnv, true);
  mergeEnv(environment, cli.environment, true);
  if (environment.length) app.environment = environment;

  const ra: RuntimeApp = {
    name,
    image: { name: manifest.name, id: r.imageKey, ...(manifest.labels?.length ? { labels: manifest.labels } : {}) },
    app,
  };
  const mounts = mergeMounts(podMounts, cli.mounts);
  if (mounts.length) ra.mounts = mounts;
  if (cli.readOnlyRootFS) ra.readOnlyRootFS = true;
  if (cli.annotations.length) {
    for (const [k] of cli.annotations) {
      if (!isACIdentifier(k)) throw userError('pod.annotation', `error parsing annotation key ${JSON.stringify(k)}: not an AC identifier`);
    }
    ra.annotations = cli.annotations.map(([n, value]) => ({ name: n, value }));
  }
  const extensions: Array<[string, string | undefined]> = [
    [ANNOTATION_APP_SECCOMP_PROFILE, seccompProfile],
    [ANNOTATION_APP_MASKED_PATHS, cli.maskedPaths && formatPathList(cli.maskedPaths)],
    [ANNOTATION_APP_READONLY_PATHS, cli.readOnlyPaths && formatPathList(cli.readOnlyPaths)],
    [ANNOTATION_APP_PID_NAMESPACE, cli.pidNamespace],
  ];
  for (const [name, value] of extensions) if (value !== undefined) ra.annotations = setAnnotation(ra.annotations, name, value);
  return ra;
}

/**
 * The pod manifest for `apps` and the pod-wide flags, validated (schema errors are user errors
 * `schema.invalid`). Apps must have unique names (`pod.duplicate-app`), exposed ports must
 * name a port of some app (`pod.port`).
 */
export function generatePodManifest(apps: readonly ResolvedApp[], o: PodArgs, env: PodEnv): PodManifest {
  const runtimeApps: RuntimeApp[] = [];
  for (const r of apps) {
    const ra = runtimeAppFor(r, o.mounts, env);
    if (runtimeApps.some((a) => a.name === ra.name)) throw userError('pod.duplicate-app', `error: multiple apps with name ${ra.name}`);
    runtimeApps.push(ra);
  }
  const pm: Record<string, unknown> = { acKind: 'PodManifest', acVersion: APPC_VERSION, apps: runtimeApps };
  if (o.volumes.length) pm.volumes = o.volumes;
  if (o.ports.length) {
    checkPorts(runtimeApps, o.ports);
    pm.ports = o.ports;
  }
  const annotations = [{ name: ANNOTATION_POD_MUTABLE, value: 'false' }];
  for (const [name, value] of o.podAnnotations) {
    if (!isACIdentifier(name)) throw userError('pod.annotation', `error parsing annotation key ${JSON.stringify(name)}: not an AC identifier`);
    if (name === ANNOTATION_POD_MUTABLE) continue;
    annotations.push({ name, value });
  }
  pm.annotations = annotations;
  applyPodSettings(pm, o.podSettings);
  if (Object.keys(o.podUserAnnotations).length) pm.userAnnotations = o.podUserAnnotations;
  if (Object.keys(o.podUserLabels).length) pm.userLabels = o.podUserLabels;
  return parsePodManifest(pm);
}

/** Every exposed port must name a port of an app; host ports must be unique (rkt's ForwardedPorts). */
export function checkPorts(apps: readonly RuntimeApp[], ports: PodManifest['ports']): void {
  const hostPorts = new Set<string>();
  for (const p of ports ?? []) {
    const found = p.podPort ?? apps.flatMap((a) => a.app?.ports ?? []).find((ap) => ap.name === p.name);
    if (!found) throw userError('pod.port', `port ${JSON.stringify(p.name)} is not defined by any app`);
    const key = `${p.hostIP ?? ''}:${p.hostPort}:${found.protocol}`;
    if (hostPorts.has(key)) throw userError('pod.port', `host port ${p.hostPort} is forwarded twice`);
    hostPorts.add(key);
  }
}
