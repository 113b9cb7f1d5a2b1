/**
 * A pod's CNI networking, set up by run and torn down by gc (rkt's networking package).
 *
 * Setup, in an order that lets gc undo any prefix of it after a crash:
 * 1. load the network definitions, pick the requested ones and find their plugins (nothing is
 *    created when a name, a file or a plugin is wrong);
 * 2. write `<pod>/netns`, then create the namespace it names (`/run/netns/rkt-<uuid>`, loopback up);
 * 3. copy each configuration to `<pod>/net/` and write `net-info.json` listing every network
 *    with its interface (`eth0`, `eth1`... in file name order) and no address yet;
 * 4. run each plugin's ADD, recording the address in `net-info.json` after each;
 * 5. the DNS settings of the first network that returns some become `etc/rkt-resolv.conf`;
 * 6. forward the pod's exposed ports.
 *
 * Teardown reads only those files: it removes the port forwarding chains, runs DEL for every
 * network whose configuration copy is still there (then deletes the copy, so a second gc skips
 * it), and unmounts and removes the namespace. A failed setup tears down the same way.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { basename, isAbsolute, join } from 'node:path';
import {
  type NetInfo,
  formatNetInfo,
  netInfoPath,
  netnsPath,
  parseNetInfo,
  readFileTolerantSync,
  resolvConfPathIn,
  writeFileAtomicSync,
} from '@rktnetes/common';
import { oneLine, userError } from '@rktnetes/errors';
import { type CniResult, parseCniNetConf } from '@rktnetes/schema';
import type { NetEntry } from '@rktnetes/stage1-abi';
import type { Sys } from '@rktnetes/sys';
import { type SelectedNet, loadNetDefinitions, netConfDirs, selectNetworks } from './conf';
import { formatResolvConf, isDnsEmpty } from './dns';
import { type AsyncCommandRunner, type CommandRunner, runCommandAsync, runCommandSync } from './exec';
import { NETNS_RUN_DIR, createNetns, destroyNetns, ensureNetnsDir, isNetnsMount, podNetnsPath } from './netns';
import { type PluginCall, findPlugin, pluginDirs, runPlugin, runPluginAsync } from './plugin';
import { type ForwardedPort, enableRouteLocalnet, setupPortForwarding, teardownPortForwarding } from './portfwd';

/** `<pod>/net`: the copies of the network configurations the pod joined (private to this stage1). */
export const podNetDir = (pod: string) => join(pod, 'net');

/**
 * A path as `net-info.json` records it: relative to the pod directory when inside it (rkt's
 * files hold `net/<file>` and `stage1/rootfs/...`), since gc finds the pod elsewhere
 * (`pods/exited-garbage/<uuid>`) than run did.
 */
export function podRelative(pod: string, path: string): string {
  return path.startsWith(`${pod}/`) ? path.slice(pod.length + 1) : path;
}

/** A path from `net-info.json`, made absolute against the pod directory. */
export function fromPod(pod: string, path: string): string {
  return isAbsolute(path) ? path : join(pod, path);
}

/** The pod interface name of the i-th network. */
export const ifNameOf = (i: number) => `eth${i}`;

/** What networking setup and teardown need from their surroundings. */
export interface PodNetworkContext {
  /** the pod directory */
  pod: string;
  uuid: string;
  /** host path of the stage1 root (built-in networks and plugins) */
  stage1Root: string;
  /** `--local-config` (default /etc/rkt) */
  localConfig?: string;
  /** the system configuration directory (default /usr/lib/rkt) */
  systemConfig?: string;
  sys: Pick<Sys, 'mount' | 'umount2'>;
  run: CommandRunner;
  /** the environment plugins get (plus CNI_*) */
  env: NodeJS.ProcessEnv;
  debugEnabled: boolean;
  warn(message: string): void;
  debug(message: string): void;
  /** where namespaces are bound (default /run/netns) */
  netnsDir?: string;
}

/**
 * A stage1's surroundings as it knows them: {@link PodNetworkContext} with the helper runner
 * optional (default: synchronously, for real) and the system configuration directory (the
 * vendor layer of `net.d/` and `plugins/net/`) taken from `RKT_SYSTEM_CONFIG` in `env`.
 */
export type PodNetworkOptions = Omit<PodNetworkContext, 'run' | 'systemConfig'> & { run?: CommandRunner };

