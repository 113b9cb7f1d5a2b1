/**
 * The guest spec: everything the guest init (native/init.c) needs to run the pod, decided on
 * the host and written to `<pod>/kvm/spec` before boot; and the enter request, the same kind
 * of message sent over the enter channel.
 *
 * Format: a sequence of strings, each terminated by a NUL byte (strings cannot contain NUL).
 * The spec starts with `rktnetes-kvm-spec`, the version (`4`; 3 is the same without the app
 * fields `mask` and `readonly`, 2 without `seccomp` either; both are still read), then fields,
 * each a keyword and its values:
 *
 * | Field | Values |
 * | --- | --- |
 * | `hostname` | name |
 * | `stop-timeout` | milliseconds between SIGTERM and SIGKILL when stopping |
 * | `interactive` | (none): open the rkt.stdin port |
 * | `share` | 9p tag, guest mount point, mount options (mounted before the apps) |
 * | `net` | MAC address, interface name or `-`, MTU or `0`, then net fields up to `end` |
 * | `app` | name, then app fields up to `end` |
 *
 * App fields: `root`, `path` (the program, inside the root), `arg` (repeated, argv[0] first),
 * `env` (`NAME=value`, repeated), `cwd`, `uid`, `gid`, `group` (repeated: supplementary
 * groups), `caps` (hex bounding-set mask), `no-new-privs`, `seccomp` (guest path of the app's
 * seccomp program, `struct sock_filter[]`), `stdin` (the app reads rkt.stdin),
 * `status` (guest path of its status file), `log` (guest path of its log), `mount` (fstype or
 * `-`, source, target, comma-separated flags among bind, rec, ro, nosuid, nodev, noexec or `-`,
 * data or `-`) and `devnodes` (a directory to fill with a minimal /dev), both in order, then
 * `mask` and `readonly` (repeated: a path inside the app's root), applied in order after every
 * mount: the path is resolved inside the root (a symlink cannot lead out of it) and skipped when
 * it does not exist; a masked file gets the app's /dev/null bound over it, a masked directory an
 * empty read-only tmpfs, a read-only path is bound onto itself and remounted read-only,
 * recursively.
 *
 * Net fields: `addr` (`a.b.c.d/prefix`, then `route`, or `noroute` when the guest must delete
 * the subnet route its kernel adds with the address) and `route` (`default` or
 * `a.b.c.d/prefix`, gateway or `-` for a route on the link), each repeated, in order.
 *
 * An enter request is keyword/value pairs: `root`, `cwd`, `path`, `arg` and `env` (repeated),
 * `app`, and `uid`, `gid` (a guest init ignores keywords it does not know). With `app` the
 * command runs as that app runs, everything taken from the app's spec entry: uid, gid,
 * supplementary groups, capability bounding set, no_new_privs and seccomp filter (installed in
 * the same order as for the app); `uid` and `gid` are then ignored. Without `app` (a request the
 * host does not send any more) it runs with `uid` and `gid` (default 0), the gid as the only
 * group, every capability and neither no_new_privs nor a filter.
 */
import { internalError } from '@rktnetes/errors';
import type { EnvEntry } from '@rktnetes/common';

/** First string of every spec. */
export const SPEC_MAGIC = 'rktnetes-kvm-spec';
/** The spec format version written (and the newest the guest init understands). */
export const SPEC_VERSION = '4';
/** The versions read: 3 adds the app field `seccomp` to 2, 4 the app fields `mask` and `readonly`. */
export const SPEC_VERSIONS_READ: readonly string[] = ['2', '3', '4'];

/** Mount flags the guest init knows. */
export type GuestMountFlag = 'bind' | 'rec' | 'ro' | 'nosuid' | 'nodev' | 'noexec';

/** One step of preparing an app's root in the guest, in order. */
export type GuestStep =
  | { kind: 'mount'; fstype?: string; source: string; target: string; flags?: GuestMountFlag[]; data?: string }
  | { kind: 'devnodes'; dir: string };

/** An app as the guest init starts it. All paths are guest paths. */
export interface GuestApp {
  name: string;
  /** the app's root directory (chroot) */
  root: string;
  /** the program to exec, inside the root */
  path: string;
  /** argv, argv[0] first */
  argv: string[];
  env: EnvEntry[];
  /** working directory, inside the root */
  cwd: string;
  uid: number;
  gid: number;
  /** supplementary groups */
  groups: number[];
  /** capability bounding set as a bit mask; absent: unchanged (all) */
  caps?: bigint;
  noNewPrivileges?: boolean;
  /**
   * the app's seccomp program (`struct sock_filter[]`, see @rktnetes/seccomp), installed just
   * before execve: before the uid change for a non-root app without no_new_privs, else last
   */
  seccomp?: string;
  /** the app reads the host's stdin (rkt.stdin) */
  stdin?: boolean;
  /** where the exit status goes */
  statusPath: string;
  /** where the CRI log records go */
  logPath?: string;
  steps: GuestStep[];
  /**
   * paths inside the root to hide, after the steps: `/dev/null` (the app's) bound on a file, an
   * empty read-only tmpfs on a directory; missing paths are skipped
   */
  maskedPaths?: string[];
  /** paths inside the root to make read-only (recursively), after the masks; missing paths are skipped */
  readOnlyPaths?: string[];
}

