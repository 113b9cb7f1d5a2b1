/**
 * The plan of a pod's VM: what the guest init runs (the guest spec) and what run prepares on
 * the host first (mount points in the apps' roots, empty volumes, /etc files, bind mounts of
 * host volumes). Planning only reads the host; {@link applyHostPrep} writes.
 *
 * The guest sees the host only through the pod directory (9p tag `pod` at /pod). Host volumes
 * are bind-mounted on the host below `<pod>/kvm/volumes/<volume>` (recursively only when the
 * volume says so, read-only when it is), which the guest reaches through the pod share and
 * binds into each app using it; a file volume works the same way, and nothing else of the
 * host's directories is exposed. gc unmounts them with the rest of the pod directory.
 */
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  DEFAULT_PATH,
  ENV_AC_APP_NAME,
  appEnvPath,
  composeAppEnv,
  hostsPathIn,
  parseEnvFile,
  readFileTolerantSync,
  relAppRootfsPath,
  relAppStatusPath,
  resolvConfPathIn,
  sharedVolumePath,
  stage1RootfsPath,
  STAGE1_LOG_DIR,
  type EnvEntry,
} from '@rktnetes/common';
import { userError } from '@rktnetes/errors';
import { DEFAULT_CAPABILITIES, capabilityNumber, parseIsolator, type TypedIsolator, type Volume } from '@rktnetes/schema';
import { appNoNewPrivileges, appSeccomp, compileSeccompFilter, describeSeccomp } from '@rktnetes/seccomp';
import { appPathLists, type DnsConfMode } from '@rktnetes/stage1-abi';
import { CAPABILITIES, MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT, mountsUnder, type Sys } from '@rktnetes/sys';
import { resolveCredentials } from './credentials';
import { POD_KVM_DIR, guestPodPath, relSeccompPath } from './layout';
import type { KvmApp, KvmPod } from './pod';
import { findExecutable, hostPathInRoot, resolveInRoot } from './root-path';
import type { GuestApp, GuestStep } from './spec';
import { appVolumes } from './volumes';

/** Mount options of the pod share. */
export const SHARE_OPTIONS = 'trans=virtio,version=9p2000.L,msize=512000,cache=mmap,access=client';
/** Where run bind-mounts host volumes, relative to the pod directory. */
export const POD_VOLUMES_DIR = `${POD_KVM_DIR}/volumes`;
/** stage1 log directory (docs/api-service.md): `rkt/log/<app>`, CRI records. */
export const LOG_DIR = STAGE1_LOG_DIR;

/** A directory or file run creates on the host before boot, or a bind mount it makes. */
export interface HostPath {
  path: string;
  type: 'dir' | 'file' | 'bind';
  /** dir, file */
  mode?: number;
  uid?: number;
  gid?: number;
  /** for files: the content, or a host file to copy */
  content?: string;
  copyFrom?: string;
  /** bind: what to mount on `path` (which exists by then) */
  source?: string;
  recursive?: boolean;
  readOnly?: boolean;
}

/** An app's compiled seccomp program, which run writes for the guest init to install. */
export interface AppFilter {
  app: string;
  /** host path: `<pod>/kvm/seccomp/<app>.bpf` */
  path: string;
  /** `struct sock_filter[]` */
  bytes: Buffer;
  /** one line for `--debug` */
  summary: string;
}

/** Everything {@link planPod} decides. */
export interface PodPlan {
  apps: GuestApp[];
  /** host preparation, in order */
  prep: HostPath[];
  /** env files to write (`stage1/rootfs/rkt/env/<app>`) for apps that had none */
  envFiles: Array<{ app: string; env: EnvEntry[] }>;
  /** the seccomp programs of the apps that have a filter */
  filters: AppFilter[];
}