/** The {@link PodNetworkContext} of a stage1's {@link PodNetworkOptions}. */
export function podNetworkContext(o: PodNetworkOptions): PodNetworkContext {
  const systemConfig = o.env['RKT_SYSTEM_CONFIG'] || undefined;
  const { run, ...rest } = o;
  return { ...rest, ...(systemConfig !== undefined ? { systemConfig } : {}), run: run ?? runCommandSync };
}

/** What the pod asked for. */
export interface PodNetworkRequest {
  /** the `--net` list; neither `host` nor `none` */
  nets: readonly NetEntry[];
  ports: readonly ForwardedPort[];
  /** take DNS settings from the plugins (`--dns-conf-mode=resolv=default`) */
  cniDns: boolean;
}

/** The pod's network once set up. */
export interface PodNetwork {
  /** path of the network namespace */
  netns: string;
  nets: NetInfo[];
  /** the forwarding network's host address (its gateway), when it has one */
  hostIP?: string;
}

/** Dotted-quad netmask of an IPv4 prefix length. */
export function prefixToMask(prefix: number): string {
  const bits = prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffff : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.');
}

/**
 * The pod's IPv4 address, netmask and gateway in a plugin result: the first IPv4 address on a
 * container interface (one with a `sandbox`), else the first IPv4 address; undefined without one.
 */
export function addressOf(result: CniResult): { ip: string; mask: string; gateway?: string } | undefined {
  const ips = (result.ips ?? []).filter((i) => isIPv4(i.address.split('/')[0] ?? ''));
  const inPod = (i: (typeof ips)[number]) => i.interface !== undefined && result.interfaces?.[i.interface]?.sandbox !== undefined;
  const pick = ips.find(inPod) ?? ips[0];
  if (!pick) return undefined;
  const [ip, prefix] = pick.address.split('/') as [string, string | undefined];
  return { ip, mask: prefixToMask(prefix === undefined ? 32 : Number(prefix)), ...(pick.gateway ? { gateway: pick.gateway } : {}) };
}

function writeNetInfoSync(pod: string, nets: readonly NetInfo[]): void {
  writeFileAtomicSync(netInfoPath(pod), formatNetInfo(nets), 0o644);
}

function copyName(used: Set<string>, file: string): string {
  let name = basename(file);
  for (let i = 1; used.has(name); i++) name = `${i}-${basename(file)}`;
  used.add(name);
  return name;
}

/** Step 1: the requested networks and their plugins, or an error before anything exists. */
function planNets(ctx: PodNetworkContext, req: PodNetworkRequest): Array<SelectedNet & { plugin: string }> {
  const dirs = netConfDirs(ctx);
  ctx.debug(`loading networks from ${dirs.join(', ')}`);
  const selected = selectNetworks(req.nets, loadNetDefinitions(dirs, ctx));
  const path = pluginDirs(ctx);
  return selected.map((s) => {
    const plugin = findPlugin(s.def.type, path);
    if (!plugin) {
      throw userError('stage1.net.plugin-missing', `network ${JSON.stringify(s.def.name)}: could not find plugin ${JSON.stringify(s.def.type)} in ${path.join(':')}`, {
        details: { network: s.def.name, type: s.def.type },
      });
    }
    return { ...s, plugin };
  });
}

/** A setup between its steps: what {@link setupPodNetwork} and {@link startPodNetwork} share. */
interface Setup {
  ctx: PodNetworkContext;
  req: PodNetworkRequest;
  nets: Array<SelectedNet & { plugin: string }>;
  /** the namespace path */
  ns: string;
  infos: NetInfo[];
  /** host path of each network's configuration copy (its plugin's stdin in the background form) */
  copies: string[];
  gateways: Array<string | undefined>;
  haveResolv: boolean;
}

/** Tears down what a failed setup made (after step 1), then gives back the error to throw. */
function failed(ctx: PodNetworkContext, e: unknown): unknown {
  for (const p of teardownPodNetwork(ctx)) ctx.warn(`cleaning up after the failed network setup: ${p}`);
  return e;
}

