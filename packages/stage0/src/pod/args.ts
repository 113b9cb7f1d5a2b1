/**
 * The command lines of `rkt run` and `rkt prepare`, parsed as rkt parses them: pod-wide flags
 * anywhere, images as positionals, per-app flags applying to the image before them, `--`
 * starting an image's arguments and `---` ending them:
 *
 *   rkt run --volume=data,kind=host,source=/srv img1 --mount volume=data,target=/d -- -v --- img2 --name=two
 *
 * `--mount` before the first image applies to every app; `--annotation`, `--user-annotation`
 * and `--user-label` before the first image apply to the pod.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { posix } from 'node:path';
import { usageError, userError } from '@rktnetes/errors';
import { isACName, parseIsolator, type ExposedPort, type Isolator, type Mount, type Volume } from '@rktnetes/schema';
import { isMountPropagation, parseIpcMode, parseNetList, type AppPidNamespace, type DnsConfMode, type IpcMode, type NetEntry } from '@rktnetes/stage1-abi';
import type { GlobalOptions } from '../cli/globals';
import type { PullPolicy } from '../fetch/index';
import { stage1FlagSpecs, type Stage1Choice } from '../stage1/select';
import { commandParser } from './cli';
import { FlagParser, invalidFlag, parseBoolFlag, type FlagSpec } from './flags';
import { emptyPodSettings, parsePidNamespaceFlag, podSettingsFlagSpecs, type PodSettingsArgs } from './settings';

let net: typeof import('node:net') | undefined;
/** node:net's isIP; the module is loaded on first use, not at every start of `rkt run` */
function isIP(s: string): number {
  net ??= createRequire(import.meta.url)('node:net') as typeof import('node:net');
  return net.isIP(s);
}

/** An ordered NAME -> value list with rkt's "already set" check. */
export type EnvList = Array<[name: string, value: string]>;

/** One image of the command line and the per-app flags that followed it. */
export interface CliApp {
  image: string;
  /** arguments after `--`; undefined when none were given */
  args?: string[];
  signature?: string;
  name?: string;
  exec?: string;
  workingDir?: string;
  readOnlyRootFS?: boolean;
  mounts: Mount[];
  user?: string;
  group?: string;
  supplementaryGIDs?: number[];
  /** isolators to set, replacing the image's of the same name */
  isolators: Isolator[];
  capsRetain?: string[];
  capsRemove?: string[];
  /** the `--seccomp` value, see {@link parseSeccompFlag} */
  seccomp?: string;
  /** `--masked-paths`: replaces the stage1's masked paths (empty: none) */
  maskedPaths?: string[];
  /** `--readonly-paths`: replaces the stage1's read-only paths (empty: none) */
  readOnlyPaths?: string[];
  /** `--pid-namespace` */
  pidNamespace?: AppPidNamespace;
  annotations: EnvList;
  userAnnotations?: Record<string, string>;
  userLabels?: Record<string, string>;
  environment: EnvList;
}

/** DNS settings from `--dns*` and `--hosts-entry`, as rkt's parseDNSFlags gives them. */
export interface DnsOptions {
  mode: DnsConfMode;
  nameservers: string[];
  search: string[];
  options: string[];
  domain: string;
  /** ip -> hostnames, for `etc/rkt-hosts` */
  hosts: Map<string, string[]>;
}

/** Flags of `rkt run` and `rkt run-prepared` that matter only when the pod starts. */
export interface RunFlags {
  /** undefined: no `--net` given (stage0 then sends `default`) */
  net?: NetEntry[];
  interactive: boolean;
  dns: string[];
  dnsSearch: string[];
  dnsOpt: string[];
  dnsDomain: string;
  hostsEntries: string[];
  mdsRegister: boolean;
  hostname?: string;
  ipc?: IpcMode;
}

