/**
 * The argv of the pod-level entrypoints besides run: enter, gc and stop.
 */
import { type BuildOptions, makeGate } from './build';
import { argsError, parseGoFlags, valueFlag } from './flags';
import { parseAppName, parsePid, parseUuidArg } from './values';
import { GC_FLAG_SINCE, checkInterfaceVersion } from './versions';

function onePositional(ep: string, positionals: readonly string[], what: string): string {
  if (positionals.length === 0) throw argsError(ep, 'missing-argument', `missing ${what} argument`);
  if (positionals.length > 1) throw argsError(ep, 'unexpected-argument', `unexpected argument ${JSON.stringify(positionals[1])}`, { arg: positionals[1] });
  return positionals[0]!;
}

// ---------------------------------------------------------------------------------- enter

/** `coreos.com/rkt/stage1/enter`: run a command inside the pod (or one app of it). */
export interface EnterOptions {
  /** the pid stage1 reported (pid file, or the ppid's child) */
  pid: number;
  /** the app whose stage2 to enter; absent: enter the stage1 environment itself */
  appName?: string;
  /** the command and its arguments, after `--`; at least the command */
  command: string[];
  /** accepted when parsing (our flavors, rkt fly); never sent, rkt's coreos enter rejects it */
  debug?: boolean;
}

/** A parsed enter argv. */
export type EnterArgs = EnterOptions & { debug: boolean };

const ENTER = 'stage1 enter';

/**
 * `--pid=<pid> [--appname=<app>] -- <command> [args...]`. Same argv for every interface
 * version; `debug` is never sent. Throws usage errors for a bad pid, app name or empty command.
 */
export function buildEnterArgs(o: EnterOptions, interfaceVersion: number, _opts: BuildOptions = {}): string[] {
  checkInterfaceVersion(interfaceVersion);
  const pid = parsePid(String(o.pid));
  if (o.command.length === 0) throw argsError(ENTER, 'missing-argument', 'missing command to run');
  return [valueFlag('pid', pid), ...(o.appName !== undefined ? [valueFlag('appname', parseAppName(o.appName))] : []), '--', ...o.command];
}

/**
 * Parses an enter argv. `--app` is accepted as a synonym of `--appname` (rkt's crossing
 * entrypoints call enter with `--app=`, which its C enter takes as an abbreviation). The
 * command follows `--`, or starts at the first non-flag argument. Errors: usage
 * `stage1.args.*` (missing pid or command, bad pid or app name, unknown flag).
 */
export function parseEnterArgs(argv: readonly string[]): EnterArgs {
  const r: { pid?: number; appName?: string; debug: boolean } = { debug: false };
  const { positionals } = parseGoFlags(ENTER, argv, [
    { name: 'pid', kind: 'value', set: (v) => (r.pid = parsePid(v)) },
    { name: 'appname', kind: 'value', aliases: ['app'], set: (v) => (v === '' ? delete r.appName : (r.appName = parseAppName(v))) },
    { name: 'debug', kind: 'bool', set: (v) => (r.debug = v) },
  ]);
  if (r.pid === undefined) throw argsError(ENTER, 'missing-argument', 'missing --pid');
  if (positionals.length === 0) throw argsError(ENTER, 'missing-argument', 'missing command to run');
  return { pid: r.pid, ...(r.appName !== undefined ? { appName: r.appName } : {}), command: [...positionals], debug: r.debug };
}

// ------------------------------------------------------------------------------------- gc

/** `coreos.com/rkt/stage1/gc`: release what stage1 allocated outside the pod dir (netns, ...). */
export interface GcOptions {
  uuid: string;
  debug?: boolean;
  /** local configuration directory (v5); stage1 default /etc/rkt */
  localConfig?: string;
}

/** A parsed gc argv. */
export type GcArgs = GcOptions & { debug: boolean };

const GC = 'stage1 gc';

/**
 * `[--debug] [--local-config=<dir>] <uuid>`; `--local-config` only for version 5 or later
 * (reported through `opts.onOmit` otherwise). stage0 runs gc with cwd = the pod directory.
 */
export function buildGcArgs(o: GcOptions, interfaceVersion: number, opts: BuildOptions = {}): string[] {
  const gate = makeGate(GC, interfaceVersion, opts);
  const uuid = parseUuidArg(o.uuid);
  const args: string[] = [];
  if (o.debug) args.push('--debug');
  if (o.localConfig && gate('local-config', GC_FLAG_SINCE['local-config'])) args.push(valueFlag('local-config', o.localConfig));
  args.push(uuid);
  return args;
}

/** Parses a gc argv: `--debug`, `--local-config` (rkt sends it as two arguments), one uuid. */
export function parseGcArgs(argv: readonly string[]): GcArgs {
  const r: GcArgs = { uuid: '', debug: false };
  const { positionals } = parseGoFlags(GC, argv, [
    { name: 'debug', kind: 'bool', set: (v) => (r.debug = v) },
    { name: 'local-config', kind: 'value', set: (v) => (r.localConfig = v) },
  ]);
  r.uuid = parseUuidArg(onePositional(GC, positionals, 'pod uuid'));
  return r;
}

// ----------------------------------------------------------------------------------- stop

/** `coreos.com/rkt/stage1/stop` (optional entrypoint): ask the pod to shut down. */
export interface StopOptions {
  uuid: string;
  /** kill instead of asking (SIGKILL rather than SIGTERM / an orderly halt) */
  force?: boolean;
  /** accepted when parsing; never sent, rkt's stop entrypoints reject it */
  debug?: boolean;
}

/** A parsed stop argv. */
export type StopArgs = StopOptions & { force: boolean; debug: boolean };

const STOP = 'stage1 stop';

/** `[--force] <uuid>`, the same for every interface version. */
export function buildStopArgs(o: StopOptions, interfaceVersion: number, _opts: BuildOptions = {}): string[] {
  checkInterfaceVersion(interfaceVersion);
  return [...(o.force ? ['--force'] : []), parseUuidArg(o.uuid)];
}

/** Parses a stop argv: `--force`, `--debug`, one uuid. */
export function parseStopArgs(argv: readonly string[]): StopArgs {
  const r: StopArgs = { uuid: '', force: false, debug: false };
  const { positionals } = parseGoFlags(STOP, argv, [
    { name: 'force', kind: 'bool', set: (v) => (r.force = v) },
    { name: 'debug', kind: 'bool', set: (v) => (r.debug = v) },
  ]);
  r.uuid = parseUuidArg(onePositional(STOP, positionals, 'pod uuid'));
  return r;
}
