/**
 * The argv of the crossing entrypoints (interface version 5, mutable pods): app/add,
 * app/start, app/stop, app/rm and attach. stage0 runs them with cwd = the pod directory and a
 * fresh environment holding only the crossing variables (see crossing.ts) and PATH. They take
 * no positional arguments.
 */
import type { BuildOptions } from './build';
import { argsError, explicitBool, parseGoFlags, valueFlag } from './flags';
import { type PrivateUsers, formatPrivateUsers, parseAppName, parsePrivateUsers, parseUuidArg } from './values';
import { checkInterfaceVersion } from './versions';

function noPositionals(ep: string, positionals: readonly string[]): void {
  if (positionals.length > 0) throw argsError(ep, 'unexpected-argument', `unexpected argument ${JSON.stringify(positionals[0])}`, { arg: positionals[0] });
}

function requireApp(ep: string, app: string | undefined): string {
  if (app === undefined || app === '') throw argsError(ep, 'missing-argument', 'missing --app');
  return app;
}

// -------------------------------------------------------------------------------- app/add

/** `coreos.com/rkt/stage1/app/add`: set up an app stage0 already added to the pod manifest. */
export interface AppAddOptions {
  uuid: string;
  appName: string;
  debug?: boolean;
  disableCapabilitiesRestriction?: boolean;
  disablePaths?: boolean;
  disableSeccomp?: boolean;
  privateUsers?: PrivateUsers;
}

/** A parsed app/add argv. */
export type AppAddArgs = AppAddOptions & {
  debug: boolean;
  disableCapabilitiesRestriction: boolean;
  disablePaths: boolean;
  disableSeccomp: boolean;
};

const APP_ADD = 'stage1 app/add';

/**
 * `--debug=<bool> --uuid=<uuid> --app=<name>`, as rkt's stage0 sends, then the documented
 * optional flags only when set (`--disable-*`, `--private-users=`): rkt's own app/add does
 * not accept those, so they are never sent unasked.
 */
export function buildAppAddArgs(o: AppAddOptions, interfaceVersion: number, _opts: BuildOptions = {}): string[] {
  checkInterfaceVersion(interfaceVersion);
  const args = [explicitBool('debug', !!o.debug), valueFlag('uuid', parseUuidArg(o.uuid)), valueFlag('app', parseAppName(o.appName))];
  if (o.disableCapabilitiesRestriction) args.push('--disable-capabilities-restriction');
  if (o.disablePaths) args.push('--disable-paths');
  if (o.disableSeccomp) args.push('--disable-seccomp');
  if (o.privateUsers) args.push(valueFlag('private-users', formatPrivateUsers(o.privateUsers)));
  return args;
}

/** Parses an app/add argv; `--uuid` and `--app` are required. */
export function parseAppAddArgs(argv: readonly string[]): AppAddArgs {
  const r: Partial<AppAddArgs> & { debug: boolean; disableCapabilitiesRestriction: boolean; disablePaths: boolean; disableSeccomp: boolean } = {
    debug: false,
    disableCapabilitiesRestriction: false,
    disablePaths: false,
    disableSeccomp: false,
  };
  const { positionals } = parseGoFlags(APP_ADD, argv, [
    { name: 'debug', kind: 'bool', set: (v) => (r.debug = v) },
    { name: 'uuid', kind: 'value', set: (v) => (r.uuid = parseUuidArg(v)) },
    { name: 'app', kind: 'value', set: (v) => (r.appName = parseAppName(v)) },
    { name: 'disable-capabilities-restriction', kind: 'bool', set: (v) => (r.disableCapabilitiesRestriction = v) },
    { name: 'disable-paths', kind: 'bool', set: (v) => (r.disablePaths = v) },
    { name: 'disable-seccomp', kind: 'bool', set: (v) => (r.disableSeccomp = v) },
    { name: 'private-users', kind: 'value', set: (v) => (v === '' ? delete r.privateUsers : (r.privateUsers = parsePrivateUsers(v))) },
  ]);
  noPositionals(APP_ADD, positionals);
  if (r.uuid === undefined) throw argsError(APP_ADD, 'missing-argument', 'missing --uuid');
  return { ...r, uuid: r.uuid, appName: requireApp(APP_ADD, r.appName) };
}

// ----------------------------------------------------------------- app/start, stop, rm

/** app/start, app/stop, app/rm: act on one app of a running mutable pod. */
export interface AppOptions {
  appName: string;
  debug?: boolean;
}

/** A parsed app/start, app/stop or app/rm argv. */
export type AppArgs = AppOptions & { debug: boolean };

/** The three entrypoints sharing {@link AppOptions}. */
export type AppEntrypoint = 'app/start' | 'app/stop' | 'app/rm';

/** `--debug=<bool> --app=<name>`, as rkt's stage0 sends to app/start, app/stop and app/rm. */
export function buildAppArgs(o: AppOptions, interfaceVersion: number, _opts: BuildOptions = {}): string[] {
  checkInterfaceVersion(interfaceVersion);
  return [explicitBool('debug', !!o.debug), valueFlag('app', parseAppName(o.appName))];
}