/** Steps 1 to 3: nothing exists after an error of step 1; everything made is removed after a later one. */
function beginSetup(ctx: PodNetworkContext, req: PodNetworkRequest): Setup {
  const nets = planNets(ctx, req);
  const dir = ctx.netnsDir ?? NETNS_RUN_DIR;
  const ns = podNetnsPath(ctx.uuid, dir);
  ensureNetnsDir(ctx.sys, dir);
  writeFileAtomicSync(netnsPath(ctx.pod), ns, 0o644);
  try {
    createNetns(ns, ctx.run);
    ctx.debug(`network namespace ${ns}`);
    mkdirSync(podNetDir(ctx.pod), { recursive: true, mode: 0o755 });
    const used = new Set<string>();
    const copies: string[] = [];
    const infos: NetInfo[] = nets.map((n, i) => {
      const copy = join(podNetDir(ctx.pod), copyName(used, n.def.file));
      writeFileSync(copy, n.def.bytes, { mode: 0o644 });
      copies.push(copy);
      return { netName: n.def.name, netConf: podRelative(ctx.pod, copy), pluginPath: podRelative(ctx.pod, n.plugin), ifName: ifNameOf(i), ip: '', args: n.args, mask: '' };
    });
    writeNetInfoSync(ctx.pod, infos);
    return { ctx, req, nets, ns, infos, copies, gateways: [], haveResolv: existsSync(resolvConfPathIn(ctx.stage1Root)) };
  } catch (e) {
    throw failed(ctx, e);
  }
}

/** Step 4's plugin call of the i-th network. */
function addCall(s: Setup, i: number): PluginCall {
  const n = s.nets[i]!;
  const info = s.infos[i]!;
  s.ctx.debug(`adding network ${n.def.name} (${n.plugin}) as ${info.ifName}`);
  return { command: 'ADD', network: n.def.name, plugin: n.plugin, conf: n.def.bytes, containerId: s.ctx.uuid, netns: s.ns, ifName: info.ifName, args: n.args, path: pluginDirs(s.ctx), env: s.ctx.env, debug: s.ctx.debugEnabled };
}

/** Steps 4 and 5 after the i-th network's ADD: its address in `net-info.json`, its DNS settings. */
function recordAdd(s: Setup, i: number, result: CniResult | undefined): void {
  const { ctx } = s;
  const n = s.nets[i]!;
  const info = s.infos[i]!;
  const addr = result ? addressOf(result) : undefined;
  if (addr) {
    info.ip = addr.ip;
    info.mask = addr.mask;
  }
  s.gateways[i] = addr?.gateway;
  writeNetInfoSync(ctx.pod, s.infos);
  if (s.req.cniDns && result && !isDnsEmpty(result.dns)) {
    if (s.haveResolv) ctx.debug(`network ${n.def.name} returned DNS settings, but DNS is already configured`);
    else {
      mkdirSync(join(ctx.stage1Root, 'etc'), { recursive: true, mode: 0o755 });
      writeFileSync(resolvConfPathIn(ctx.stage1Root), formatResolvConf(result.dns!, `Generated by rkt from network ${n.def.name}`), { mode: 0o644 });
      s.haveResolv = true;
    }
  }
}

/** Step 6, and the pod's network. */
function finishSetup(s: Setup): PodNetwork {
  const { ctx, req, nets, infos } = s;
  // rkt: the first masqueraded network, else the last one
  const fwd = nets.findIndex((n) => n.def.ipMasq);
  const f = fwd >= 0 ? fwd : nets.length - 1;
  const hostIP = f >= 0 ? s.gateways[f] : undefined;
  if (req.ports.length > 0) {
    const target = infos[f];
    if (!target || !target.ip) throw userError('stage1.net.port', 'cannot forward ports: the pod has no IPv4 address on any network');
    if (hostIP) ctx.debug(`route_localnet on ${enableRouteLocalnet(hostIP, ctx.run).join(', ')}`);
    else ctx.warn(`network ${target.netName} has no gateway: forwarded ports are not reachable from the host's loopback`);
    setupPortForwarding(ctx.uuid, req.ports, target.ip, ctx.run);
    ctx.debug(`forwarded ${req.ports.map((p) => `${p.hostIP}:${p.hostPort}/${p.protocol}`).join(', ')} to ${target.ip} (${target.netName})`);
  }
  return { netns: s.ns, nets: infos, ...(hostIP ? { hostIP } : {}) };
}

/**
 * Sets up the pod's networks (see the module doc). Errors: user errors `stage1.net.not-found`,
 * `stage1.net.conf-invalid`, `stage1.net.plugin-missing`, `stage1.net.plugin` (a plugin's own
 * error), `stage1.net.port`; system errors `stage1.net.netns`, `stage1.net.iptables`,
 * `stage1.net.route-localnet`, `stage1.net.tool-missing`. After a failure past step 1 everything
 * already created is torn down again before the error is thrown.
 */
export function setupPodNetwork(ctx: PodNetworkContext, req: PodNetworkRequest): PodNetwork {
  const s = beginSetup(ctx, req);
  try {
    for (let i = 0; i < s.nets.length; i++) recordAdd(s, i, runPlugin(addCall(s, i), ctx.run));
    return finishSetup(s);
  } catch (e) {
    throw failed(ctx, e);
  }
}