/** A 9p share the guest mounts before the apps. */
export interface GuestShare {
  tag: string;
  target: string;
  options: string;
}

/** An IPv4 address of a guest interface. */
export interface GuestAddress {
  /** `a.b.c.d/prefix` */
  cidr: string;
  /** keep the subnet route the guest kernel adds with the address (default true) */
  prefixRoute?: boolean;
}

/** An IPv4 route of a guest interface. */
export interface GuestRoute {
  /** `default` or `a.b.c.d/prefix` */
  dst: string;
  /** absent: a route on the link */
  gateway?: string;
}

/** A network interface, found in the guest by its MAC address. */
export interface GuestNet {
  mac: string;
  /** the name the guest gives it (default: the kernel's) */
  name?: string;
  /** default: the driver's */
  mtu?: number;
  addresses: GuestAddress[];
  /** added in this order, after every address */
  routes: GuestRoute[];
}

/** What the guest init runs. */
export interface GuestSpec {
  hostname?: string;
  stopTimeoutMs?: number;
  interactive?: boolean;
  shares: GuestShare[];
  nets: GuestNet[];
  apps: GuestApp[];
}

/** A command for the enter channel: run `path` with `argv` in `root`. Guest paths. */
export interface EnterRequest {
  root: string;
  cwd: string;
  path: string;
  argv: string[];
  env: EnvEntry[];
  /** only without `app`: the uid and gid (default 0) */
  uid?: number;
  gid?: number;
  /**
   * the app as which the command runs: its uid, gid, groups, capability bounding set,
   * no_new_privs and seccomp filter, from the spec the guest init has
   */
  app?: string;
}

function checkToken(s: string): string {
  if (s.includes('\0')) throw internalError('stage1-kvm.spec.nul', `cannot pass a string containing NUL to the guest: ${JSON.stringify(s)}`);
  return s;
}

/** The NUL-terminated encoding of `tokens`. */
export function encodeTokens(tokens: readonly string[]): Buffer {
  return Buffer.from(tokens.map((t) => `${checkToken(t)}\0`).join(''), 'utf8');
}

/** Splits NUL-terminated strings; throws `stage1-kvm.spec.invalid` on a missing final NUL. */
export function decodeTokens(buf: Uint8Array): string[] {
  const text = Buffer.from(buf).toString('utf8');
  if (text === '') return [];
  if (!text.endsWith('\0')) throw internalError('stage1-kvm.spec.invalid', 'token sequence does not end with NUL');
  return text.slice(0, -1).split('\0');
}

const dash = (s: string | undefined) => (s === undefined || s === '' ? '-' : s);

function appTokens(a: GuestApp): string[] {
  const t = ['app', a.name, 'root', a.root, 'path', a.path];
  for (const arg of a.argv) t.push('arg', arg);
  for (const [n, v] of a.env) t.push('env', `${n}=${v}`);
  t.push('cwd', a.cwd, 'uid', String(a.uid), 'gid', String(a.gid));
  for (const g of a.groups) t.push('group', String(g));
  if (a.caps !== undefined) t.push('caps', a.caps.toString(16));
  if (a.noNewPrivileges) t.push('no-new-privs');
  if (a.seccomp !== undefined) t.push('seccomp', a.seccomp);
  if (a.stdin) t.push('stdin');
  t.push('status', a.statusPath);
  if (a.logPath) t.push('log', a.logPath);
  for (const s of a.steps) {
    if (s.kind === 'devnodes') t.push('devnodes', s.dir);
    else t.push('mount', dash(s.fstype), s.source, s.target, s.flags && s.flags.length ? s.flags.join(',') : '-', dash(s.data));
  }
  for (const p of a.maskedPaths ?? []) t.push('mask', p);
  for (const p of a.readOnlyPaths ?? []) t.push('readonly', p);
  t.push('end');
  return t;
}

/**
 * The bytes of `<pod>/kvm/spec`. Throws `stage1-kvm.spec.nul` (internal) for a string with a NUL
 * byte (callers validate names and environments before).
 */
export function serializeGuestSpec(spec: GuestSpec): Buffer {
  const t = [SPEC_MAGIC, SPEC_VERSION];
  if (spec.hostname) t.push('hostname', spec.hostname);
  if (spec.stopTimeoutMs !== undefined) t.push('stop-timeout', String(Math.max(0, Math.round(spec.stopTimeoutMs))));
  if (spec.interactive) t.push('interactive');
  for (const s of spec.shares) t.push('share', s.tag, s.target, s.options);
  for (const n of spec.nets) {
    t.push('net', n.mac, dash(n.name), String(n.mtu ?? 0));
    for (const a of n.addresses) t.push('addr', a.cidr, a.prefixRoute === false ? 'noroute' : 'route');
    for (const r of n.routes) t.push('route', r.dst, dash(r.gateway));
    t.push('end');
  }
  for (const a of spec.apps) t.push(...appTokens(a));
  return encodeTokens(t);
}

