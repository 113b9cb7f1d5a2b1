/**
 * The structured flag values of the stage1 interface: `--net`, `--dns-conf-mode`,
 * `--private-users`, `--ipc`, and the uuid / app name arguments. Each has a parser (strict,
 * usage errors) and a formatter producing what rkt's stage0 produces.
 */
import { normalizeUUID } from '@rktnetes/common';
import { isRktError, usageError } from '@rktnetes/errors';

const invalid = (message: string, details: Record<string, unknown> = {}) => usageError('stage1.args.invalid-value', message, { details });

// --------------------------------------------------------------------------------- --net

/** One network requested with `--net`: a name and, for named networks, CNI_ARGS-style args. */
export interface NetEntry {
  /** `default`, `default-restricted`, `host`, `none`, `all`, or a configured network name */
  name: string;
  /** `k1=v1;k2=v2` passed to the network's plugin; not allowed for `host` and `all` */
  args?: string;
}

/**
 * Parses a `--net` value: comma-separated `name[:args]` entries. Errors (usage,
 * `stage1.args.invalid-value`): empty name, duplicate name, args on `host`/`all`, more than one
 * `:` in an entry. `previous` accumulates a repeated `--net`, as rkt does.
 */
export function parseNetList(value: string, previous: readonly NetEntry[] = []): NetEntry[] {
  const out = [...previous];
  for (const part of value.split(',')) {
    const pieces = part.split(':');
    const name = pieces[0]!;
    if (name === '') throw invalid('--net: network name must not be empty', { value });
    if (out.some((n) => n.name === name)) throw invalid(`--net: duplicate network ${JSON.stringify(name)}`, { value });
    if (pieces.length > 2) throw invalid(`--net: network ${JSON.stringify(name)} has invalid arguments ${JSON.stringify(pieces.slice(1).join(':'))}`, { value });
    if (pieces.length === 2) {
      if (name === 'all' || name === 'host') throw invalid(`--net: network ${JSON.stringify(name)} takes no arguments`, { value });
      out.push({ name, args: pieces[1]! });
    } else {
      out.push({ name });
    }
  }
  return out;
}

/**
 * Formats a network list for `--net=`; an empty list is `default`, as rkt's stage0 sends.
 * Throws the same usage errors as {@link parseNetList} for a list the stage1 would reject
 * (including names or args containing `,` or `:`).
 */
export function formatNetList(nets: readonly NetEntry[]): string {
  if (nets.length === 0) return 'default';
  const text = nets.map((n) => (n.args !== undefined && n.args !== '' ? `${n.name}:${n.args}` : n.name)).join(',');
  const back = parseNetList(text);
  const same = back.length === nets.length && back.every((b, i) => b.name === nets[i]!.name && (b.args ?? '') === (nets[i]!.args ?? ''));
  if (!same) throw invalid(`--net: network names and args cannot contain "," or ":"`, { value: text });
  return text;
}

/** The pod uses the host's network namespace: `host` was asked for, or no `--net` at all (rkt). */
export const netIsHost = (nets: readonly NetEntry[] | undefined): boolean => !nets || nets.length === 0 || nets.some((n) => n.name === 'host');
/** The pod gets a private network namespace with only loopback. */
export const netIsNone = (nets: readonly NetEntry[] | undefined): boolean => !!nets && nets.some((n) => n.name === 'none');
/** The pod gets its own network namespace (everything but host networking). */
export const netIsContained = (nets: readonly NetEntry[] | undefined): boolean => !netIsHost(nets);

// ------------------------------------------------------------------------ --dns-conf-mode

/** `resolv` modes: bind the host's file, use what stage0 wrote, create none, or the default. */
export const RESOLV_MODES = ['host', 'stage0', 'none', 'default'] as const;
export type ResolvMode = (typeof RESOLV_MODES)[number];
/** `hosts` modes. */
export const HOSTS_MODES = ['host', 'stage0', 'default'] as const;
export type HostsMode = (typeof HOSTS_MODES)[number];

/** How stage1 sets up `/etc/resolv.conf` and `/etc/hosts` (interface version 4). */
export interface DnsConfMode {
  resolv: ResolvMode;
  hosts: HostsMode;
}

/** Both files handled the default way; stage0 then sends no `--dns-conf-mode`. */
export const DEFAULT_DNS_CONF_MODE: Readonly<DnsConfMode> = { resolv: 'default', hosts: 'default' };