/** Everything `rkt run` / `rkt prepare` was told. */
export interface PodArgs extends RunFlags {
  apps: CliApp[];
  /** `--mount` before the first image: every app gets them */
  mounts: Mount[];
  volumes: Volume[];
  ports: ExposedPort[];
  stage1: { choice?: Stage1Choice };
  pullPolicy: PullPolicy;
  storeOnly: boolean;
  noStore: boolean;
  inheritEnv: boolean;
  setEnv: EnvList;
  setEnvFile: EnvList;
  noOverlay: boolean;
  /** `--private-users`: a user namespace for the pod */
  privateUsers: boolean;
  podManifest?: string;
  uuidFileSave?: string;
  quiet: boolean;
  podAnnotations: EnvList;
  podUserAnnotations: Record<string, string>;
  podUserLabels: Record<string, string>;
  /** `--sysctl`, `--cgroup-parent`, `--pid` */
  podSettings: PodSettingsArgs;
}

const usage = (code: string, message: string) => usageError(`cli.${code}`, message);

function splitKV(value: string, flag: string): [string, string] {
  const eq = value.indexOf('=');
  if (eq < 0) throw usage('invalid-value', `invalid format of --${flag} flag ${JSON.stringify(value)}: expected NAME=VALUE`);
  return [value.slice(0, eq), value.slice(eq + 1)];
}

function setUnique(list: EnvList, name: string, value: string, what: string): void {
  if (list.some(([n]) => n === name)) throw usage('invalid-value', `${what} ${JSON.stringify(name)} already set`);
  list.push([name, value]);
}

/** Sets or replaces `name` in an ordered list (later flags win, as with Go maps). */
export function setEnv(list: EnvList, name: string, value: string): void {
  const i = list.findIndex(([n]) => n === name);
  if (i >= 0) list[i] = [name, value];
  else list.push([name, value]);
}

/** Reads a `--set-env-file`: NAME=value lines; empty lines and lines starting with `#` or `;` skipped. */
export function readEnvFile(path: string, into: EnvList): void {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw userError('cli.env-file', `cannot read environment file ${path}`, { cause: e });
  }
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw usage('invalid-value', `environment variable must be specified as name=value (file ${JSON.stringify(path)})`);
    const name = line.slice(0, eq);
    if (into.some(([n]) => n === name)) throw usage('invalid-value', `environment variable ${JSON.stringify(name)} already set (file ${JSON.stringify(path)})`);
    into.push([name, line.slice(eq + 1)]);
  }
}

/** `k1=v1,k2=v2` into pairs; a repeated key is an error. */
function params(value: string, flag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of value.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    if (out.has(key)) throw invalidFlag(flag, value, `parameter ${JSON.stringify(key)} given twice`);
    out.set(key, eq < 0 ? '' : part.slice(eq + 1));
  }
  return out;
}

function goBool(v: string, flag: string, value: string): boolean {
  try {
    return parseBoolFlag(v, flag);
  } catch {
    throw invalidFlag(flag, value, `${JSON.stringify(v)} is not a boolean`);
  }
}

function goInt(v: string, flag: string, value: string): number {
  if (!/^[+-]?\d+$/.test(v)) throw invalidFlag(flag, value, `${JSON.stringify(v)} is not an integer`);
  return Number(v);
}

/**
 * Parses a `--volume` value (appc's VolumeFromString): `NAME,kind=host|empty[,source=PATH]
 * [,readOnly=BOOL][,recursive=BOOL][,mode=MODE][,uid=N][,gid=N]`, plus rktnetes'
 * `propagation=rprivate|rslave|rshared` for host volumes (the volume's `propagation` key). Empty
 * volumes get their defaults (mode 0755, uid 0, gid 0) written out, as rkt does.
 */