/** Options of {@link planPod}. */
export interface PlanOptions {
  hostname: string;
  dnsConfMode: DnsConfMode;
  /** give apps every capability (`--disable-capabilities-restriction`) */
  allCapabilities: boolean;
  /** no seccomp filter for any app (`--disable-seccomp`); default false */
  disableSeccomp?: boolean;
  /**
   * no default masked and read-only paths (`--disable-paths`, `rkt run --insecure-options=paths`);
   * an app's path-list annotations still apply. Default false
   */
  disablePaths?: boolean;
  /** the guest kernel's release, which a seccomp profile's `minKernel` is compared with; default the host's */
  guestKernel?: string;
  /** connect the host's stdin to the (single) app */
  interactive: boolean;
  /** the host's /etc, for `--dns-conf-mode=*=host` (tests) */
  hostEtc?: string;
}

const HOSTS_FALLBACK = (hostname: string) =>
  ['127.0.0.1 localhost localhost.localdomain localhost4 localhost4.localdomain4', '::1 localhost localhost.localdomain localhost6 localhost6.localdomain6', `127.0.1.1 ${hostname}`, ''].join('\n');

/** The guest path of `path` inside an app whose guest root is `guestRoot`. */
const inGuestRoot = (guestRoot: string, rel: string) => (rel === '/' ? guestRoot : `${guestRoot}${rel}`);

/**
 * The capability names of an app's bounding set, as stage1-coreos computes them: every
 * capability with `allCapabilities`; else the union of its `os/linux/capabilities-retain-set`
 * isolators; else appc's default set minus the union of its `…-remove-set` isolators. A seccomp
 * profile selects its rules by these.
 */
export function retainedCapabilities(isolators: readonly TypedIsolator[], allCapabilities: boolean): string[] {
  if (allCapabilities) return Object.keys(CAPABILITIES);
  const sets = (kind: TypedIsolator['kind']) => isolators.filter((i) => i.kind === kind).flatMap((i) => ('set' in i ? i.set : []));
  const retain = isolators.some((i) => i.kind === 'os/linux/capabilities-retain-set');
  if (retain) return [...new Set(sets('os/linux/capabilities-retain-set'))];
  const removed = new Set(sets('os/linux/capabilities-remove-set'));
  return DEFAULT_CAPABILITIES.filter((c) => !removed.has(c));
}

const typedIsolators = (app: KvmApp['app']): TypedIsolator[] => (app.isolators ?? []).map((i) => parseIsolator(i));

/** The capability bounding set of an app as a bit mask ({@link retainedCapabilities}); undefined = every capability. */
export function capabilityMask(app: KvmApp['app'], allCapabilities: boolean): bigint | undefined {
  if (allCapabilities) return undefined;
  let mask = 0n;
  for (const n of retainedCapabilities(typedIsolators(app), false)) {
    const bit = capabilityNumber(n);
    if (bit !== undefined) mask |= 1n << BigInt(bit);
  }
  return mask;
}

/** The app's environment: its env file when stage0 wrote one, else composed like rkt. */
function appEnvironment(pod: KvmPod, a: KvmApp): { env: EnvEntry[]; fromFile: boolean } {
  const path = appEnvPath(pod.dir, a.name);
  const text = readFileTolerantSync(path);
  if (text !== undefined) return { env: parseEnvFile(text, path), fromFile: true };
  const env = composeAppEnv((a.app.environment ?? []).map((e) => [e.name, e.value] as const)).filter(([n]) => n !== ENV_AC_APP_NAME);
  env.push([ENV_AC_APP_NAME, a.name]);
  return { env, fromFile: false };
}

function envValue(env: readonly EnvEntry[], name: string): string | undefined {
  let v: string | undefined;
  for (const [n, value] of env) if (n === name) v = value;
  return v;
}

function parseMode(mode: string | undefined, fallback: number): number {
  return mode !== undefined && /^0?[0-7]{1,4}$/.test(mode) ? parseInt(mode, 8) : fallback;
}

class Planner {
  readonly prep: HostPath[] = [];
  /** host volume name -> its guest path and kind, once bind-mounted below the pod directory */
  private readonly staged = new Map<string, { source: string; isFile: boolean }>();

  constructor(
    private readonly pod: KvmPod,
    private readonly opts: PlanOptions,
  ) {}