/**
 * Parses `resolv=<mode>,hosts=<mode>` (either order, either key optional, missing keys
 * `default`; a repeated flag updates `previous`). Unknown keys or values are usage errors.
 */
export function parseDnsConfMode(value: string, previous: DnsConfMode = DEFAULT_DNS_CONF_MODE): DnsConfMode {
  const out: DnsConfMode = { ...previous };
  for (const pair of value.split(',')) {
    const eq = pair.indexOf('=');
    if (eq < 0) throw invalid(`--dns-conf-mode: cannot parse key=value pair ${JSON.stringify(value)}`, { value });
    const key = pair.slice(0, eq);
    const v = pair.slice(eq + 1);
    if (key === 'resolv') {
      if (!(RESOLV_MODES as readonly string[]).includes(v)) throw invalid(`--dns-conf-mode: resolv does not allow ${JSON.stringify(v)}`, { value });
      out.resolv = v as ResolvMode;
    } else if (key === 'hosts') {
      if (!(HOSTS_MODES as readonly string[]).includes(v)) throw invalid(`--dns-conf-mode: hosts does not allow ${JSON.stringify(v)}`, { value });
      out.hosts = v as HostsMode;
    } else {
      throw invalid(`--dns-conf-mode: key ${JSON.stringify(key)} is not allowed`, { value });
    }
  }
  return out;
}

/** `resolv=<mode>,hosts=<mode>`, the form rkt's stage0 sends; unknown modes are usage errors. */
export function formatDnsConfMode(m: DnsConfMode): string {
  const text = `resolv=${m.resolv},hosts=${m.hosts}`;
  parseDnsConfMode(text);
  return text;
}

/** Whether a mode differs from the default (only then is the flag sent). */
export const isDefaultDnsConfMode = (m: DnsConfMode) => m.resolv === 'default' && m.hosts === 'default';

// ------------------------------------------------------------------------ --private-users

/** A user namespace mapping: container uid/gid 0 is host `shift`, for `count` ids. */
export interface PrivateUsers {
  shift: number;
  count: number;
}

/** Parses `shift:count` (both decimal, non-negative; count positive). Usage error otherwise. */
export function parsePrivateUsers(value: string): PrivateUsers {
  const m = /^(\d+):(\d+)$/.exec(value);
  const shift = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(shift) || !Number.isSafeInteger(count) || count < 1 || shift + count > 2 ** 32) {
    throw invalid(`--private-users: expected SHIFT:COUNT, got ${JSON.stringify(value)}`, { value });
  }
  return { shift, count };
}

/** `shift:count`, also the content of the `private-users-prepared` marker file; validated. */
export function formatPrivateUsers(p: PrivateUsers): string {
  const text = `${p.shift}:${p.count}`;
  parsePrivateUsers(text);
  return text;
}

// --------------------------------------------------------------------------------- --ipc

/** IPC namespace: `auto` (the flavor's default: parent for fly, private otherwise). */
export const IPC_MODES = ['auto', 'private', 'parent'] as const;
export type IpcMode = (typeof IPC_MODES)[number];

/** Parses an `--ipc` value; usage error for anything but auto, private, parent. */
export function parseIpcMode(value: string): IpcMode {
  if (!(IPC_MODES as readonly string[]).includes(value)) throw invalid(`--ipc: expected auto, private or parent, got ${JSON.stringify(value)}`, { value });
  return value as IpcMode;
}

// -------------------------------------------------------------------- uuid and app names

/** Validates a pod uuid argument and returns its canonical form; usage error otherwise. */
export function parseUuidArg(value: string, what = 'pod uuid'): string {
  try {
    return normalizeUUID(value);
  } catch (e) {
    if (isRktError(e)) throw invalid(`${what} is missing or malformed: ${JSON.stringify(value)}`, { value });
    throw e;
  }
}

const AC_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** Validates an app name (an appc AC name: lowercase alphanumerics separated by single dashes). */
export function parseAppName(value: string): string {
  if (!AC_NAME.test(value)) throw invalid(`invalid app name ${JSON.stringify(value)}`, { value });
  return value;
}

/** Validates a pid argument: a positive decimal integer. */
export function parsePid(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw invalid(`invalid pid ${JSON.stringify(value)}`, { value });
  return n;
}