export function parseVolume(value: string): Volume {
  const p = params(`name=${value}`, 'volume');
  const vol: Partial<Volume> & Record<string, unknown> = {};
  for (const [key, v] of p) {
    switch (key) {
      case 'name':
        if (!isACName(v)) throw invalidFlag('volume', value, `${JSON.stringify(v)} is not a valid volume name`);
        vol.name = v;
        break;
      case 'kind':
        if (v !== 'host' && v !== 'empty') throw invalidFlag('volume', value, 'kind should be one of "empty", "host"');
        vol.kind = v;
        break;
      case 'source':
        vol.source = v;
        break;
      case 'readOnly':
        vol.readOnly = goBool(v, 'volume', value);
        break;
      case 'recursive':
        vol.recursive = goBool(v, 'volume', value);
        break;
      case 'propagation':
        // a rktnetes addition: how mounts propagate between the host and the app
        if (!isMountPropagation(v)) throw invalidFlag('volume', value, 'propagation should be one of "rprivate", "rslave", "rshared"');
        vol.propagation = v;
        break;
      case 'mode':
        vol.mode = v;
        break;
      case 'uid':
        vol.uid = goInt(v, 'volume', value);
        break;
      case 'gid':
        vol.gid = goInt(v, 'volume', value);
        break;
      default:
        throw invalidFlag('volume', value, `unknown volume parameter ${JSON.stringify(key)}`);
    }
  }
  if (!vol.kind) throw invalidFlag('volume', value, 'kind must be set to "host" or "empty"');
  if (vol.kind === 'host') {
    if (!vol.source) throw invalidFlag('volume', value, 'source for host volume cannot be empty');
    if (!vol.source.startsWith('/')) throw invalidFlag('volume', value, 'source for host volume must be absolute path');
    if (vol.mode !== undefined || vol.uid !== undefined || vol.gid !== undefined) throw invalidFlag('volume', value, 'mode, uid and gid are for empty volumes');
  } else {
    if (vol.source) throw invalidFlag('volume', value, 'source for empty volume must be empty');
    if (vol.propagation !== undefined) throw invalidFlag('volume', value, 'propagation is for host volumes');
    vol.mode ??= '0755';
    vol.uid ??= 0;
    vol.gid ??= 0;
  }
  return vol as Volume;
}

/** Parses a `--mount` value: `volume=NAME,target=PATH`. */
export function parseMount(value: string): Mount {
  const p = params(value, 'mount');
  const out: Partial<Mount> = {};
  for (const [key, v] of p) {
    if (key === 'volume') {
      if (!isACName(v)) throw invalidFlag('mount', value, `invalid volume name ${JSON.stringify(v)}`);
      out.volume = v;
    } else if (key === 'target') {
      out.path = v;
    } else {
      throw invalidFlag('mount', value, `unknown mount parameter ${JSON.stringify(key)}`);
    }
  }
  if (!out.volume) throw invalidFlag('mount', value, 'missing volume=');
  if (!out.path) throw invalidFlag('mount', value, 'missing target=');
  return out as Mount;
}

/** Parses a `--port` value: `NAME:[HOSTIP:]HOSTPORT`. */
export function parsePort(value: string): ExposedPort {
  const parts = value.split(':');
  if (parts.length < 2 || parts.length > 3) throw invalidFlag('port', value, 'not in name:[ip:]port format');
  const name = parts[0]!;
  if (!isACName(name)) throw invalidFlag('port', value, `${JSON.stringify(name)} is not a valid port name`);
  const portStr = parts[parts.length - 1]!;
  const port = /^\d+$/.test(portStr) ? Number(portStr) : NaN;
  if (!(port >= 0 && port <= 65535)) throw invalidFlag('port', value, `${JSON.stringify(portStr)} is not a valid port number`);
  const out: ExposedPort = { name, hostPort: port };
  if (parts.length === 3) {
    if (isIP(parts[1]!) !== 4) throw invalidFlag('port', value, `${JSON.stringify(parts[1])} is not a valid IP`);
    out.hostIP = parts[1]!;
  }
  return out;
}

function memoryIsolator(value: string): Isolator {
  const iso: Isolator = { name: 'resource/memory', value: { request: value, limit: value } };
  let limit: number | undefined;
  try {
    const typed = parseIsolator(iso);
    limit = typed.kind === 'resource/memory' ? typed.limit : undefined;
  } catch (e) {
    throw usageError('cli.invalid-value', `invalid argument ${JSON.stringify(value)} for --memory: not a memory quantity (like 16M, 1Gi)`, { cause: e });
  }
  if (limit !== undefined && limit < 4096) {
    throw usage('invalid-value', `memory limit of ${limit} bytes too low. Try a reasonable value, such as --memory=16M`);
  }
  return iso;
}

