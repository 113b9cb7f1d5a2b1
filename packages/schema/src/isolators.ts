/**
 * Isolators (spec/ace.md "Isolators" and the appc Go schema): the typed form of every known
 * isolator, the checks of their values, and the rules for a list of them (which may repeat,
 * which exclude each other). Unknown isolators are kept as opaque values, as the spec allows
 * an executor to ignore what it does not understand.
 */
import type { Isolator } from './types';
import { decodeQuantity, scaledInteger } from './quantity';
import { acIdentifierProblem } from './names';
import {
  Checker,
  type Parse,
  array,
  assertNoIssues,
  bool,
  int,
  jsonType,
  reader,
  setOwn,
  str,
  stringMap,
  sub,
} from './validate';

/** The names of the isolators this package understands. */
export const IsolatorNames = {
  memory: 'resource/memory',
  cpu: 'resource/cpu',
  networkBandwidth: 'resource/network-bandwidth',
  blockBandwidth: 'resource/block-bandwidth',
  blockIops: 'resource/block-iops',
  capabilitiesRetainSet: 'os/linux/capabilities-retain-set',
  capabilitiesRemoveSet: 'os/linux/capabilities-remove-set',
  noNewPrivileges: 'os/linux/no-new-privileges',
  seccompRetainSet: 'os/linux/seccomp-retain-set',
  seccompRemoveSet: 'os/linux/seccomp-remove-set',
  oomScoreAdj: 'os/linux/oom-score-adj',
  cpuShares: 'os/linux/cpu-shares',
  selinuxContext: 'os/linux/selinux-context',
  apparmorProfile: 'os/linux/apparmor-profile',
  sysctl: 'os/unix/sysctl',
} as const;

/** `resource/memory`: bytes. `request` defaults to `limit` when only the limit is given. */
export interface MemoryIsolator {
  kind: 'resource/memory';
  request?: number;
  limit?: number;
}

/** `resource/cpu`: millicores (1000 = one full core). `request` defaults to `limit`. */
export interface CpuIsolator {
  kind: 'resource/cpu';
  request?: number;
  limit?: number;
}

/** `resource/network-bandwidth`, `resource/block-bandwidth` (bytes/s), `resource/block-iops` (ops/s); apply to all devices. */
export interface BandwidthIsolator {
  kind: 'resource/network-bandwidth' | 'resource/block-bandwidth' | 'resource/block-iops';
  limit?: number;
}

/** Capability bounding set: only `set` (retain) or everything of the default set but `set` (remove). */
export interface CapabilitiesIsolator {
  kind: 'os/linux/capabilities-retain-set' | 'os/linux/capabilities-remove-set';
  /** `CAP_*` names, non-empty */
  set: string[];
}

/** `os/linux/no-new-privileges`. */
export interface NoNewPrivilegesIsolator {
  kind: 'os/linux/no-new-privileges';
  value: boolean;
}

/** Seccomp filter: allow only `set` (retain) or block `set` (remove). */
export interface SeccompIsolator {
  kind: 'os/linux/seccomp-retain-set' | 'os/linux/seccomp-remove-set';
  /** syscall names and `@scope/name` wildcards, non-empty */
  set: string[];
  /** errno name returned by blocked calls; undefined means they kill the app with SIGSYS */
  errno?: string;
}

/** `os/linux/oom-score-adj`: -1000..1000. */
export interface OomScoreAdjIsolator {
  kind: 'os/linux/oom-score-adj';
  value: number;
}

/** `os/linux/cpu-shares`: CFS weight, 2..262144. */
export interface CpuSharesIsolator {
  kind: 'os/linux/cpu-shares';
  value: number;
}

/** `os/linux/selinux-context`. */
export interface SelinuxContextIsolator {
  kind: 'os/linux/selinux-context';
  user: string;
  role: string;
  type: string;
  level: string;
}

/** `os/linux/apparmor-profile`: the name of an already loaded profile. */
export interface ApparmorProfileIsolator {
  kind: 'os/linux/apparmor-profile';
  profile: string;
}

/** `os/unix/sysctl`: kernel parameters for the pod. */
export interface SysctlIsolator {
  kind: 'os/unix/sysctl';
  values: Record<string, string>;
}

/** An isolator this package does not know; the runtime may ignore it but must say so. */
export interface UnknownIsolator {
  kind: 'unknown';
  name: string;
  value: unknown;
}