/**
 * {@link setupPodNetwork} with the plugins' ADD in the background, so that the caller can do
 * what does not depend on the network while they run: steps 1 to 3 are done and the first
 * plugin is started before this returns (errors up to there are thrown, with the same cleanup);
 * the rest happens as the promise settles (it rejects with the same errors). The helpers of the
 * later steps (further plugins, iptables, a failed setup's DEL) are started from the caller's
 * process then: it must stay in the mount namespace it called this in until the promise settles.
 * `runAsync` runs the plugins (each with its configuration copy as stdin); the other helpers go
 * through `ctx.run`.
 */
export function startPodNetwork(ctx: PodNetworkContext, req: PodNetworkRequest, runAsync: AsyncCommandRunner = runCommandAsync): Promise<PodNetwork> {
  const s = beginSetup(ctx, req);
  const add = (i: number) => runPluginAsync(addCall(s, i), s.copies[i]!, runAsync);
  let first: Promise<CniResult | undefined> | undefined;
  try {
    if (s.nets.length > 0) first = add(0);
  } catch (e) {
    throw failed(ctx, e);
  }
  return (async () => {
    try {
      for (let i = 0; i < s.nets.length; i++) recordAdd(s, i, await (i === 0 ? first : add(i)));
      return finishSetup(s);
    } catch (e) {
      throw failed(ctx, e);
    }
  })();
}

/** The network namespace path recorded in `<pod>/netns`, if any. */
export function readNetnsFile(pod: string): string | undefined {
  const text = readFileTolerantSync(netnsPath(pod))?.trim();
  return text ? text : undefined;
}

/** Whether this stage1 created (and so may remove) the namespace at `path`. */
function ownsNetns(ctx: PodNetworkContext, path: string): boolean {
  return path === podNetnsPath(ctx.uuid, ctx.netnsDir ?? NETNS_RUN_DIR) || path.startsWith(`${ctx.pod}/`);
}

/**
 * Undoes {@link setupPodNetwork} from the pod's files, whatever step it reached: port
 * forwarding, DEL for each network still recorded (last first), the namespace. Never throws;
 * returns what could not be cleaned up, one message each. Idempotent.
 */
export function teardownPodNetwork(ctx: PodNetworkContext): string[] {
  const problems: string[] = [];
  let infos: NetInfo[] = [];
  const text = readFileTolerantSync(netInfoPath(ctx.pod));
  try {
    if (text !== undefined) infos = parseNetInfo(text, netInfoPath(ctx.pod));
  } catch (e) {
    problems.push(oneLine(e));
  }
  const ns = readNetnsFile(ctx.pod);
  if (text === undefined && ns === undefined) return problems;

  try {
    teardownPortForwarding(ctx.uuid, ctx.run);
  } catch (e) {
    problems.push(oneLine(e));
  }
  const live = ns !== undefined && existsSync(ns) && isNetnsMount(ns) ? ns : '';
  const path = pluginDirs(ctx);
  for (const info of [...infos].reverse()) {
    const copy = info.netConf ? fromPod(ctx.pod, info.netConf) : undefined;
    if (!copy || !existsSync(copy)) {
      ctx.debug(`network ${info.netName} is already removed`);
      continue;
    }
    try {
      const conf = readFileSync(copy);
      const recorded = info.pluginPath ? fromPod(ctx.pod, info.pluginPath) : undefined;
      const plugin = recorded && existsSync(recorded) ? recorded : findPlugin(parseCniNetConf(conf.toString('utf8')).type, path);
      if (!plugin) throw userError('stage1.net.plugin-missing', `removing network ${JSON.stringify(info.netName)}: plugin ${info.pluginPath} is gone`);
      ctx.debug(`removing network ${info.netName} (${plugin}) from ${info.ifName}`);
      runPlugin({ command: 'DEL', network: info.netName, plugin, conf, containerId: ctx.uuid, netns: live, ifName: info.ifName, args: info.args, path, env: ctx.env, debug: ctx.debugEnabled }, ctx.run);
      rmSync(copy, { force: true });
    } catch (e) {
      problems.push(oneLine(e));
    }
  }
  if (ns !== undefined && ownsNetns(ctx, ns)) {
    try {
      destroyNetns(ns, ctx.sys);
    } catch (e) {
      problems.push(oneLine(e));
    }
  }
  return problems;
}