function checkedIsolator(flag: string, value: string, iso: Isolator): Isolator {
  try {
    parseIsolator(iso);
  } catch (e) {
    throw usageError('cli.invalid-value', `invalid argument ${JSON.stringify(value)} for --${flag}`, { cause: e });
  }
  return iso;
}

/** Replaces isolators named like `iso` (or any of `names`) in the list with `iso`. */
export function replaceIsolator(list: Isolator[], iso: Isolator, names: readonly string[] = [iso.name]): void {
  for (let i = list.length - 1; i >= 0; i--) if (names.includes(list[i]!.name)) list.splice(i, 1);
  list.push(iso);
}

/** The seccomp isolator of a `--seccomp` value: `mode=retain|remove[,errno=ENAME],syscall,...`. */
export function seccompIsolator(value: string): Isolator {
  let mode: string | undefined;
  let errno: string | undefined;
  const set: string[] = [];
  for (const item of value.split(',')) {
    const kv = item.split('=');
    if (kv.length === 2) {
      if (kv[0] === 'mode') {
        if (kv[1] !== 'retain' && kv[1] !== 'remove') throw usage('invalid-value', `invalid seccomp mode command-line override ${JSON.stringify(kv[1])}`);
        mode = kv[1];
      } else if (kv[0] === 'errno') {
        errno = kv[1];
      } else {
        throw usage('invalid-value', `invalid seccomp command-line override ${JSON.stringify(item)}`);
      }
    } else {
      set.push(item);
    }
  }
  if (mode === undefined) throw usage('invalid-value', `--seccomp ${JSON.stringify(value)}: mode=retain or mode=remove is required`);
  const iso: Isolator = { name: `os/linux/seccomp-${mode}-set`, value: errno ? { set, errno } : { set } };
  return checkedIsolator('seccomp', value, iso);
}

/** What a `--seccomp` value asks for. */
export type SeccompFlag =
  /** `mode=retain|remove[,errno=ENAME],syscall,...`: an appc seccomp isolator */
  | { kind: 'isolator'; isolator: Isolator }
  /** `unconfined`: no filter (the isolator `os/linux/seccomp-retain-set` of `@appc.io/all`) */
  | { kind: 'unconfined'; isolator: Isolator }
  /** `default`: the stage1's default filter (the image's seccomp isolators are dropped) */
  | { kind: 'default' }
  /** `profile=PATH`: an OCI / Docker profile file, passed as the `rktnetes.io/stage2/seccomp-profile` annotation */
  | { kind: 'profile'; path: string };

/** The seccomp isolator names, replaced together. */
export const SECCOMP_ISOLATORS = ['os/linux/seccomp-remove-set', 'os/linux/seccomp-retain-set'] as const;

/**
 * Parses a `--seccomp` value: rkt's `mode=...` form, or the rktnetes forms `unconfined`,
 * `default` and `profile=PATH` (absolute or relative to the working directory).
 * Usage errors `cli.invalid-value`.
 */
export function parseSeccompFlag(value: string): SeccompFlag {
  if (value === 'unconfined') return { kind: 'unconfined', isolator: { name: 'os/linux/seccomp-retain-set', value: { set: ['@appc.io/all'] } } };
  if (value === 'default') return { kind: 'default' };
  if (value.startsWith('profile=')) {
    const path = value.slice('profile='.length);
    if (!path) throw invalidFlag('seccomp', value, 'profile= needs the path of a profile file');
    return { kind: 'profile', path };
  }
  return { kind: 'isolator', isolator: seccompIsolator(value) };
}

/**
 * The value of `--masked-paths` / `--readonly-paths`: comma-separated absolute paths inside the
 * app; an empty value is an empty list (no such paths at all). Usage errors `cli.invalid-value`.
 */
export function parsePathsFlag(value: string, flag: string): string[] {
  if (value === '') return [];
  return value.split(',').map((p) => {
    if (!p.startsWith('/')) throw invalidFlag(flag, value, `${JSON.stringify(p)} is not an absolute path`);
    return p;
  });
}

