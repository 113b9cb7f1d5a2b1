/**
 * iproute2 through its JSON output and batch mode: one `ip -batch -` run applies several changes,
 * inside a container's namespace through `nsenter --net=PATH` (which, unlike `ip netns exec`,
 * leaves /sys alone and takes any netns path).
 */
import { CniErrorCodes } from '@rktnetes/schema';
import { CNI_INTERNAL_ERROR, cniError } from './errors';
import { type AsyncToolRunner, lastLine, runTool, runToolAsync, type ToolResult, type ToolRunner } from './exec';

/** One address of `ip -j addr show`. */
export interface AddrInfo {
  family: 'inet' | 'inet6' | string;
  local: string;
  prefixlen: number;
  scope?: string;
}

/** One link of `ip -j [-d] link|addr show`, reduced to what the plugin reads. */
export interface LinkInfo {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  address?: string;
  operstate?: string;
  /** the bridge this link is a port of */
  master?: string;
  /** a veth's peer ifindex (in the peer's namespace) */
  link_index?: number;
  /** the peer name when both ends are in the same namespace */
  link?: string;
  promiscuity?: number;
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_slave_data?: Record<string, unknown> };
  addr_info?: AddrInfo[];
}

/** One route of `ip -j route show`. */
export interface RouteInfo {
  dst: string;
  gateway?: string;
  dev?: string;
  table?: string;
}

/** Where and how to run `ip`. */
export interface IpOptions {
  /** a network namespace path; the plugin's own namespace when absent */
  netns?: string;
  run?: ToolRunner;
}

/** Whether iproute2's stderr says the device is missing. */
export function isNoDevice(stderr: string): boolean {
  return /Cannot find device|does not exist|No such device/.test(stderr);
}

/** Whether nsenter could not enter the namespace because the path is gone or not a netns. */
export function isNetnsGone(stderr: string): boolean {
  return /nsenter: (cannot open|reassociate to namespace)/.test(stderr);
}

function parseJsonArray<T>(text: string, what: string): T[] {
  try {
    const v = JSON.parse(text) as unknown;
    if (!Array.isArray(v)) throw new Error('not an array');
    return v as T[];
  } catch (e) {
    throw cniError(CNI_INTERNAL_ERROR, 'cni.ip', `cannot read the output of ${what}`, { cause: e, details: text.slice(0, 200) });
  }
}

function ipError(what: string, stderr: string, netns: string | undefined): Error {
  const where = netns === undefined ? '' : ` in ${netns}`;
  return cniError(CNI_INTERNAL_ERROR, 'cni.ip', `${what}${where} failed: ${lastLine(stderr) || 'unknown error'}`, {
    details: stderr.trim(),
  });
}

/**
 * `ip -j [-d] link show dev NAME` (or `addr show`, which adds `addr_info`); undefined when the
 * device does not exist. Throws code 3 when the namespace cannot be entered.
 */
export function showLink(name: string, opts: IpOptions & { details?: boolean; addrs?: boolean } = {}): LinkInfo | undefined {
  const run = opts.run ?? runTool;
  const args = ['-j', ...(opts.details ? ['-d'] : []), opts.addrs ? 'addr' : 'link', 'show', 'dev', name];
  const r = run('ip', args, opts.netns === undefined ? {} : { netns: opts.netns });
  if (r.status !== 0) {
    if (isNoDevice(r.stderr)) return undefined;
    if (opts.netns !== undefined && isNetnsGone(r.stderr)) throw netnsGone(opts.netns, r.stderr);
    throw ipError(`ip ${args.join(' ')}`, r.stderr, opts.netns);
  }
  return parseJsonArray<LinkInfo>(r.stdout, `ip ${args.join(' ')}`)[0];
}