/** The typed form of an isolator, discriminated by `kind` (the isolator name, or `unknown`). */
export type TypedIsolator =
  | MemoryIsolator
  | CpuIsolator
  | BandwidthIsolator
  | CapabilitiesIsolator
  | NoNewPrivilegesIsolator
  | SeccompIsolator
  | OomScoreAdjIsolator
  | CpuSharesIsolator
  | SelinuxContextIsolator
  | ApparmorProfileIsolator
  | SysctlIsolator
  | UnknownIsolator;

/**
 * The Linux capabilities by number (index = `CAP_*` value), as of Linux 5.9. Names in
 * capability isolators must be one of these.
 */
export const LINUX_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/**
 * The bounding set an app gets when it has no capability isolator (spec/ace.md): the base of
 * `capabilities-remove-set`.
 */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_AUDIT_WRITE',
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_KILL',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_NET_BIND_SERVICE',
  'CAP_SETUID',
  'CAP_SETGID',
  'CAP_SETPCAP',
  'CAP_SETFCAP',
  'CAP_SYS_CHROOT',
];

/** The number of a capability name (`CAP_SYS_ADMIN` -> 21), or undefined when unknown. */
export function capabilityNumber(name: string): number | undefined {
  const i = LINUX_CAPABILITIES.indexOf(name);
  return i < 0 ? undefined : i;
}

/** Seccomp wildcards the spec defines: everything (retain) and nothing (remove). */
export const SECCOMP_ALL = '@appc.io/all';
export const SECCOMP_EMPTY = '@appc.io/empty';

const SYSCALL = /^[a-z0-9_]+$/;
const WILDCARD = /^@[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)+$/;
const ERRNO = /^E[A-Z0-9]+$/;

// ---- value parsers ----------------------------------------------------------------------------

type Scale = { unit: 'base' | 'milli' };

function quantity(scale: Scale): Parse<number> {
  return (c, v, path) => {
    let s: string;
    if (typeof v === 'string') s = v;
    else if (typeof v === 'number' && Number.isFinite(v)) s = String(v);
    else {
      c.add(path, `must be a quantity string, not ${jsonType(v)}`);
      return undefined;
    }
    const q = decodeQuantity(s);
    if (typeof q === 'string') {
      c.add(path, `bad quantity ${JSON.stringify(s)}: ${q}`);
      return undefined;
    }
    if (q.negative) {
      c.add(path, `must not be negative, got ${JSON.stringify(s)}`);
      return undefined;
    }
    const n = scaledInteger(q, scale.unit === 'milli' ? 1000n : 1n);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) {
      c.add(path, `quantity ${JSON.stringify(s)} is too large`);
      return undefined;
    }
    return Number(n);
  };
}

/** cpu and memory: request/limit, `default` must be false. */
function requestLimit<K extends 'resource/memory' | 'resource/cpu'>(kind: K, scale: Scale) {
  return (c: Checker, v: unknown, path: string): { kind: K; request?: number; limit?: number } | undefined => {
    const r = reader(c, v, path);
    if (!r) return undefined;
    const def = r.optional('default', bool);
    if (def === true) c.add(sub(path, 'default'), 'must be false');
    const request = r.optional('request', quantity(scale));
    const limit = r.optional('limit', quantity(scale));
    if (request !== undefined && limit !== undefined && request > limit) {
      c.add(sub(path, 'request'), 'must not exceed limit');
    }
    const out: { kind: K; request?: number; limit?: number } = { kind };
    const req = request ?? limit;
    if (req !== undefined) out.request = req;
    if (limit !== undefined) out.limit = limit;
    return out;
  };
}

/** bandwidth and iops: `default` must be true, no request. */
function deviceLimit(kind: BandwidthIsolator['kind']): Parse<BandwidthIsolator> {
  return (c, v, path) => {
    const r = reader(c, v, path);
    if (!r) return undefined;
    const def = r.required('default', bool);
    if (def === false) c.add(sub(path, 'default'), 'must be true');
    if (r.get('request') !== undefined) c.add(sub(path, 'request'), 'is not supported by this isolator');
    const limit = r.optional('limit', quantity({ unit: 'base' }));
    return limit === undefined ? { kind } : { kind, limit };
  };
}

function nonEmptySet(item: Parse<string>): Parse<string[]> {
  const list = array(item);
  return (c, v, path) => {
    const set = list(c, v, path);
    if (set && set.length === 0) {
      c.add(path, 'must not be empty');
      return undefined;
    }
    return set;
  };
}

const capabilityName: Parse<string> = (c, v, path) => {
  const s = str(c, v, path);
  if (s === undefined) return undefined;
  if (!LINUX_CAPABILITIES.includes(s)) {
    c.add(path, `unknown capability ${JSON.stringify(s)} (names look like "CAP_NET_ADMIN")`);
    return undefined;
  }
  return s;
};