/** Fresh {@link RunFlags}: nothing given. */
export function emptyRunFlags(): RunFlags {
  return { interactive: false, dns: [], dnsSearch: [], dnsOpt: [], dnsDomain: '', hostsEntries: [], mdsRegister: false };
}

/** A fresh {@link PodArgs} with rkt's defaults. */
export function emptyPodArgs(): PodArgs {
  return {
    ...emptyRunFlags(),
    apps: [],
    mounts: [],
    volumes: [],
    ports: [],
    stage1: {},
    pullPolicy: 'new',
    storeOnly: false,
    noStore: false,
    inheritEnv: false,
    setEnv: [],
    setEnvFile: [],
    noOverlay: false,
    privateUsers: false,
    quiet: false,
    podAnnotations: [],
    podUserAnnotations: {},
    podUserLabels: {},
    podSettings: emptyPodSettings(),
  };
}

/** The flags shared by run and run-prepared that configure the start of the pod. */
export function runFlagSpecs(o: RunFlags): FlagSpec[] {
  return [
    { name: 'net', kind: 'optional', noOptValue: 'default', set: (v) => (o.net = parseNetList(v, o.net ?? [])) },
    { name: 'interactive', kind: 'bool', set: (v) => (o.interactive = v === 'true') },
    { name: 'dns', kind: 'value', set: (v) => o.dns.push(v) },
    { name: 'dns-search', kind: 'value', set: (v) => o.dnsSearch.push(v) },
    { name: 'dns-opt', kind: 'value', set: (v) => o.dnsOpt.push(v) },
    { name: 'dns-domain', kind: 'value', set: (v) => (o.dnsDomain = v) },
    { name: 'hosts-entry', kind: 'value', set: (v) => o.hostsEntries.push(v) },
    { name: 'mds-register', kind: 'bool', set: (v) => (o.mdsRegister = v === 'true') },
    { name: 'hostname', kind: 'value', set: (v) => (o.hostname = v) },
    { name: 'ipc', kind: 'value', set: (v) => (v === '' ? delete o.ipc : (o.ipc = parseIpcMode(v))) },
  ];
}

function lastApp(o: PodArgs, flag: string): CliApp {
  const app = o.apps[o.apps.length - 1];
  if (!app) throw usage('app-flag', `--${flag} must follow an image`);
  return app;
}

