/**
 * Command lines of `rkt app sandbox` and `rkt app add`.
 *
 *   rkt app sandbox [--net=...] [--hostname=...] [--dns...] [--port=NAME:PROTO:PODPORT:HOSTIP:HOSTPORT]
 *                   [--sysctl=NAME=VALUE] [--cgroup-parent=PATH] [--pid=private|host]
 *                   [--annotation=K=V] [--user-annotation=K=V] [--user-label=K=V] [--uuid-file-save=FILE] [stage1 flags]
 *   rkt app add UUID IMAGE [app flags as rkt run's per-image flags] [--stdin=MODE] [--stdout=MODE] [--stderr=MODE]
 *               [--stdin-once] [--log-path=FILE] [--mnt-volume=name=N,kind=host,source=S,target=T] [-- ARGS...]
 */
import { isIP } from 'node:net';
import { usageError } from '@rktnetes/errors';
import { isACName, type ExposedPort, type Mount } from '@rktnetes/schema';
import type { GlobalOptions } from '../cli/globals';
import { appFlagSpecs, emptyPodArgs, parseVolume, runFlagSpecs, setEnv, type CliApp, type EnvList, type PodArgs, type RunFlags } from '../pod/args';
import { commandParser } from '../pod/cli';
import { invalidFlag } from '../pod/flags';
import { emptyPodSettings, podSettingsFlagSpecs, type PodSettingsArgs } from '../pod/settings';
import { stage1FlagSpecs, type Stage1Choice } from '../stage1/select';

const usage = (code: string, message: string) => usageError(`cli.${code}`, message);

/** The stdio modes `rkt app add` accepts (rkt's; `interactive` is for `rkt run --interactive` only). */
export const STDIO_MODES = ['null', 'log', 'stream', 'tty'] as const;
export type StdioMode = (typeof STDIO_MODES)[number];

/** Everything `rkt app sandbox` was told. */
export interface SandboxArgs extends RunFlags {
  stage1: { choice?: Stage1Choice };
  noOverlay: boolean;
  uuidFileSave?: string;
  ports: ExposedPort[];
  annotations: EnvList;
  userAnnotations: Record<string, string>;
  userLabels: Record<string, string>;
  /** `--sysctl`, `--cgroup-parent`, `--pid` */
  podSettings: PodSettingsArgs;
}

function kv(value: string, flag: string): [string, string] {
  const eq = value.indexOf('=');
  if (eq <= 0) throw invalidFlag(flag, value, 'expected NAME=VALUE');
  return [value.slice(0, eq), value.slice(eq + 1)];
}

/** A sandbox `--port`: `NAME:PROTO:PODPORT:HOSTIP:HOSTPORT` (rkt's appPortList). */
export function parseSandboxPort(value: string): ExposedPort {
  const parts = value.split(':');
  if (parts.length !== 5) throw invalidFlag('port', value, 'expected NAME:PROTO:PODPORT:HOSTIP:HOSTPORT');
  const [name, proto, podPort, hostIP, hostPort] = parts as [string, string, string, string, string];
  if (!isACName(name)) throw invalidFlag('port', value, `${JSON.stringify(name)} is not a valid port name`);
  if (proto !== 'tcp' && proto !== 'udp') throw invalidFlag('port', value, `invalid protocol ${JSON.stringify(proto)}`);
  const num = (s: string) => {
    const n = /^\d+$/.test(s) ? Number(s) : NaN;
    if (!(n >= 0 && n <= 65535)) throw invalidFlag('port', value, `${JSON.stringify(s)} is not a valid port number`);
    return n;
  };
  if (isIP(hostIP) === 0) throw invalidFlag('port', value, `could not parse IP ${JSON.stringify(hostIP)}`);
  return {
    name,
    hostPort: num(hostPort),
    hostIP,
    podPort: { name, protocol: proto, port: num(podPort), count: 1, socketActivated: false },
  };
}

/** Parses the arguments of `rkt app sandbox` (no positionals). */
export function parseSandboxArgs(args: readonly string[], base: GlobalOptions): { sandbox: SandboxArgs; globals: GlobalOptions } {
  const o: SandboxArgs = {
    interactive: false,
    dns: [],
    dnsSearch: [],
    dnsOpt: [],
    dnsDomain: '',
    hostsEntries: [],
    mdsRegister: false,
    stage1: {},
    noOverlay: false,
    ports: [],
    annotations: [],
    userAnnotations: {},
    userLabels: {},
    podSettings: emptyPodSettings(),
  };
  const { parser, globals } = commandParser(base, [
    ...runFlagSpecs(o).filter((s) => s.name !== 'interactive'),
    ...stage1FlagSpecs(o.stage1),
    { name: 'no-overlay', kind: 'bool', set: (v) => (o.noOverlay = v === 'true') },
    { name: 'uuid-file-save', kind: 'value', set: (v) => (o.uuidFileSave = v) },
    { name: 'port', kind: 'value', set: (v) => o.ports.push(parseSandboxPort(v)) },
    ...podSettingsFlagSpecs(o.podSettings),
    { name: 'annotation', kind: 'value', set: (v) => setEnv(o.annotations, ...kv(v, 'annotation')) },
    { name: 'user-annotation', kind: 'value', set: (v) => ((([k, val]) => (o.userAnnotations[k] = val))(kv(v, 'user-annotation'))) },
    { name: 'user-label', kind: 'value', set: (v) => ((([k, val]) => (o.userLabels[k] = val))(kv(v, 'user-label'))) },
  ]);
  const rest = parser.parse(args);
  if (rest.length > 0) throw usage('usage', `app sandbox: unexpected argument ${JSON.stringify(rest[0])}`);
  return { sandbox: o, globals };
}