/** Every link with details (`ip -j -d link show`). */
export function listLinks(opts: IpOptions = {}): LinkInfo[] {
  const run = opts.run ?? runTool;
  const r = run('ip', ['-j', '-d', 'link', 'show'], opts.netns === undefined ? {} : { netns: opts.netns });
  if (r.status !== 0) {
    if (opts.netns !== undefined && isNetnsGone(r.stderr)) throw netnsGone(opts.netns, r.stderr);
    throw ipError('ip link show', r.stderr, opts.netns);
  }
  return parseJsonArray<LinkInfo>(r.stdout, 'ip link show');
}

/** Every route of every table of one family (`ip -j -4|-6 route show table all`). */
export function listRoutes(family: 4 | 6, opts: IpOptions = {}): RouteInfo[] {
  const run = opts.run ?? runTool;
  const args = ['-j', `-${family}`, 'route', 'show', 'table', 'all'];
  const r = run('ip', args, opts.netns === undefined ? {} : { netns: opts.netns });
  if (r.status !== 0) throw ipError(`ip ${args.join(' ')}`, r.stderr, opts.netns);
  return parseJsonArray<RouteInfo>(r.stdout, `ip ${args.join(' ')}`);
}

/** The outcome of {@link ipBatch}. */
export interface BatchResult {
  ok: boolean;
  /** index (0-based) of the command that failed */
  failed?: number;
  stderr: string;
  /** one parsed JSON array per `show` command (with `json`) */
  outputs: unknown[][];
}

/**
 * Runs commands (`ip` syntax without the leading `ip`) in one `ip -batch -`. Stops at the first
 * failing command and reports its index. With `json`, `show` commands print JSON; put an
 * `addr show` first in a batch, as later ones lose their addresses in iproute2 6.1.
 */
export function ipBatch(commands: readonly string[], opts: IpOptions & { json?: boolean } = {}): BatchResult {
  const run = opts.run ?? runTool;
  return batchResult(run('ip', ...batchInvocation(commands, opts)), opts.json === true);
}

/** Like {@link ipBatch}, without blocking this process while `ip` runs. */
export async function ipBatchAsync(commands: readonly string[], opts: IpOptions & { json?: boolean; runAsync?: AsyncToolRunner } = {}): Promise<BatchResult> {
  const run = opts.runAsync ?? runToolAsync;
  return batchResult(await run('ip', ...batchInvocation(commands, opts)), opts.json === true);
}

function batchInvocation(commands: readonly string[], opts: IpOptions & { json?: boolean }): [string[], { input: string; netns?: string }] {
  return [
    [...(opts.json ? ['-j'] : []), '-batch', '-'],
    { input: commands.map((c) => `${c}\n`).join(''), ...(opts.netns === undefined ? {} : { netns: opts.netns }) },
  ];
}

function batchResult(r: ToolResult, json: boolean): BatchResult {
  const outputs = json
    ? r.stdout
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => parseJsonArray<unknown>(l, 'ip -batch'))
    : [];
  if (r.status === 0) return { ok: true, stderr: r.stderr, outputs };
  const m = /Command failed -:(\d+)/.exec(r.stderr);
  return { ok: false, ...(m ? { failed: Number(m[1]) - 1 } : {}), stderr: r.stderr, outputs };
}

/** Like {@link ipBatch} but throws (code 999, or 3 when the namespace is gone) on failure. */
export function ipBatchOk(commands: readonly string[], opts: IpOptions & { json?: boolean } = {}): BatchResult {
  const r = ipBatch(commands, opts);
  if (r.ok) return r;
  if (opts.netns !== undefined && isNetnsGone(r.stderr)) throw netnsGone(opts.netns, r.stderr);
  const cmd = r.failed === undefined ? 'ip -batch' : `ip ${commands[r.failed] ?? ''}`;
  throw ipError(cmd, r.stderr, opts.netns);
}

/** The error for a CNI_NETNS that cannot be entered: code 3, the container is unknown. */
export function netnsGone(netns: string, stderr = ''): Error {
  return cniError(CniErrorCodes.unknownContainer, 'cni.netns', `cannot enter network namespace ${netns}`, {
    details: lastLine(stderr) || 'not a network namespace',
  });
}