function capabilities(kind: CapabilitiesIsolator['kind']): Parse<CapabilitiesIsolator> {
  return (c, v, path) => {
    const r = reader(c, v, path);
    if (!r) return undefined;
    const set = r.required('set', nonEmptySet(capabilityName));
    return set && { kind, set };
  };
}

const syscallEntry: Parse<string> = (c, v, path) => {
  const s = str(c, v, path);
  if (s === undefined) return undefined;
  if (!SYSCALL.test(s) && !WILDCARD.test(s)) {
    c.add(path, `bad syscall ${JSON.stringify(s)} (must be a syscall name or an "@scope/name" wildcard)`);
    return undefined;
  }
  return s;
};

function seccomp(kind: SeccompIsolator['kind']): Parse<SeccompIsolator> {
  return (c, v, path) => {
    const r = reader(c, v, path);
    if (!r) return undefined;
    const set = r.required('set', nonEmptySet(syscallEntry));
    const errno = r.optional('errno', str);
    if (errno !== undefined && errno !== '' && !ERRNO.test(errno)) {
      c.add(sub(path, 'errno'), `bad errno ${JSON.stringify(errno)} (must be an uppercase name like "EPERM")`);
    }
    if (!set) return undefined;
    return errno ? { kind, set, errno } : { kind, set };
  };
}

function scalar<K extends NoNewPrivilegesIsolator['kind'] | OomScoreAdjIsolator['kind'] | CpuSharesIsolator['kind'], V>(
  kind: K,
  parse: Parse<V>,
) {
  return (c: Checker, v: unknown, path: string): { kind: K; value: V } | undefined => {
    const x = parse(c, v, path);
    return x === undefined ? undefined : { kind, value: x };
  };
}

const selinuxPart = (colonFree: boolean): Parse<string> => (c, v, path) => {
  const s = str(c, v, path);
  if (s === undefined) return undefined;
  if (s === '' || (colonFree && s.includes(':'))) {
    c.add(path, colonFree ? 'must be non-empty and contain no ":"' : 'must not be empty');
    return undefined;
  }
  return s;
};

const selinux: Parse<SelinuxContextIsolator> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  const user = r.required('user', selinuxPart(true));
  const role = r.required('role', selinuxPart(true));
  const type = r.required('type', selinuxPart(true));
  const level = r.required('level', selinuxPart(false));
  if (user === undefined || role === undefined || type === undefined || level === undefined) return undefined;
  return { kind: 'os/linux/selinux-context', user, role, type, level };
};

const apparmor: Parse<ApparmorProfileIsolator> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  const profile = r.required('profile', selinuxPart(false));
  return profile === undefined ? undefined : { kind: 'os/linux/apparmor-profile', profile };
};

const sysctl: Parse<SysctlIsolator> = (c, v, path) => {
  const values = stringMap(c, v, path);
  return values && { kind: 'os/unix/sysctl', values };
};

const VALUE_PARSERS: Record<string, Parse<TypedIsolator>> = {
  [IsolatorNames.memory]: requestLimit('resource/memory', { unit: 'base' }),
  [IsolatorNames.cpu]: requestLimit('resource/cpu', { unit: 'milli' }),
  [IsolatorNames.networkBandwidth]: deviceLimit('resource/network-bandwidth'),
  [IsolatorNames.blockBandwidth]: deviceLimit('resource/block-bandwidth'),
  [IsolatorNames.blockIops]: deviceLimit('resource/block-iops'),
  [IsolatorNames.capabilitiesRetainSet]: capabilities('os/linux/capabilities-retain-set'),
  [IsolatorNames.capabilitiesRemoveSet]: capabilities('os/linux/capabilities-remove-set'),
  [IsolatorNames.noNewPrivileges]: scalar('os/linux/no-new-privileges', bool),
  [IsolatorNames.seccompRetainSet]: seccomp('os/linux/seccomp-retain-set'),
  [IsolatorNames.seccompRemoveSet]: seccomp('os/linux/seccomp-remove-set'),
  [IsolatorNames.oomScoreAdj]: scalar('os/linux/oom-score-adj', int(-1000, 1000)),
  [IsolatorNames.cpuShares]: scalar('os/linux/cpu-shares', int(2, 262144)),
  [IsolatorNames.selinuxContext]: selinux,
  [IsolatorNames.apparmorProfile]: apparmor,
  [IsolatorNames.sysctl]: sysctl,
};