/** Everything `rkt app add` was told. */
export interface AddArgs {
  uuid: string;
  app: CliApp;
  /** the parsed per-app flags live in `pod.apps[0]` (= `app`) */
  pod: PodArgs;
  stdio: { stdin?: StdioMode; stdout?: StdioMode; stderr?: StdioMode };
  stdinOnce: boolean;
  logPath?: string;
}

/**
 * Parses `--mnt-volume`: a volume and where to mount it, `name=N,kind=host|empty,source=S,
 * readOnly=B,...,target=PATH` (rkt's appMountVolume: the mount carries its own volume).
 */
export function parseMountVolume(value: string): Mount {
  const parts = value.split(',').filter(Boolean);
  let target: string | undefined;
  let name: string | undefined;
  const rest: string[] = [];
  for (const p of parts) {
    if (p.startsWith('target=')) {
      if (target !== undefined) throw invalidFlag('mnt-volume', value, 'target= given twice');
      target = p.slice('target='.length);
    } else if (p.startsWith('name=')) {
      name = p.slice('name='.length);
    } else {
      rest.push(p);
    }
  }
  if (!target) throw invalidFlag('mnt-volume', value, 'missing target= parameter');
  if (!name) throw invalidFlag('mnt-volume', value, 'missing name= parameter');
  const volume = parseVolume([name, ...rest].join(','));
  return { volume: volume.name, path: target, appVolume: volume };
}

function mode(flag: string, value: string, allowed: readonly string[]): StdioMode {
  if (!allowed.includes(value)) throw invalidFlag(flag, value, `expected one of ${allowed.join(', ')}`);
  return value as StdioMode;
}

/**
 * Parses the arguments of `rkt app add`: the pod UUID and the image (positionals, flags
 * anywhere), the per-app flags of `rkt run`, the stdio modes, `--mnt-volume`, and the app's
 * arguments after `--`. Usage errors `cli.*`.
 */
export function parseAddArgs(args: readonly string[], base: GlobalOptions): { add: AddArgs; globals: GlobalOptions } {
  const dashes = args.indexOf('--');
  const flags = dashes < 0 ? args : args.slice(0, dashes);
  const pod = emptyPodArgs();
  const app: CliApp = { image: '', mounts: [], isolators: [], annotations: [], environment: [] };
  if (dashes >= 0) app.args = args.slice(dashes + 1);
  pod.apps.push(app);
  const out: Omit<AddArgs, 'uuid' | 'app' | 'pod'> = { stdio: {}, stdinOnce: false };
  const { parser, globals } = commandParser(base, [
    ...appFlagSpecs(pod).filter((s) => s.name !== 'signature'),
    { name: 'mnt-volume', kind: 'value', set: (v) => app.mounts.push(parseMountVolume(v)) },
    { name: 'stdin', kind: 'value', set: (v) => (out.stdio.stdin = mode('stdin', v, ['null', 'stream', 'tty'])) },
    { name: 'stdout', kind: 'value', set: (v) => (out.stdio.stdout = mode('stdout', v, STDIO_MODES)) },
    { name: 'stderr', kind: 'value', set: (v) => (out.stdio.stderr = mode('stderr', v, STDIO_MODES)) },
    { name: 'stdin-once', kind: 'bool', set: (v) => (out.stdinOnce = v === 'true') },
    { name: 'log-path', kind: 'value', set: (v) => (out.logPath = v) },
  ]);
  const positionals = parser.parse(flags);
  if (positionals.length < 2) throw usage('usage', 'app add: must provide the pod UUID and an IMAGE');
  if (positionals.length > 2) throw usage('usage', `app add: unexpected argument ${JSON.stringify(positionals[2])} (app arguments go after --)`);
  app.image = positionals[1]!;
  const tty = [out.stdio.stdin, out.stdio.stdout, out.stdio.stderr].filter((m) => m === 'tty').length;
  if (tty !== 0 && tty !== 3) throw usage('invalid-value', 'a tty must be used for --stdin, --stdout and --stderr together');
  if (out.logPath !== undefined && !out.logPath.startsWith('/')) throw invalidFlag('log-path', out.logPath, 'must be an absolute path');
  if (app.capsRetain && app.capsRemove) throw usage('app-flag', 'cannot use both --caps-retain and --caps-remove on the same image');
  return { add: { uuid: positionals[0]!, app, pod, ...out }, globals };
}
