/**
 * The `coreos.com/rkt/stage1/run` entrypoint's argv. stage0 execs it with cwd = the pod
 * directory (`pods/run/<uuid>`), RKT_LOCK_FD set, and `run [flags] <uuid>`.
 */
import { type BuildOptions, makeGate } from './build';
import { argsError, parseGoFlags, valueFlag } from './flags';
import {
  type DnsConfMode,
  type IpcMode,
  type NetEntry,
  type PrivateUsers,
  formatDnsConfMode,
  formatNetList,
  formatPrivateUsers,
  isDefaultDnsConfMode,
  parseDnsConfMode,
  parseIpcMode,
  parseNetList,
  parsePrivateUsers,
  parseUuidArg,
} from './values';
import { RUN_FLAG_SINCE } from './versions';

const EP = 'stage1 run';

/** What stage0 tells the run entrypoint. Optional fields absent = not sent. */
export interface RunOptions {
  /** the pod uuid (positional) */
  uuid: string;
  debug?: boolean;
  /** networks (`--net=`); stage0 always sends the flag, `default` when this is empty or absent */
  net?: NetEntry[];
  /** pass stdin to the (single) app */
  interactive?: boolean;
  /** user namespace mapping (`--private-users=shift:count`) */
  privateUsers?: PrivateUsers;
  /** metadata service token (`--mds-token=`) */
  mdsToken?: string;
  /** local configuration directory (`--local-config=`); stage1 default /etc/rkt */
  localConfig?: string;
  /** pod hostname (v2); stage1 default `rkt-<uuid>` */
  hostname?: string;
  /** how /etc/resolv.conf and /etc/hosts are set up (v4); omitted when both are default */
  dnsConfMode?: DnsConfMode;
  /** give apps all capabilities (v3) */
  disableCapabilitiesRestriction?: boolean;
  /** no inaccessible / read-only paths (v3) */
  disablePaths?: boolean;
  /** no seccomp filter (v3) */
  disableSeccomp?: boolean;
  /** run a mutable pod (v5, and the stage1 must declare app entrypoints) */
  mutable?: boolean;
  /** IPC namespace mode (v6) */
  ipc?: IpcMode;
}

/** A parsed run argv: booleans always present, other options only when given. */
export type RunArgs = RunOptions & {
  debug: boolean;
  interactive: boolean;
  disableCapabilitiesRestriction: boolean;
  disablePaths: boolean;
  disableSeccomp: boolean;
  mutable: boolean;
};

/**
 * The run argv (without argv[0]) for a stage1 of `interfaceVersion`, in rkt's order.
 * Options newer than the stage1 are left out and reported through `opts.onOmit` (hostname,
 * dns-conf-mode, ipc, disable-*), except `mutable`, which throws `stage1.args.unsupported`
 * (a pod silently made immutable would fail later). Invalid values throw usage errors.
 */
export function buildRunArgs(o: RunOptions, interfaceVersion: number, opts: BuildOptions = {}): string[] {
  const gate = makeGate(EP, interfaceVersion, opts);
  const uuid = parseUuidArg(o.uuid);
  const args: string[] = [];
  if (o.debug) args.push('--debug');
  args.push(valueFlag('net', formatNetList(o.net ?? [])));
  if (o.interactive) args.push('--interactive');
  if (o.privateUsers) args.push(valueFlag('private-users', formatPrivateUsers(o.privateUsers)));
  if (o.mdsToken) args.push(valueFlag('mds-token', o.mdsToken));
  if (o.localConfig) args.push(valueFlag('local-config', o.localConfig));
  if (o.hostname && gate('hostname', RUN_FLAG_SINCE.hostname)) args.push(valueFlag('hostname', o.hostname));
  if (o.dnsConfMode && !isDefaultDnsConfMode(o.dnsConfMode) && gate('dns-conf-mode', RUN_FLAG_SINCE['dns-conf-mode'])) {
    args.push(valueFlag('dns-conf-mode', formatDnsConfMode(o.dnsConfMode)));
  }
  if (o.disableCapabilitiesRestriction && gate('disable-capabilities-restriction', RUN_FLAG_SINCE['disable-capabilities-restriction'])) {
    args.push('--disable-capabilities-restriction');
  }
  if (o.disablePaths && gate('disable-paths', RUN_FLAG_SINCE['disable-paths'])) args.push('--disable-paths');
  if (o.disableSeccomp && gate('disable-seccomp', RUN_FLAG_SINCE['disable-seccomp'])) args.push('--disable-seccomp');
  if (o.mutable && gate('mutable', RUN_FLAG_SINCE.mutable, true)) args.push('--mutable');
  if (o.ipc && gate('ipc', RUN_FLAG_SINCE.ipc)) args.push(valueFlag('ipc', parseIpcMode(o.ipc)));
  args.push(uuid);
  return args;
}

/**
 * Parses the run argv (without argv[0]) as a stage1 does: every flag of every interface
 * version is known, in any Go flag form; exactly one positional, the pod uuid (returned in
 * canonical form). Unknown flags, bad values, a missing or extra positional are usage errors
 * (`stage1.args.*`). Empty `--private-users=`, `--hostname=`, `--mds-token=`, `--ipc=` and
 * `--local-config=` mean "not set".
 */
export function parseRunArgs(argv: readonly string[]): RunArgs {
  const r: RunArgs = {
    uuid: '',
    debug: false,
    interactive: false,
    disableCapabilitiesRestriction: false,
    disablePaths: false,
    disableSeccomp: false,
    mutable: false,
  };
  const { positionals } = parseGoFlags(EP, argv, [
    { name: 'debug', kind: 'bool', set: (v) => (r.debug = v) },
    { name: 'net', kind: 'value', set: (v) => (r.net = parseNetList(v, r.net)) },
    { name: 'interactive', kind: 'bool', set: (v) => (r.interactive = v) },
    { name: 'private-users', kind: 'value', set: (v) => (v === '' ? delete r.privateUsers : (r.privateUsers = parsePrivateUsers(v))) },
    { name: 'mds-token', kind: 'value', set: (v) => (v === '' ? delete r.mdsToken : (r.mdsToken = v)) },
    { name: 'local-config', kind: 'value', set: (v) => (v === '' ? delete r.localConfig : (r.localConfig = v)) },
    { name: 'hostname', kind: 'value', set: (v) => (v === '' ? delete r.hostname : (r.hostname = v)) },
    { name: 'dns-conf-mode', kind: 'value', set: (v) => (r.dnsConfMode = parseDnsConfMode(v, r.dnsConfMode)) },
    { name: 'disable-capabilities-restriction', kind: 'bool', set: (v) => (r.disableCapabilitiesRestriction = v) },
    { name: 'disable-paths', kind: 'bool', set: (v) => (r.disablePaths = v) },
    { name: 'disable-seccomp', kind: 'bool', set: (v) => (r.disableSeccomp = v) },
    { name: 'mutable', kind: 'bool', set: (v) => (r.mutable = v) },
    { name: 'ipc', kind: 'value', set: (v) => (v === '' ? delete r.ipc : (r.ipc = parseIpcMode(v))) },
  ]);
  if (positionals.length === 0) throw argsError(EP, 'missing-argument', 'missing pod uuid argument');
  if (positionals.length > 1) throw argsError(EP, 'unexpected-argument', `unexpected argument ${JSON.stringify(positionals[1])}`, { arg: positionals[1] });
  r.uuid = parseUuidArg(positionals[0]!);
  return r;
}