/** The per-app flags of `rkt run` (they apply to the last app of `o.apps`); `rkt app add` uses them too. */
export function appFlagSpecs(o: PodArgs): FlagSpec[] {
  const once = <K extends keyof CliApp>(flag: string, key: K, value: CliApp[K]) => {
    const app = lastApp(o, flag);
    if (app[key] !== undefined) throw usage('app-flag', `--${flag} specified multiple times for the same image`);
    app[key] = value;
  };
  const map = (flag: string, set: (app: CliApp, name: string, value: string) => void, pod?: (name: string, value: string) => void) => ({
    name: flag,
    kind: 'value' as const,
    set: (v: string) => {
      const [name, value] = splitKV(v, flag);
      if (o.apps.length === 0 && pod) pod(name, value);
      else set(lastApp(o, flag), name, value);
    },
  });
  return [
    { name: 'signature', kind: 'value', set: (v) => once('signature', 'signature', v) },
    { name: 'exec', kind: 'value', set: (v) => once('exec', 'exec', v) },
    { name: 'working-dir', kind: 'value', set: (v) => (lastApp(o, 'working-dir').workingDir = v) },
    { name: 'readonly-rootfs', kind: 'value', set: (v) => (lastApp(o, 'readonly-rootfs').readOnlyRootFS = goBool(v, 'readonly-rootfs', v)) },
    {
      name: 'mount',
      kind: 'value',
      set: (v) => {
        const m = parseMount(v);
        if (o.apps.length === 0) o.mounts.push(m);
        else lastApp(o, 'mount').mounts.push(m);
      },
    },
    { name: 'user', kind: 'value', set: (v) => (lastApp(o, 'user').user = v) },
    { name: 'group', kind: 'value', set: (v) => (lastApp(o, 'group').group = v) },
    {
      name: 'supplementary-gids',
      kind: 'value',
      set: (v) => {
        const app = lastApp(o, 'supplementary-gids');
        const gids = v.split(',').map((g) => {
          if (!/^\d+$/.test(g)) throw usage('invalid-value', '--supplementary-gids must be integers');
          return Number(g);
        });
        app.supplementaryGIDs = [...(app.supplementaryGIDs ?? []), ...gids];
      },
    },
    { name: 'name', kind: 'value', set: (v) => (lastApp(o, 'name').name = v) },
    map('annotation', (app, n, v) => setEnv(app.annotations, n, v), (n, v) => setEnv(o.podAnnotations, n, v)),
    map('user-annotation', (app, n, v) => ((app.userAnnotations ??= {})[n] = v), (n, v) => (o.podUserAnnotations[n] = v)),
    map('user-label', (app, n, v) => ((app.userLabels ??= {})[n] = v), (n, v) => (o.podUserLabels[n] = v)),
    map('environment', (app, n, v) => setEnv(app.environment, n, v)),
    { name: 'memory', kind: 'value', set: (v) => replaceIsolator(lastApp(o, 'memory').isolators, memoryIsolator(v)) },
    {
      name: 'cpu',
      kind: 'value',
      set: (v) => replaceIsolator(lastApp(o, 'cpu').isolators, checkedIsolator('cpu', v, { name: 'resource/cpu', value: { request: v, limit: v } })),
    },
    {
      name: 'cpu-shares',
      kind: 'value',
      set: (v) => replaceIsolator(lastApp(o, 'cpu-shares').isolators, checkedIsolator('cpu-shares', v, { name: 'os/linux/cpu-shares', value: goInt(v, 'cpu-shares', v) })),
    },
    {
      name: 'oom-score-adj',
      kind: 'value',
      set: (v) =>
        replaceIsolator(lastApp(o, 'oom-score-adj').isolators, checkedIsolator('oom-score-adj', v, { name: 'os/linux/oom-score-adj', value: goInt(v, 'oom-score-adj', v) })),
    },
    ...['caps-retain', 'cap-retain'].map((flag) => ({ name: flag, kind: 'value' as const, set: (v: string) => (lastApp(o, flag).capsRetain = v.split(',')) })),
    ...['caps-remove', 'cap-remove'].map((flag) => ({ name: flag, kind: 'value' as const, set: (v: string) => (lastApp(o, flag).capsRemove = v.split(',')) })),
    { name: 'seccomp', kind: 'value', set: (v) => (lastApp(o, 'seccomp').seccomp = v) },
    { name: 'pid-namespace', kind: 'value', set: (v) => (lastApp(o, 'pid-namespace').pidNamespace = parsePidNamespaceFlag(v)) },
    {
      name: 'no-new-privileges',
      kind: 'bool',
      set: (v) => replaceIsolator(lastApp(o, 'no-new-privileges').isolators, { name: 'os/linux/no-new-privileges', value: v === 'true' }),
    },
    ...(['masked-paths', 'readonly-paths'] as const).map((flag) => ({
      name: flag,
      kind: 'value' as const,
      set: (v: string) => {
        const app = lastApp(o, flag);
        const key = flag === 'masked-paths' ? 'maskedPaths' : 'readOnlyPaths';
        app[key] = [...(app[key] ?? []), ...parsePathsFlag(v, flag)];
      },
    })),
  ];
}

