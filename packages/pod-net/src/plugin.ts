/**
 * Finding and running CNI plugins the way rkt's stage1 does: the network's `type` is a program
 * in the plugin path, run with the CNI_* environment and the configuration on stdin.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { systemError, userError } from '@rktnetes/errors';
import { type CniResult, isCniErrorResult, parseCniErrorResult, parseCniResult } from '@rktnetes/schema';
import { DEFAULT_LOCAL_CONFIG, DEFAULT_SYSTEM_CONFIG, NET_D } from './conf';
import { type AsyncCommandRunner, type CommandResult, type CommandRunner, failureText } from './exec';

/** Where the stage1 image ships its plugins, relative to its root (rkt's path). */
export const BUILTIN_PLUGIN_DIR = 'usr/lib/rkt/plugins/net';
/** Plugin directories of other CNI users, searched last: Debian's containernetworking-plugins, the CNI convention. */
export const EXTRA_PLUGIN_DIRS: readonly string[] = ['/usr/lib/cni', '/opt/cni/bin'];

/** Where {@link pluginDirs} looks. */
export interface PluginDirsOptions {
  stage1Root: string;
  systemConfig?: string;
  localConfig?: string;
}

/**
 * The plugin path, searched in order (and passed as CNI_PATH): `<local config>/net.d` and
 * `<system config>/plugins/net` (rkt's `/usr/lib/rkt/plugins/net`), the stage1 image's
 * `usr/lib/rkt/plugins/net`, then {@link EXTRA_PLUGIN_DIRS}.
 */
export function pluginDirs(o: PluginDirsOptions): string[] {
  return [
    join(o.localConfig ?? DEFAULT_LOCAL_CONFIG, NET_D),
    join(o.systemConfig ?? DEFAULT_SYSTEM_CONFIG, 'plugins/net'),
    join(o.stage1Root, BUILTIN_PLUGIN_DIR),
    ...EXTRA_PLUGIN_DIRS,
  ];
}

/** The first regular file (symlinks followed) named `type` in `dirs`, or undefined. */
export function findPlugin(type: string, dirs: readonly string[]): string | undefined {
  if (type === '' || type.includes('/') || type === '.' || type === '..') return undefined;
  for (const dir of dirs) {
    const p = join(dir, type);
    try {
      if (statSync(p, { throwIfNoEntry: false })?.isFile()) return p;
    } catch {
      // not here (a file where a directory should be, no permission)
    }
  }
  return undefined;
}

/** One plugin invocation. */
export interface PluginCall {
  command: 'ADD' | 'DEL';
  /** the network, for messages */
  network: string;
  plugin: string;
  /** the configuration, as given to the plugin on stdin */
  conf: Buffer | string;
  containerId: string;
  /** path of the pod's network namespace; empty for a DEL after it is gone */
  netns: string;
  ifName: string;
  /** CNI_ARGS */
  args: string;
  /** CNI_PATH directories */
  path: readonly string[];
  /** the environment the CNI_* variables are added to */
  env: NodeJS.ProcessEnv;
  debug?: boolean;
}

/** The environment of a plugin run: `env` without the pod lock variable, plus the CNI_* variables. */
export function pluginEnv(c: PluginCall): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...c.env };
  delete env['RKT_LOCK_FD'];
  Object.assign(env, {
    CNI_VERSION: '0.1.0',
    CNI_COMMAND: c.command,
    CNI_CONTAINERID: c.containerId,
    CNI_NETNS: c.netns,
    CNI_IFNAME: c.ifName,
    CNI_ARGS: c.args,
    CNI_PATH: c.path.join(':'),
  });
  if (c.debug) env['RKT_DEBUG'] = '1';
  return env;
}

function pluginFailure(c: PluginCall, stdout: string, fallback: string): Error {
  let msg = fallback;
  let code: number | undefined;
  try {
    const raw: unknown = JSON.parse(stdout);
    if (isCniErrorResult(raw)) {
      const e = parseCniErrorResult(raw);
      msg = e.details ? `${e.msg}; ${e.details}` : e.msg;
      code = e.code;
    }
  } catch {
    // not an error document
  }
  const verb = c.command === 'ADD' ? 'adding' : 'removing';
  return userError('stage1.net.plugin', `${verb} network ${JSON.stringify(c.network)}: ${msg}`, {
    details: { plugin: c.plugin, command: c.command, ...(code !== undefined ? { cniCode: code } : {}) },
  });
}

/**
 * Runs the plugin; its stderr goes to ours. For ADD returns the parsed result (undefined when the
 * plugin printed nothing, which rkt tolerates); DEL returns undefined. Errors: user error
 * `stage1.net.plugin` with the plugin's CNI error message (and `details.cniCode`), or system
 * error `stage1.net.plugin-result` when ADD's output is not a CNI result.
 */
export function runPlugin(c: PluginCall, run: CommandRunner): CniResult | undefined {
  return pluginOutcome(c, run(c.plugin, [], { input: c.conf, env: pluginEnv(c), inheritStderr: true }));
}

/**
 * {@link runPlugin} in the background: the plugin is started before this returns, with the file
 * `confFile` (which must hold exactly `c.conf`) as its stdin. Rejects with the same errors.
 */
export async function runPluginAsync(c: PluginCall, confFile: string, run: AsyncCommandRunner): Promise<CniResult | undefined> {
  return pluginOutcome(c, await run(c.plugin, [], { inputFile: confFile, env: pluginEnv(c), inheritStderr: true }));
}

function pluginOutcome(c: PluginCall, r: CommandResult): CniResult | undefined {
  if (r.status !== 0 || r.error) throw pluginFailure(c, r.stdout, `plugin ${c.plugin} failed: ${failureText(r)}`);
  if (c.command !== 'ADD' || r.stdout.trim() === '') return undefined;
  try {
    return parseCniResult(r.stdout);
  } catch (e) {
    throw systemError('stage1.net.plugin-result', `adding network ${JSON.stringify(c.network)}: plugin ${c.plugin} printed no valid CNI result`, { cause: e });
  }
}