function splitEnv(s: string): readonly [string, string] {
  const i = s.indexOf('=');
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

/**
 * Parses a spec written by {@link serializeGuestSpec} (the same rules as the guest init, for
 * tests and `--debug` dumps). Throws `stage1-kvm.spec.invalid`.
 */
export function parseGuestSpec(buf: Uint8Array): GuestSpec {
  const t = decodeTokens(buf);
  let i = 0;
  const bad = (m: string) => internalError('stage1-kvm.spec.invalid', `guest spec: ${m}`);
  const next = (what: string): string => {
    const v = t[i++];
    if (v === undefined) throw bad(`missing ${what}`);
    return v;
  };
  const num = (what: string) => {
    const v = next(what);
    if (!/^\d+$/.test(v)) throw bad(`${what} is not a number: ${v}`);
    return Number(v);
  };
  const undash = (s: string) => (s === '-' ? undefined : s);
  if (next('magic') !== SPEC_MAGIC || !SPEC_VERSIONS_READ.includes(next('version'))) throw bad(`not a version ${SPEC_VERSIONS_READ.join(' or ')} spec`);
  const spec: GuestSpec = { shares: [], nets: [], apps: [] };
  while (i < t.length) {
    const k = next('field');
    if (k === 'hostname') spec.hostname = next('hostname');
    else if (k === 'stop-timeout') spec.stopTimeoutMs = num('stop-timeout');
    else if (k === 'interactive') spec.interactive = true;
    else if (k === 'share') spec.shares.push({ tag: next('tag'), target: next('target'), options: next('options') });
    else if (k === 'net') {
      const mac = next('mac');
      const name = undash(next('name'));
      const mtu = num('mtu');
      const n: GuestNet = { mac, ...(name ? { name } : {}), ...(mtu ? { mtu } : {}), addresses: [], routes: [] };
      for (let f = next('net field'); f !== 'end'; f = next('net field')) {
        if (f === 'addr') {
          const cidr = next('address');
          const flag = next('address flag');
          if (flag !== 'route' && flag !== 'noroute') throw bad(`unknown address flag ${flag}`);
          n.addresses.push({ cidr, ...(flag === 'noroute' ? { prefixRoute: false } : {}) });
        } else if (f === 'route') {
          const dst = next('route');
          const gateway = undash(next('gateway'));
          n.routes.push({ dst, ...(gateway ? { gateway } : {}) });
        } else throw bad(`unknown net field ${f}`);
      }
      spec.nets.push(n);
    } else if (k === 'app') {
      const a: GuestApp = { name: next('app name'), root: '', path: '', argv: [], env: [], cwd: '/', uid: 0, gid: 0, groups: [], statusPath: '', steps: [] };
      for (let f = next('app field'); f !== 'end'; f = next('app field')) {
        if (f === 'root') a.root = next('root');
        else if (f === 'path') a.path = next('path');
        else if (f === 'arg') a.argv.push(next('arg'));
        else if (f === 'env') a.env.push(splitEnv(next('env')));
        else if (f === 'cwd') a.cwd = next('cwd');
        else if (f === 'uid') a.uid = num('uid');
        else if (f === 'gid') a.gid = num('gid');
        else if (f === 'group') a.groups.push(num('group'));
        else if (f === 'caps') a.caps = BigInt(`0x${next('caps')}`);
        else if (f === 'no-new-privs') a.noNewPrivileges = true;
        else if (f === 'seccomp') a.seccomp = next('seccomp');
        else if (f === 'stdin') a.stdin = true;
        else if (f === 'status') a.statusPath = next('status');
        else if (f === 'log') a.logPath = next('log');
        else if (f === 'devnodes') a.steps.push({ kind: 'devnodes', dir: next('dir') });
        else if (f === 'mask') (a.maskedPaths ??= []).push(next('mask'));
        else if (f === 'readonly') (a.readOnlyPaths ??= []).push(next('readonly'));
        else if (f === 'mount') {
          const fstype = undash(next('fstype'));
          const source = next('source');
          const target = next('target');
          const flags = undash(next('flags'));
          const data = undash(next('data'));
          a.steps.push({
            kind: 'mount',
            ...(fstype ? { fstype } : {}),
            source,
            target,
            ...(flags ? { flags: flags.split(',') as GuestMountFlag[] } : {}),
            ...(data ? { data } : {}),
          });
        } else throw bad(`unknown app field ${f}`);
      }
      spec.apps.push(a);
    } else throw bad(`unknown field ${k}`);
  }
  return spec;
}

/** The payload of an enter request frame. */
export function serializeEnterRequest(r: EnterRequest): Buffer {
  const t = ['root', r.root, 'cwd', r.cwd, 'path', r.path];
  for (const a of r.argv) t.push('arg', a);
  for (const [n, v] of r.env) t.push('env', `${n}=${v}`);
  if (r.uid !== undefined) t.push('uid', String(r.uid));
  if (r.gid !== undefined) t.push('gid', String(r.gid));
  if (r.app !== undefined) t.push('app', r.app);
  return encodeTokens(t);
}