function podFlagSpecs(o: PodArgs, command: 'run' | 'prepare'): FlagSpec[] {
  const specs: FlagSpec[] = [
    ...stage1FlagSpecs(o.stage1),
    { name: 'port', kind: 'value', set: (v) => o.ports.push(parsePort(v)) },
    { name: 'inherit-env', kind: 'bool', set: (v) => (o.inheritEnv = v === 'true') },
    { name: 'no-overlay', kind: 'bool', set: (v) => (o.noOverlay = v === 'true') },
    { name: 'private-users', kind: 'bool', set: (v) => (o.privateUsers = v === 'true') },
    {
      name: 'set-env',
      kind: 'value',
      set: (v) => {
        const [n, val] = splitKV(v, 'set-env');
        setUnique(o.setEnv, n, val, 'key');
      },
    },
    { name: 'set-env-file', kind: 'value', set: (v) => readEnvFile(v, o.setEnvFile) },
    { name: 'store-only', kind: 'bool', set: (v) => (o.storeOnly = v === 'true') },
    { name: 'no-store', kind: 'bool', set: (v) => (o.noStore = v === 'true') },
    {
      name: 'pull-policy',
      kind: 'value',
      set: (v) => {
        if (v !== 'never' && v !== 'new' && v !== 'update') throw invalidFlag('pull-policy', v, 'expected never, new or update');
        o.pullPolicy = v;
      },
    },
    { name: 'pod-manifest', kind: 'value', set: (v) => (o.podManifest = v) },
    { name: 'volume', kind: 'value', set: (v) => o.volumes.push(parseVolume(v)) },
    ...podSettingsFlagSpecs(o.podSettings),
    ...appFlagSpecs(o),
  ];
  if (command === 'prepare') {
    specs.push({ name: 'quiet', kind: 'bool', set: (v) => (o.quiet = v === 'true') });
  } else {
    specs.push(...runFlagSpecs(o), { name: 'uuid-file-save', kind: 'value', set: (v) => (o.uuidFileSave = v) });
  }
  return specs;
}

function newApp(image: string): CliApp {
  return { image, mounts: [], isolators: [], annotations: [], environment: [] };
}

/**
 * Parses the arguments of `rkt run` or `rkt prepare` (after the command name). Global flags
 * may appear among them. Errors are usage errors (`cli.*`) naming the flag.
 */
export function parsePodArgs(args: readonly string[], base: GlobalOptions, command: 'run' | 'prepare'): { pod: PodArgs; globals: GlobalOptions } {
  const o = emptyPodArgs();
  const { parser, globals } = commandParser(base, podFlagSpecs(o, command));
  let inAppArgs = false;
  let appsAtLastArgs = 0;
  for (let i = 0; i < args.length; ) {
    const a = args[i]!;
    if (a === '') {
      i++;
      continue;
    }
    if (inAppArgs) {
      if (a === '---') inAppArgs = false;
      else o.apps[o.apps.length - 1]!.args!.push(a);
      i++;
      continue;
    }
    if (a === '--') {
      if (appsAtLastArgs === o.apps.length) {
        throw usage('app-args', o.apps.length === 0 ? 'an image is required before any app arguments' : 'only one set of app arguments allowed per image');
      }
      appsAtLastArgs = o.apps.length;
      o.apps[o.apps.length - 1]!.args = [];
      inAppArgs = true;
      i++;
    } else if (a === '---') {
      i++;
    } else if (FlagParser.isFlag(a)) {
      i += parser.parseAt(args, i);
    } else {
      o.apps.push(newApp(a));
      i++;
    }
  }
  validatePodArgs(o);
  return { pod: o, globals };
}

/** Checks what rkt checks after parsing: mounts name declared volumes, caps flags not mixed. */
function validatePodArgs(o: PodArgs): void {
  const volumes = new Set(o.volumes.map((v) => v.name));
  if (volumes.size !== o.volumes.length) throw usage('invalid-value', 'duplicate --volume name');
  const check = (mounts: readonly Mount[]) => {
    for (const m of mounts) {
      if (!m.appVolume && !volumes.has(m.volume)) throw usage('dangling-mount', `dangling mount point ${JSON.stringify(m.path)}: volume ${JSON.stringify(m.volume)} not found`);
    }
  };
  check(o.mounts);
  for (const app of o.apps) {
    check(app.mounts);
    if (app.capsRetain && app.capsRemove) throw usage('app-flag', 'cannot use both --caps-retain and --caps-remove on the same image');
  }
  if (o.storeOnly && o.noStore) throw usage('invalid-value', 'both --store-only and --no-store specified');
  if (o.storeOnly) o.pullPolicy = 'never';
  if (o.noStore) o.pullPolicy = 'update';
}