  /** Where the guest finds a volume's content. */
  volumeSource(v: Volume): { source: string; isFile: boolean } {
    if (v.kind === 'empty') {
      const host = sharedVolumePath(this.pod.dir, v.name);
      this.prep.push({ path: host, type: 'dir', mode: parseMode(v.mode, 0o755), uid: v.uid ?? 0, gid: v.gid ?? 0 });
      return { source: guestPodPath(`sharedVolumes/${v.name}`), isFile: false };
    }
    let staged = this.staged.get(v.name);
    if (staged === undefined) {
      const source = v.source ?? '';
      let isFile: boolean;
      try {
        isFile = !statSync(source).isDirectory();
      } catch (e) {
        throw userError('stage1-kvm.volume.source', `host volume ${v.name}: cannot use ${source}`, { cause: e, details: { volume: v.name } });
      }
      const rel = `${POD_VOLUMES_DIR}/${v.name}`;
      const host = join(this.pod.dir, rel);
      this.prep.push(
        isFile ? { path: host, type: 'file', mode: 0o644, content: '' } : { path: host, type: 'dir', mode: 0o755 },
        { path: host, type: 'bind', source, recursive: v.recursive === true, readOnly: v.readOnly === true },
      );
      staged = { source: guestPodPath(rel), isFile };
      this.staged.set(v.name, staged);
    }
    return staged;
  }

  /** Creates `rel` inside the app's root on the host (resolved there) and returns its guest path. */
  mountPoint(a: KvmApp, guestRoot: string, rel: string, type: 'dir' | 'file'): string {
    const resolved = resolveInRoot(a.rootfs, rel);
    const host = join(a.rootfs, resolved);
    if (!existsSync(host)) this.prep.push({ path: host, type, mode: type === 'dir' ? 0o755 : 0o644, content: '' });
    return inGuestRoot(guestRoot, resolved);
  }

