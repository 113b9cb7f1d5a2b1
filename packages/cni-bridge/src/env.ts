/**
 * The CNI parameters a runtime passes in the environment (CNI spec, "Parameters").
 */
import { CniErrorCodes, isInterfaceName } from '@rktnetes/schema';
import { cniError } from './errors';

/** The operations this plugin implements (GC and STATUS from CNI 1.1.0). */
export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'GC' | 'STATUS';

const COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS'];

/** The parsed CNI environment of one invocation. */
export interface CniEnv {
  command: CniCommand;
  /** `CNI_CONTAINERID`; empty for VERSION, GC and STATUS */
  containerId: string;
  /** `CNI_NETNS`: required for ADD and CHECK, optional for DEL */
  netns: string | undefined;
  /** `CNI_IFNAME`; empty for VERSION, GC and STATUS */
  ifName: string;
  /** `CNI_ARGS` as key/value pairs, in order */
  args: Map<string, string>;
  /** `CNI_PATH` split on `:`; empty entries dropped */
  path: string[];
  /** the whole environment, passed on to delegated plugins */
  raw: NodeJS.ProcessEnv;
}

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * Whether an interface name can go into an `ip -batch` line as one word: the kernel allows
 * quotes, backslashes and `#`, which the batch parser would take as syntax.
 */
export function isSafeIfName(name: string): boolean {
  return !/["'\\#]/.test(name);
}

function invalidEnv(name: string, message: string): Error {
  return cniError(CniErrorCodes.invalidEnvironment, 'cni.env', `${name} ${message}`);
}

/**
 * Parses `CNI_ARGS` (`K1=V1;K2=V2`). Empty pairs are skipped; a pair without `=` or with an
 * empty key is an error (code 4).
 */
export function parseCniArgs(text: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!text) return out;
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw invalidEnv('CNI_ARGS', `has an invalid pair ${JSON.stringify(pair)}: want KEY=VALUE`);
    out.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return out;
}

/**
 * Reads and checks the CNI variables for the command in `CNI_COMMAND`. Throws a code 4 error
 * naming the variable when one that the command requires is missing or malformed
 * (CNI_CONTAINERID, CNI_IFNAME for ADD/DEL/CHECK; CNI_NETNS for ADD/CHECK).
 */
export function parseCniEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = env['CNI_COMMAND'];
  if (!command) throw invalidEnv('CNI_COMMAND', 'is not set');
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw invalidEnv('CNI_COMMAND', `${JSON.stringify(command)} is not one of ${COMMANDS.join(', ')}`);
  }
  const cmd = command as CniCommand;
  const out: CniEnv = {
    command: cmd,
    containerId: env['CNI_CONTAINERID'] ?? '',
    netns: env['CNI_NETNS'] || undefined,
    ifName: env['CNI_IFNAME'] ?? '',
    args: new Map(),
    path: (env['CNI_PATH'] ?? '').split(':').filter(Boolean),
    raw: env,
  };
  if (cmd === 'VERSION' || cmd === 'GC' || cmd === 'STATUS') return out;
  if (!out.containerId) throw invalidEnv('CNI_CONTAINERID', 'is not set');
  if (!CONTAINER_ID.test(out.containerId)) {
    throw invalidEnv('CNI_CONTAINERID', `${JSON.stringify(out.containerId)} must start with an alphanumeric and contain only alphanumerics, "_", "." and "-"`);
  }
  if (!out.ifName) throw invalidEnv('CNI_IFNAME', 'is not set');
  if (!isInterfaceName(out.ifName) || !isSafeIfName(out.ifName)) {
    throw invalidEnv('CNI_IFNAME', `${JSON.stringify(out.ifName)} is not a valid interface name`);
  }
  if (cmd !== 'DEL' && !out.netns) throw invalidEnv('CNI_NETNS', 'is not set');
  out.args = parseCniArgs(env['CNI_ARGS']);
  return out;
}

/** Where the bundle's shebang keeps NODE_EXTRA_CA_CERTS while Node starts without it. */
export const CA_CERTS_STASH = 'CNI_BRIDGE_CA_CERTS';

/**
 * The environment as the runtime gave it: the bundle's shebang (`env -S -u NODE_EXTRA_CA_CERTS
 * CNI_BRIDGE_CA_CERTS=...`) spares Node from parsing a CA bundle the plugin never uses; this puts
 * the variable back (when it was set) so that delegated plugins get the same environment.
 */
export function restoreCaCertsEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (!(CA_CERTS_STASH in env)) return env;
  const out = { ...env };
  const stashed = out[CA_CERTS_STASH];
  delete out[CA_CERTS_STASH];
  if (stashed) out['NODE_EXTRA_CA_CERTS'] = stashed;
  return out;
}