/** rkt's MergeMounts: the app's mounts, then the pod-wide ones, first of each cleaned path kept. */
export function mergeMounts(podMounts: readonly Mount[], appMounts: readonly Mount[]): Mount[] {
  const seen = new Set<string>();
  const out: Mount[] = [];
  for (const m of [...appMounts, ...podMounts]) {
    const p = posix.normalize(m.path).replace(/(.)\/+$/, '$1');
    if (seen.has(p)) continue;
    seen.add(p);
    out.push(m);
  }
  return out;
}

/**
 * rkt's parseDNSFlags: `--dns` (addresses, or a lone `host` / `none`), `--dns-search`,
 * `--dns-opt`, `--dns-domain` and `--hosts-entry` (`IP=HOSTNAME` pairs or `host`) into the
 * dns-conf-mode and the files stage0 writes. Usage errors for bad addresses or mixed modes.
 */
export function parseDnsOptions(f: RunFlags): DnsOptions {
  const out: DnsOptions = {
    mode: { resolv: 'default', hosts: 'default' },
    nameservers: [],
    search: [...f.dnsSearch],
    options: [...f.dnsOpt],
    domain: f.dnsDomain,
    hosts: new Map(),
  };
  for (const d of f.dns) {
    if (d === 'host' || d === 'none') {
      if (f.dns.length > 1) throw usage('dns', `no other --dns options allowed when --dns=${d} is passed`);
      out.mode.resolv = d;
      break;
    }
    for (const ip of d.split(',')) {
      if (isIP(ip) === 0) throw usage('dns', `invalid IP passed to --dns: ${ip}`);
      out.nameservers.push(ip);
    }
  }
  const dnsSet = out.nameservers.length > 0 || out.search.length > 0 || out.options.length > 0 || out.domain !== '';
  if (dnsSet) {
    if (out.mode.resolv === 'default') out.mode.resolv = 'stage0';
    if (out.mode.resolv !== 'stage0') throw usage('dns', `cannot call --dns-opt, --dns-search, or --dns-domain with --dns=${out.mode.resolv}`);
  }
  for (const entry of f.hostsEntries) {
    if (entry === 'host') {
      out.mode.hosts = 'host';
      continue;
    }
    for (const pair of entry.split(',')) {
      const eq = pair.indexOf('=');
      if (eq < 0) throw usage('dns', `did not understand --hosts-entry ${pair}`);
      const ip = pair.slice(0, eq);
      if (isIP(ip) === 0) throw usage('dns', `invalid IP passed to --hosts-entry: ${ip}`);
      out.hosts.set(ip, [...(out.hosts.get(ip) ?? []), pair.slice(eq + 1)]);
    }
  }
  if (out.hosts.size > 0) {
    if (out.mode.hosts === 'host') throw usage('dns', 'cannot pass --hosts-entry=host with multiple hosts-entries');
    out.mode.hosts = 'stage0';
  }
  return out;
}

/** The resolv.conf stage0 writes for `--dns-conf-mode=resolv=stage0` (rkt's MakeResolvConf). */
export function formatResolvConf(d: DnsOptions, comment = 'Generated by rkt run'): string {
  let s = comment ? `# ${comment}\n\n` : '';
  if (d.search.length) s += `search ${d.search.join(' ')}\n`;
  for (const ns of d.nameservers) s += `nameserver ${ns}\n`;
  if (d.options.length) s += `options ${d.options.join(' ')}\n`;
  if (d.domain) s += `domain ${d.domain}\n`;
  return s;
}

/** The hosts file stage0 writes for `--dns-conf-mode=hosts=stage0`, from the stage1's fallback file. */
export function formatHostsFile(d: DnsOptions, fallback: string | undefined): string {
  let s = fallback ?? '#created by rkt stage0\n127.0.0.1 localhost localhost.localdomain\n';
  s += '\n\n# Added by rkt run --hosts-entry\n';
  for (const [ip, names] of d.hosts) s += `${ip} ${names.join(' ')}\n`;
  return s;
}