/** Whether this package knows the isolator `name`. */
export function isKnownIsolator(name: string): boolean {
  return Object.hasOwn(VALUE_PARSERS, name);
}

/** An isolator checked at `path`: the raw form (kept in manifests) and its typed form. */
export interface CheckedIsolator {
  raw: Isolator;
  typed: TypedIsolator;
}

/** Checks one isolator object at `path` (name, and the value of a known isolator). */
export function checkIsolator(c: Checker, v: unknown, path: string): CheckedIsolator | undefined {
  const r = reader(c, v, path);
  if (!r) return undefined;
  const name = r.required('name', (c2, x, p) => {
    const s = str(c2, x, p);
    if (s === undefined) return undefined;
    const problem = acIdentifierProblem(s);
    if (problem) {
      c2.add(p, problem);
      return undefined;
    }
    return s;
  });
  const parseValue = name === undefined ? undefined : VALUE_PARSERS[name];
  const value = r.get('value');
  let typed: TypedIsolator | undefined;
  if (name === undefined) return undefined;
  if (parseValue) {
    if (value === undefined) {
      c.add(sub(path, 'value'), 'is required');
      return undefined;
    }
    typed = parseValue(c, value, sub(path, 'value'));
    if (!typed) return undefined;
  } else {
    typed = { kind: 'unknown', name, value };
  }
  const raw: Record<string, unknown> = { name, value };
  for (const [k, x] of Object.entries(r.extras())) if (!Object.hasOwn(raw, k)) setOwn(raw, k, x);
  return { raw: raw as unknown as Isolator, typed };
}

const SINGLE = new Set<string>([
  IsolatorNames.seccompRetainSet,
  IsolatorNames.seccompRemoveSet,
  IsolatorNames.oomScoreAdj,
  IsolatorNames.cpuShares,
  IsolatorNames.selinuxContext,
  IsolatorNames.apparmorProfile,
  IsolatorNames.sysctl,
]);

const CONFLICTS: Array<[string, string]> = [
  [IsolatorNames.seccompRetainSet, IsolatorNames.seccompRemoveSet],
  [IsolatorNames.capabilitiesRetainSet, IsolatorNames.capabilitiesRemoveSet],
];

/**
 * Checks a list of isolators: each one, then that single-instance isolators (seccomp sets,
 * oom-score-adj, cpu-shares, selinux-context, apparmor-profile, sysctl) appear at most once and
 * that a retain set and the matching remove set are not both present.
 */
export function checkIsolators(c: Checker, v: unknown, path: string): Isolator[] | undefined {
  const list = array(checkIsolator)(c, v, path);
  if (!list) return undefined;
  const seen = new Set<string>();
  list.forEach(({ raw }, i) => {
    const p = sub(sub(path, i), 'name');
    if (seen.has(raw.name) && SINGLE.has(raw.name)) c.add(p, `only one ${JSON.stringify(raw.name)} isolator is allowed`);
    for (const [a, b] of CONFLICTS) {
      const other = raw.name === a ? b : raw.name === b ? a : undefined;
      if (other !== undefined && seen.has(other)) {
        c.add(p, `${JSON.stringify(raw.name)} cannot be used together with ${JSON.stringify(other)}`);
      }
    }
    seen.add(raw.name);
  });
  return list.map((x) => x.raw);
}

/**
 * The typed form of one isolator (`{name, value}`): quantities become numbers (bytes for
 * memory and bandwidth, millicores for CPU), sets become string arrays; unknown isolators
 * come back as `{kind: 'unknown', name, value}`. Throws `schema.invalid` naming the bad field
 * (`invalid isolator: value.limit: ...`).
 */
export function parseIsolator(isolator: unknown): TypedIsolator {
  const c = new Checker();
  const checked = checkIsolator(c, isolator, '');
  assertNoIssues(c, 'isolator');
  return (checked as CheckedIsolator).typed;
}

/** The typed forms of a list of isolators, checked as a set (see {@link checkIsolators}). */
export function parseIsolators(isolators: unknown): TypedIsolator[] {
  const c = new Checker();
  const raw = checkIsolators(c, isolators, '');
  assertNoIssues(c, 'isolators');
  return (raw ?? []).map((i) => parseIsolator(i));
}

/** The last isolator named `name` in a list (later ones override earlier ones), typed. */
export function findIsolator(isolators: readonly Isolator[] | undefined, name: string): TypedIsolator | undefined {
  if (!isolators) return undefined;
  for (let i = isolators.length - 1; i >= 0; i--) {
    const iso = isolators[i];
    if (iso && iso.name === name) return parseIsolator(iso);
  }
  return undefined;
}