/** Parses an app/start, app/stop or app/rm argv; `--app` is required. */
export function parseAppArgs(argv: readonly string[], entrypoint: AppEntrypoint = 'app/start'): AppArgs {
  const ep = `stage1 ${entrypoint}`;
  const r: { appName?: string; debug: boolean } = { debug: false };
  const { positionals } = parseGoFlags(ep, argv, [
    { name: 'debug', kind: 'bool', set: (v) => (r.debug = v) },
    { name: 'app', kind: 'value', set: (v) => (r.appName = parseAppName(v)) },
  ]);
  noPositionals(ep, positionals);
  return { appName: requireApp(ep, r.appName), debug: r.debug };
}

export const buildAppStartArgs = buildAppArgs;
export const buildAppStopArgs = buildAppArgs;
export const buildAppRmArgs = buildAppArgs;
export const parseAppStartArgs = (argv: readonly string[]) => parseAppArgs(argv, 'app/start');
export const parseAppStopArgs = (argv: readonly string[]) => parseAppArgs(argv, 'app/stop');
export const parseAppRmArgs = (argv: readonly string[]) => parseAppArgs(argv, 'app/rm');

// --------------------------------------------------------------------------------- attach

/** What attach does: list the app's endpoints, attach to what the app has, or to chosen ones. */
export const ATTACH_ACTIONS = ['list', 'auto-attach', 'custom-attach'] as const;
export type AttachAction = (typeof ATTACH_ACTIONS)[number];

/** `coreos.com/rkt/stage1/attach`: connect the caller's stdio to an app's. */
export interface AttachOptions {
  appName: string;
  action: AttachAction;
  debug?: boolean;
  /** custom-attach endpoints; a tty and the streams cannot be mixed */
  ttyIn?: boolean;
  ttyOut?: boolean;
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
}

/** A parsed attach argv. */
export type AttachArgs = Required<AttachOptions>;

const ATTACH = 'stage1 attach';

function checkEndpoints(o: AttachArgs): void {
  if (o.action !== 'custom-attach') return;
  const tty = o.ttyIn || o.ttyOut;
  const streams = o.stdin || o.stdout || o.stderr;
  if (!tty && !streams) throw argsError(ATTACH, 'invalid-value', 'custom-attach needs at least one endpoint');
  if (tty && streams) throw argsError(ATTACH, 'invalid-value', 'cannot attach a tty and streams at the same time');
}

const fullAttach = (o: AttachOptions): AttachArgs => ({
  appName: o.appName,
  action: o.action,
  debug: !!o.debug,
  ttyIn: !!o.ttyIn,
  ttyOut: !!o.ttyOut,
  stdin: !!o.stdin,
  stdout: !!o.stdout,
  stderr: !!o.stderr,
});

/**
 * `--action=<action>`, for custom-attach the five endpoint booleans, then `--app=<name>
 * --debug=<bool>` (rkt's order). Invalid endpoint combinations are usage errors.
 */
export function buildAttachArgs(o: AttachOptions, interfaceVersion: number, _opts: BuildOptions = {}): string[] {
  checkInterfaceVersion(interfaceVersion);
  const f = fullAttach(o);
  if (!(ATTACH_ACTIONS as readonly string[]).includes(f.action)) throw argsError(ATTACH, 'invalid-value', `unknown action ${JSON.stringify(f.action)}`);
  checkEndpoints(f);
  const args = [valueFlag('action', f.action)];
  if (f.action === 'custom-attach') {
    args.push(
      explicitBool('tty-in', f.ttyIn),
      explicitBool('tty-out', f.ttyOut),
      explicitBool('stdin', f.stdin),
      explicitBool('stdout', f.stdout),
      explicitBool('stderr', f.stderr),
    );
  }
  args.push(valueFlag('app', parseAppName(f.appName)), explicitBool('debug', f.debug));
  return args;
}

/** Parses an attach argv; `--action` defaults to `list` (as rkt's attach); `--app` is required. */
export function parseAttachArgs(argv: readonly string[]): AttachArgs {
  const r: Omit<AttachArgs, 'appName'> & { appName?: string } = {
    action: 'list',
    debug: false,
    ttyIn: false,
    ttyOut: false,
    stdin: false,
    stdout: false,
    stderr: false,
  };
  const { positionals } = parseGoFlags(ATTACH, argv, [
    {
      name: 'action',
      kind: 'value',
      set: (v) => {
        if (!(ATTACH_ACTIONS as readonly string[]).includes(v)) throw argsError(ATTACH, 'invalid-value', `unknown action ${JSON.stringify(v)}`);
        r.action = v as AttachAction;
      },
    },
    { name: 'app', kind: 'value', set: (v) => (r.appName = parseAppName(v)) },
    { name: 'debug', kind: 'bool', set: (v) => (r.debug = v) },
    { name: 'tty-in', kind: 'bool', set: (v) => (r.ttyIn = v) },
    { name: 'tty-out', kind: 'bool', set: (v) => (r.ttyOut = v) },
    { name: 'stdin', kind: 'bool', set: (v) => (r.stdin = v) },
    { name: 'stdout', kind: 'bool', set: (v) => (r.stdout = v) },
    { name: 'stderr', kind: 'bool', set: (v) => (r.stderr = v) },
  ]);
  noPositionals(ATTACH, positionals);
  const out: AttachArgs = { ...r, appName: requireApp(ATTACH, r.appName) };
  checkEndpoints(out);
  return out;
}