  app(a: KvmApp, stdin: boolean): { guest: GuestApp; env: EnvEntry[]; writeEnvFile: boolean; filter?: AppFilter } {
    const exec = a.app.exec ?? [];
    if (exec.length === 0) throw userError('stage1-kvm.exec.missing', `app ${a.name} (image ${a.image.name}) has an empty exec: give one with --exec`);
    const guestRoot = guestPodPath(`stage1/rootfs${relAppRootfsPath(a.name)}`);
    const { env, fromFile } = appEnvironment(this.pod, a);
    const cwd = a.app.workingDirectory || '/';
    const path = findExecutable(a.rootfs, exec[0]!, envValue(env, 'PATH') ?? DEFAULT_PATH, cwd);
    if (!path) throw userError('stage1-kvm.exec.not-found', `cannot find ${JSON.stringify(exec[0])} of app ${a.name} in its PATH`, { details: { exec: exec[0] } });
    const creds = resolveCredentials(a.rootfs, a.app, a.name);

    const steps: GuestStep[] = [];
    if (a.runtimeApp.readOnlyRootFS) steps.push({ kind: 'mount', source: guestRoot, target: guestRoot, flags: ['bind', 'ro'] });
    steps.push({ kind: 'mount', fstype: 'proc', source: 'proc', target: this.mountPoint(a, guestRoot, '/proc', 'dir'), flags: ['nosuid', 'nodev', 'noexec'] });
    steps.push({ kind: 'mount', fstype: 'sysfs', source: 'sysfs', target: this.mountPoint(a, guestRoot, '/sys', 'dir'), flags: ['nosuid', 'nodev', 'noexec', 'ro'] });
    const dev = this.mountPoint(a, guestRoot, '/dev', 'dir');
    steps.push(
      { kind: 'mount', fstype: 'tmpfs', source: 'tmpfs', target: dev, flags: ['nosuid'], data: 'mode=755,size=65536k' },
      { kind: 'devnodes', dir: dev },
      { kind: 'mount', fstype: 'devpts', source: 'devpts', target: `${dev}/pts`, flags: ['nosuid', 'noexec'], data: 'newinstance,ptmxmode=0666,mode=0620,gid=5' },
      { kind: 'mount', fstype: 'tmpfs', source: 'shm', target: `${dev}/shm`, flags: ['nosuid', 'nodev'], data: 'mode=1777,size=65536k' },
    );
    for (const v of appVolumes(this.pod.manifest, a.runtimeApp, a.image.app)) {
      const { source, isFile } = this.volumeSource(v.volume);
      const target = this.mountPoint(a, guestRoot, v.path, isFile ? 'file' : 'dir');
      steps.push({ kind: 'mount', source, target, flags: v.readOnly ? ['bind', 'rec', 'ro'] : ['bind', 'rec'] });
    }
    steps.push(...this.dnsFiles(a, guestRoot));

    // the same lists as stage1-coreos: the app's annotations, else the defaults unless --disable-paths
    const paths = appPathLists(a.runtimeApp.annotations, this.opts.disablePaths === true);
    const caps = capabilityMask(a.app, this.opts.allCapabilities);
    // the same decisions as stage1-coreos (@rktnetes/seccomp); the program runs in the guest's kernel
    const isolators = typedIsolators(a.app);
    const seccomp = appSeccomp({
      name: a.name,
      isolators,
      annotations: a.runtimeApp.annotations,
      caps: retainedCapabilities(isolators, this.opts.allCapabilities),
      disabled: this.opts.disableSeccomp === true,
      ...(this.opts.guestKernel !== undefined ? { kernel: this.opts.guestKernel } : {}),
    });
    let filter: AppFilter | undefined;
    if (seccomp) {
      const compiled = compileSeccompFilter(seccomp);
      filter = { app: a.name, path: join(this.pod.dir, relSeccompPath(a.name)), bytes: compiled.bytes, summary: describeSeccomp(seccomp, compiled) };
    }
    const guest: GuestApp = {
      name: a.name,
      root: guestRoot,
      path,
      argv: [...exec],
      env,
      cwd,
      uid: creds.uid,
      gid: creds.gid,
      groups: creds.groups,
      ...(caps !== undefined ? { caps } : {}),
      ...(appNoNewPrivileges(isolators, seccomp !== undefined, creds.uid) ? { noNewPrivileges: true } : {}),
      ...(filter ? { seccomp: guestPodPath(relSeccompPath(a.name)) } : {}),
      ...(stdin ? { stdin: true } : {}),
      statusPath: guestPodPath(`stage1/rootfs${relAppStatusPath(a.name)}`),
      logPath: guestPodPath(`stage1/rootfs/${LOG_DIR}/${a.name}`),
      steps,
      ...(paths.masked.length ? { maskedPaths: paths.masked } : {}),
      ...(paths.readOnly.length ? { readOnlyPaths: paths.readOnly } : {}),
    };
    return { guest, env, writeEnvFile: !fromFile, ...(filter ? { filter } : {}) };
  }

  /** /etc/hosts and /etc/resolv.conf of an app, following `--dns-conf-mode`. */
  dnsFiles(a: KvmApp, guestRoot: string): GuestStep[] {
    const steps: GuestStep[] = [];
    const stage1Root = stage1RootfsPath(this.pod.dir);
    const hostEtc = this.opts.hostEtc ?? '/etc';
    const bind = (rel: string, source: string) => {
      steps.push({ kind: 'mount', source, target: this.mountPoint(a, guestRoot, rel, 'file'), flags: ['bind', 'ro'] });
    };
    const { resolv, hosts } = this.opts.dnsConfMode;
    if (resolv === 'host') {
      this.prep.push({ path: join(this.pod.dir, POD_KVM_DIR, 'resolv.conf'), type: 'file', mode: 0o644, copyFrom: join(hostEtc, 'resolv.conf') });
      bind('/etc/resolv.conf', guestPodPath(`${POD_KVM_DIR}/resolv.conf`));
    } else if ((resolv === 'stage0' || resolv === 'default') && existsSync(resolvConfPathIn(stage1Root))) {
      // stage0's file (--dns...), or by default the first network's DNS settings (pod-net)
      bind('/etc/resolv.conf', guestPodPath('stage1/rootfs/etc/rkt-resolv.conf'));
    }
    if (hosts === 'host') {
      this.prep.push({ path: join(this.pod.dir, POD_KVM_DIR, 'hosts'), type: 'file', mode: 0o644, copyFrom: join(hostEtc, 'hosts') });
      bind('/etc/hosts', guestPodPath(`${POD_KVM_DIR}/hosts`));
    } else if (hosts === 'stage0' && existsSync(hostsPathIn(stage1Root))) {
      bind('/etc/hosts', guestPodPath('stage1/rootfs/etc/rkt-hosts'));
    } else if (!existsSync(hostPathInRoot(a.rootfs, '/etc/hosts'))) {
      this.prep.push({ path: hostPathInRoot(a.rootfs, '/etc/hosts'), type: 'file', mode: 0o644, content: HOSTS_FALLBACK(this.opts.hostname) });
    }
    return steps;
  }
}

/**
 * Plans the pod's VM: for each app its guest root (on the pod share), program, environment,
 * credentials, capability bounding set, no_new_privs, seccomp program (compiled here, see
 * {@link AppFilter}), mounts (proc, sys, a small /dev, volumes, DNS files) and masked and
 * read-only paths (`appPathLists` of @rktnetes/stage1-abi, as stage1-coreos), and the shares of
 * host volumes. Reads the apps' roots on the host.
 *
 * @throws RktError user errors `stage1-kvm.exec.*`, `stage1-kvm.user.unknown`,
 *   `stage1-kvm.group.unknown`, `stage1-kvm.volume.*`, `stage1-kvm.interactive`,
 *   `stage1.seccomp.*` (an app's seccomp isolator or profile annotation),
 *   `stage1.annotation.invalid` (a malformed path-list annotation)
 */
export function planPod(pod: KvmPod, opts: PlanOptions): PodPlan {
  if (opts.interactive && pod.apps.length !== 1) {
    throw userError('stage1-kvm.interactive', `--interactive needs a pod with one app; pod ${pod.uuid} has ${pod.apps.length}`);
  }
  const p = new Planner(pod, opts);
  const apps: GuestApp[] = [];
  const envFiles: PodPlan['envFiles'] = [];
  const filters: AppFilter[] = [];
  for (const a of pod.apps) {
    const { guest, env, writeEnvFile, filter } = p.app(a, opts.interactive);
    apps.push(guest);
    if (writeEnvFile) envFiles.push({ app: a.name, env });
    if (filter) filters.push(filter);
  }
  return { apps, prep: p.prep, envFiles, filters };
}

/**
 * Creates what the plan needs on the host, in order; existing paths are left as they are, and
 * a bind target that already is a mount point (a second run of the pod) is not mounted again.
 *
 * @throws RktError `sys.mount` when a host volume cannot be bind-mounted
 */
export function applyHostPrep(prep: readonly HostPath[], sys: Pick<Sys, 'mount'>): void {
  for (const h of prep) {
    if (h.type === 'bind') {
      if (mountsUnder(h.path).some((m) => m.mountPoint === h.path)) continue;
      sys.mount(h.source!, h.path, null, MS_BIND | (h.recursive ? MS_REC : 0));
      if (h.readOnly) sys.mount(null, h.path, null, MS_BIND | MS_REMOUNT | MS_RDONLY);
      continue;
    }
    const mode = h.mode ?? (h.type === 'dir' ? 0o755 : 0o644);
    if (h.type === 'dir') {
      if (!existsSync(h.path)) {
        mkdirSync(h.path, { recursive: true, mode });
        chmodSync(h.path, mode);
        if (h.uid !== undefined || h.gid !== undefined) chownSync(h.path, h.uid ?? 0, h.gid ?? 0);
      }
      continue;
    }
    mkdirSync(dirname(h.path), { recursive: true, mode: 0o755 });
    if (h.copyFrom !== undefined) copyFileSync(h.copyFrom, h.path);
    else if (!existsSync(h.path)) writeFileSync(h.path, h.content ?? '', { mode });
  }
}
