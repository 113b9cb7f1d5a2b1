/**
 * The bridge plugin's commands: ADD, DEL, CHECK, VERSION, GC and STATUS, each from the parsed environment and
 * configuration, and {@link runPlugin}, which turns one invocation into stdout and an exit code.
 */
import { statfsSync } from 'node:fs';
import type { Logger } from '@rktnetes/log';
import {
  CNI_LATEST_VERSION,
  CniErrorCodes,
  convertCniResult,
  type CniIPConfig,
  type CniInterface,
  type CniResult,
  type CniRoute,
} from '@rktnetes/schema';
import { type IP, type IPNet, defaultNet, formatCIDR, formatIP, networkOf, nextIP, parseCIDR, parseIP } from './addr';
import { type BridgeConfig, SUPPORTED_VERSIONS, checkVersion, decodeStdin, loadBridgeConfig } from './config';
import { type CniEnv, parseCniEnv } from './env';
import { CNI_INTERNAL_ERROR, cniError, toCniErrorResult } from './errors';
import { type AsyncToolRunner, runTool, runToolAsync, type ToolRunner } from './exec';
import { type BatchResult, type LinkInfo, ipBatch, ipBatchAsync, ipBatchOk, isNetnsGone, isNoDevice, listLinks, listRoutes, netnsGone, showLink } from './ip';
import type { Attachment } from './ipam/host-local';
import { type IpamContext, type IpamResult, ipamAdd, ipamCheck, ipamDel, ipamGc, ipamStatus } from './ipam/index';
import {
  containerConfigCommands,
  enableForwarding,
  ensureBridge,
  hostPortCommands,
  planGatewayAddrs,
  randomMac,
  randomVethName,
  vethAddCommand,
} from './link';
import type { LockOptions } from './lock';
import { checkMasq, gcMasq, setupMasq, teardownMasq } from './masq';

/** What one invocation reads besides its configuration. */
export interface PluginOptions {
  log?: Logger;
  /** how the IPAM store is locked (tests force the flock(1) fallback) */
  lock?: LockOptions;
  /** runs ip/iptables/nsenter */
  run?: ToolRunner;
  /** runs the `ip` batches that overlap other work; by default {@link runToolAsync}, or `run` when that is given */
  runAsync?: AsyncToolRunner;
}

/** The runner of the overlapping steps: a given sync `run` keeps every step in order. */
function asyncRunner(o: PluginOptions): AsyncToolRunner {
  if (o.runAsync) return o.runAsync;
  const run = o.run;
  if (!run) return runToolAsync;
  return (tool, args, opts) => {
    try {
      return Promise.resolve(run(tool, args, opts));
    } catch (e) {
      return Promise.reject(e);
    }
  };
}

/** One invocation: the environment and stdin a runtime gives the plugin. */
export interface PluginInput extends PluginOptions {
  env: NodeJS.ProcessEnv;
  stdin: Buffer;
}

/** What the executable prints and how it exits. */
export interface PluginOutput {
  /** 0 on success, 1 with a CNI error result on stdout otherwise */
  exitCode: 0 | 1;
  stdout: string;
}

const NSFS_MAGIC = 0x6e736673;

function debug(o: PluginOptions, msg: string): void {
  o.log?.debug(msg);
}

/**
 * Checks that `path` is a network namespace reference. Code 3 when it does not exist or is not
 * a namespace (a path that cannot be inspected is left to nsenter).
 */
export function checkNetns(path: string): void {
  let type: number;
  try {
    type = statfsSync(path).type;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw cniError(CniErrorCodes.unknownContainer, 'cni.netns', `network namespace ${path} does not exist`);
    }
    return;
  }
  if (type !== NSFS_MAGIC) throw cniError(CniErrorCodes.unknownContainer, 'cni.netns', `${path} is not a network namespace`);
}

/** Addresses, routes and gateways for the container, as the reference bridge derives them. */
export interface GatewayCalc {
  ips: CniIPConfig[];
  routes: CniRoute[];
  /** `gw/prefix` for each address when the bridge is a gateway */
  gateways: IPNet[];
}

/**
 * Assigns every address to interface `contIdx`; with `isGateway`, fills in a missing gateway
 * (the subnet's first address) and lists the bridge's gateway addresses; with
 * `isDefaultGateway`, adds a default route per family unless IPAM gave one with a gateway.
 */
export function calcGateways(ipam: IpamResult, conf: Pick<BridgeConfig, 'isGateway' | 'isDefaultGateway'>, contIdx: number): GatewayCalc {
  const routes = [...ipam.routes];
  const gateways: IPNet[] = [];
  const haveDefault = new Set<4 | 6>();
  const ips = ipam.ips.map((orig) => {
    const ipc: CniIPConfig = { ...orig, interface: contIdx };
    const net = parseCIDR(ipc.address);
    if (!net) throw cniError(CNI_INTERNAL_ERROR, 'cni.ipam-result', `IPAM returned an invalid address ${ipc.address}`);
    const fam = net.ip.family;
    if (ipc.gateway === undefined && conf.isGateway) ipc.gateway = formatIP(nextIP(networkOf(net)));
    if (conf.isDefaultGateway && !haveDefault.has(fam)) {
      const def = formatCIDR(defaultNet(fam));
      if (!routes.some((r) => r.gw !== undefined && normalizeDst(r.dst) === def)) {
        routes.push(ipc.gateway === undefined ? { dst: def } : { dst: def, gw: ipc.gateway });
      }
      haveDefault.add(fam);
    }
    if (conf.isGateway && ipc.gateway !== undefined) {
      const gw = parseIP(ipc.gateway);
      if (gw) gateways.push({ ip: gw, prefix: net.prefix });
    }
    return ipc;
  });
  return { ips, routes, gateways };
}

function normalizeDst(dst: string): string {
  const n = parseCIDR(dst);
  return n ? formatCIDR({ ip: networkOf(n), prefix: n.prefix }) : dst;
}

function ipamContext(conf: BridgeConfig, env: CniEnv, o: PluginOptions): IpamContext | undefined {
  if (!conf.ipam) return undefined;
  return { conf: conf as BridgeConfig & { ipam: NonNullable<BridgeConfig['ipam']> }, env, ...(o.lock ? { lock: o.lock } : {}) };
}

/**
 * Deletes the container interface and returns its global addresses; undefined when the
 * namespace is gone, an empty list when the interface is.
 */
export function deleteContainerLink(netns: string, ifName: string, run: ToolRunner = runTool): IP[] | undefined {
  return deletedAddrs(ipBatch(deleteLinkCommands(ifName), { netns, json: true, run }), netns, ifName);
}

/** Like {@link deleteContainerLink}, without blocking this process while the kernel removes the pair. */
export async function deleteContainerLinkAsync(netns: string, ifName: string, runAsync: AsyncToolRunner = runToolAsync): Promise<IP[] | undefined> {
  return deletedAddrs(await ipBatchAsync(deleteLinkCommands(ifName), { netns, json: true, runAsync }), netns, ifName);
}

function deleteLinkCommands(ifName: string): string[] {
  return [`addr show dev ${ifName}`, `link del ${ifName}`];
}

function deletedAddrs(r: BatchResult, netns: string, ifName: string): IP[] | undefined {
  if (!r.ok) {
    if (isNetnsGone(r.stderr)) return undefined;
    if (isNoDevice(r.stderr)) return [];
    throw cniError(CNI_INTERNAL_ERROR, 'cni.ip', `failed to delete ${ifName} in ${netns}: ${r.stderr.trim()}`);
  }
  const link = r.outputs[0]?.[0] as LinkInfo | undefined;
  // link-local and host addresses are the kernel's, not ours
  return (link?.addr_info ?? [])
    .filter((a) => a.scope === undefined || a.scope === 'global')
    .map((a) => parseIP(a.local))
    .filter((ip): ip is IP => ip !== undefined);
}

interface Veth {
  ifName: string;
  mac: string;
  hostName: string;
  hostMac: string;
}

function createVeth(conf: BridgeConfig, env: CniEnv, netns: string, ips: CniIPConfig[], routes: CniRoute[], run: ToolRunner): Veth {
  const config = containerConfigCommands(env.ifName, ips, routes, conf.enableDad);
  for (let attempt = 0; ; attempt++) {
    const spec = {
      ifName: env.ifName,
      mac: conf.mac ?? randomMac(),
      hostName: randomVethName(),
      hostMac: randomMac(),
      mtu: conf.mtu,
      hostPid: process.pid,
    };
    const cmds = [vethAddCommand(spec), ...config];
    const r = ipBatch(cmds, { netns, run });
    if (r.ok) return spec;
    if (isNetnsGone(r.stderr)) throw netnsGone(netns, r.stderr);
    if (r.failed === 0 && /File exists/.test(r.stderr)) {
      if (showLink(env.ifName, { netns, run })) {
        throw cniError(CNI_INTERNAL_ERROR, 'cni.ifname-taken', `container interface ${env.ifName} already exists in ${netns}`);
      }
      // the random host name is taken: draw another
      if (attempt < 4) continue;
    }
    if (r.failed !== undefined && r.failed > 0) deleteContainerLink(netns, env.ifName, run);
    const line = r.failed === undefined ? 'ip -batch' : `ip ${cmds[r.failed] ?? ''}`;
    throw cniError(CNI_INTERNAL_ERROR, 'cni.veth', `${line} in ${netns} failed: ${r.stderr.trim().split('\n')[0] ?? ''}`, {
      details: r.stderr.trim(),
    });
  }
}

function mergeResults(prev: CniResult | undefined, own: CniResult): CniResult {
  if (!prev) return own;
  const out: CniResult = {
    cniVersion: own.cniVersion,
    interfaces: [...(prev.interfaces ?? []), ...(own.interfaces ?? [])],
    ips: [...(prev.ips ?? []).map(({ version: _v, ...rest }) => rest), ...(own.ips ?? [])],
    routes: [...(prev.routes ?? []), ...(own.routes ?? [])],
  };
  const dns = own.dns ?? prev.dns;
  if (dns) out.dns = dns;
  return out;
}

/**
 * ADD: bridge, veth pair, addresses and routes in the container, gateway addresses on the
 * bridge, forwarding and masquerading. Anything done before a failure is undone (IPAM released,
 * veth removed, rules removed). Returns the result in 1.0.0 form (cniVersion set to the config's).
 */
export async function cmdAdd(conf: BridgeConfig, env: CniEnv, o: PluginOptions = {}): Promise<CniResult> {
  const run = o.run ?? runTool;
  const netns = env.netns as string;
  checkNetns(netns);
  const bridge = ensureBridge({ name: conf.bridge, mtu: conf.mtu, promisc: conf.promiscMode, run });
  debug(o, `bridge ${bridge.name} ${bridge.created ? 'created' : 'found'} (${bridge.mac})`);
  const undo: Array<() => unknown> = [];
  try {
    const ctx = ipamContext(conf, env, o);
    let calc: GatewayCalc = { ips: [], routes: [], gateways: [] };
    let dns = conf.dns;
    if (ctx) {
      const ipam = await ipamAdd(ctx);
      undo.push(() => ipamDel(ctx));
      debug(o, `ipam: ${ipam.ips.map((i) => i.address).join(', ')}`);
      if (ipam.ips.length === 0) throw cniError(CNI_INTERNAL_ERROR, 'cni.ipam-result', 'IPAM plugin returned missing IP config');
      calc = calcGateways(ipam, conf, (conf.prevResult?.interfaces?.length ?? 0) + 2);
      dns ??= ipam.dns;
    }
    const plan = conf.isGateway ? planGatewayAddrs(bridge, calc.gateways, conf.forceAddress) : { remove: [], add: [] };
    const veth = createVeth(conf, env, netns, calc.ips, calc.routes, run);
    undo.push(() => deleteContainerLink(netns, env.ifName, run));
    const pin = conf.isGateway && !bridge.created && bridge.mac ? [`link set ${bridge.name} address ${bridge.mac}`] : [];
    const host = ipBatchOk([...hostPortCommands(veth.hostName, bridge.name, conf.hairpinMode), ...plan.remove, ...plan.add, ...pin, `link show dev ${bridge.name}`], {
      json: true,
      run,
    });
    const brNow = host.outputs[host.outputs.length - 1]?.[0] as LinkInfo | undefined;
    for (const fam of new Set(calc.gateways.map((g) => g.ip.family))) enableForwarding(fam);
    if (conf.ipMasq && calc.ips.length) {
      const nets = calc.ips.map((i) => parseCIDR(i.address)).filter((n): n is IPNet => n !== undefined);
      undo.push(() => teardownMasq(conf.name, env.containerId, nets.map((n) => n.ip), run));
      setupMasq(conf.name, env.containerId, nets, run);
    }
    const interfaces: CniInterface[] = [
      { name: bridge.name, mac: brNow?.address ?? bridge.mac },
      { name: veth.hostName, mac: veth.hostMac },
      { name: veth.ifName, mac: veth.mac, sandbox: netns },
    ];
    const own: CniResult = { cniVersion: conf.cniVersion, interfaces };
    if (ctx) {
      own.ips = calc.ips;
      own.routes = calc.routes;
    }
    if (dns) own.dns = dns;
    return mergeResults(conf.prevResult, own);
  } catch (e) {
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch (cleanupError) {
        o.log?.warn(`cleanup after failed ADD: ${(cleanupError as Error).message}`);
      }
    }
    throw e;
  }
}

function ownIps(prev: CniResult | undefined, env: CniEnv): CniIPConfig[] {
  if (!prev) return [];
  const idx = (prev.interfaces ?? []).findIndex((i) => i.name === env.ifName && (env.netns === undefined || i.sandbox === env.netns));
  if (idx < 0) return [];
  return (prev.ips ?? []).filter((ip) => ip.interface === idx);
}

/**
 * DEL, best effort and idempotent: removes the container interface (a missing namespace or
 * interface is fine), releases the IPAM addresses and removes the masquerading rules even when
 * the namespace is already gone. Errors of one step do not stop the others; the first is thrown.
 */
export async function cmdDel(conf: BridgeConfig, env: CniEnv, o: PluginOptions = {}): Promise<void> {
  const run = o.run ?? runTool;
  // the kernel takes a while to remove a veth (RCU grace periods): IPAM and the rules meanwhile
  let linkError: { e: unknown } | undefined;
  const linkDone: Promise<IP[] | undefined> = env.netns
    ? deleteContainerLinkAsync(env.netns, env.ifName, asyncRunner(o)).then(
        (addrs) => {
          debug(o, addrs === undefined ? `netns ${env.netns} is gone` : `deleted ${env.ifName}`);
          return addrs;
        },
        (e: unknown) => {
          linkError = { e };
          return undefined;
        },
      )
    : Promise.resolve(undefined);
  const errors: unknown[] = [];
  let released: IP[] | undefined;
  const ctx = ipamContext(conf, env, o);
  if (ctx) {
    try {
      released = await ipamDel(ctx);
    } catch (e) {
      errors.push(e);
    }
  }
  let inContainer: IP[] | undefined;
  if (conf.ipMasq) {
    const known = new Map<string, IP>();
    const prevIps = ownIps(conf.prevResult, env)
      .map((i) => parseIP(i.address.split('/')[0] ?? ''))
      .filter((ip): ip is IP => ip !== undefined);
    for (const ip of [...(released ?? []), ...prevIps]) known.set(formatIP(ip), ip);
    try {
      // the addresses IPAM and prevResult name go now; the container's own, if it had others, after
      if (known.size) teardownMasq(conf.name, env.containerId, [...known.values()], run);
      inContainer = await linkDone;
      const extra = (inContainer ?? []).filter((ip) => !known.has(formatIP(ip)));
      if (known.size === 0) teardownMasq(conf.name, env.containerId, extra.length ? extra : undefined, run);
      else if (extra.length) teardownMasq(conf.name, env.containerId, extra, run);
    } catch (e) {
      errors.push(e);
    }
  }
  await linkDone;
  if (linkError) errors.unshift(linkError.e);
  if (errors.length) throw errors[0];
}

function routeDst(r: { dst: string }, family: 4 | 6): string {
  if (r.dst === 'default') return formatCIDR(defaultNet(family));
  return normalizeDst(r.dst.includes('/') ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`);
}

function checkFailed(message: string): Error {
  return cniError(CNI_INTERNAL_ERROR, 'cni.check', message);
}

/**
 * CHECK against `prevResult`: the bridge (kind, MAC, promiscuous mode), the container veth (MAC,
 * addresses), its host peer on the bridge, the routes, the IPAM reservation and the
 * masquerading rules. Throws code 999 naming the first thing out of place.
 */
export async function cmdCheck(conf: BridgeConfig, env: CniEnv, o: PluginOptions = {}): Promise<void> {
  const run = o.run ?? runTool;
  const netns = env.netns as string;
  checkNetns(netns);
  const prev = conf.prevResult;
  if (!prev) throw cniError(CniErrorCodes.invalidNetworkConfig, 'cni.config', 'required prevResult missing');
  const mine = ownIps(prev, env);
  const ctx = ipamContext(conf, env, o);
  if (ctx) await ipamCheck(ctx, mine.map((i) => i.address));

  const ifaces = prev.interfaces ?? [];
  const brWant = ifaces.find((i) => i.name === conf.bridge && !i.sandbox);
  if (!brWant) throw checkFailed(`bridge ${conf.bridge} is not in prevResult`);
  const contWant = ifaces.find((i) => i.name === env.ifName && i.sandbox === netns);
  if (!contWant) throw checkFailed(`interface ${env.ifName} in ${netns} is not in prevResult`);

  const hostLinks = listLinks({ run });
  const br = hostLinks.find((l) => l.ifname === conf.bridge);
  if (!br) throw checkFailed(`bridge ${conf.bridge} was not found`);
  if (br.linkinfo?.info_kind !== 'bridge') throw checkFailed(`interface ${conf.bridge} is not a bridge`);
  if (brWant.mac && brWant.mac !== br.address) throw checkFailed(`bridge ${conf.bridge} has MAC ${br.address ?? '?'}, prevResult says ${brWant.mac}`);
  if (br.flags.includes('PROMISC') !== conf.promiscMode) {
    throw checkFailed(`bridge ${conf.bridge} promiscuous mode is ${br.flags.includes('PROMISC')}, config says ${conf.promiscMode}`);
  }

  const cont = showLink(env.ifName, { netns, details: true, addrs: true, run });
  if (!cont) throw checkFailed(`interface ${env.ifName} in ${netns} was not found`);
  if (cont.linkinfo?.info_kind !== 'veth') throw checkFailed(`interface ${env.ifName} in ${netns} is not a veth`);
  if (contWant.mac && contWant.mac !== cont.address) throw checkFailed(`interface ${env.ifName} has MAC ${cont.address ?? '?'}, prevResult says ${contWant.mac}`);
  const peer = hostLinks.find((l) => l.ifindex === cont.link_index && l.linkinfo?.info_kind === 'veth');
  if (!peer || peer.master !== conf.bridge) throw checkFailed(`the host end of ${env.ifName} is not a port of ${conf.bridge}`);
  const peerWant = ifaces.find((i) => i.name === peer.ifname && !i.sandbox);
  if (peerWant?.mac && peerWant.mac !== peer.address) throw checkFailed(`host interface ${peer.ifname} has MAC ${peer.address ?? '?'}, prevResult says ${peerWant.mac}`);

  const have = new Set((cont.addr_info ?? []).map((a) => normalizeHost(`${a.local}/${a.prefixlen}`)));
  for (const ipc of mine) {
    if (!have.has(normalizeHost(ipc.address))) throw checkFailed(`interface ${env.ifName} does not have address ${ipc.address}`);
  }

  const families = new Set((prev.routes ?? []).map((r) => parseCIDR(r.dst)?.ip.family).filter((f): f is 4 | 6 => f !== undefined));
  for (const fam of families) {
    const routes = listRoutes(fam, { netns, run });
    for (const want of (prev.routes ?? []).filter((r) => parseCIDR(r.dst)?.ip.family === fam)) {
      const dst = normalizeDst(want.dst);
      const ok = routes.some((r) => routeDst(r, fam) === dst && (want.gw === undefined || r.gateway === want.gw));
      if (!ok) throw checkFailed(`route ${want.dst}${want.gw ? ` via ${want.gw}` : ''} is missing in ${netns}`);
    }
  }

  if (conf.ipMasq && mine.length) {
    const nets = mine.map((i) => parseCIDR(i.address)).filter((n): n is IPNet => n !== undefined);
    const problems = checkMasq(conf.name, env.containerId, nets, run);
    if (problems.length) throw checkFailed(problems[0] as string);
  }
}

/** The `cni.dev/valid-attachments` list of a GC request (code 7 when missing or malformed). */
export function validAttachments(conf: BridgeConfig): Attachment[] {
  const raw = conf.conf['cni.dev/valid-attachments'];
  const bad = () => cniError(CniErrorCodes.invalidNetworkConfig, 'cni.config', 'cni.dev/valid-attachments must be a list of {containerID, ifname}');
  if (!Array.isArray(raw)) throw bad();
  return raw.map((a: unknown) => {
    const o = a as Record<string, unknown> | null;
    if (o === null || typeof o !== 'object' || typeof o['containerID'] !== 'string' || typeof o['ifname'] !== 'string') throw bad();
    return { containerId: o['containerID'], ifName: o['ifname'] };
  });
}

/**
 * GC (CNI 1.1.0): releases the IPAM allocations and removes the masquerading chains of this
 * network that belong to no attachment in `cni.dev/valid-attachments`; a delegated IPAM plugin
 * gets GC too. Interfaces need no GC: they vanish with their namespace.
 */
export async function cmdGc(conf: BridgeConfig, env: CniEnv, o: PluginOptions = {}): Promise<void> {
  const valid = validAttachments(conf);
  const errors: unknown[] = [];
  const ctx = ipamContext(conf, env, o);
  if (ctx) {
    try {
      const released = await ipamGc(ctx, valid);
      debug(o, `gc: released ${released === undefined ? '(delegated)' : released.map(formatIP).join(', ') || 'nothing'}`);
    } catch (e) {
      errors.push(e);
    }
  }
  if (conf.ipMasq) {
    try {
      const removed = gcMasq(conf.name, new Set(valid.map((v) => v.containerId)), o.run ?? runTool);
      debug(o, `gc: removed masquerading of ${removed.join(', ') || 'nothing'}`);
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length) throw errors[0];
}

/** STATUS (CNI 1.1.0): code 50 when IPAM cannot hand out an address, else success. */
export async function cmdStatus(conf: BridgeConfig, env: CniEnv, o: PluginOptions = {}): Promise<void> {
  const ctx = ipamContext(conf, env, o);
  if (ctx) await ipamStatus(ctx);
}

function normalizeHost(cidr: string): string {
  const n = parseCIDR(cidr);
  return n ? formatCIDR(n) : cidr;
}

/** The VERSION result: the caller's cniVersion (when it names one) and the supported versions. */
export function versionResult(stdin: Buffer): { cniVersion: string; supportedVersions: string[] } {
  let version: string = CNI_LATEST_VERSION;
  try {
    const v = (decodeStdin(stdin) as { cniVersion?: unknown } | null)?.cniVersion;
    if (typeof v === 'string' && /^\d+\.\d+\.\d+$/.test(v)) version = v;
  } catch {
    // an empty or unreadable stdin still gets an answer
  }
  return { cniVersion: version, supportedVersions: [...SUPPORTED_VERSIONS] };
}

function versionForErrors(stdin: Buffer): string {
  try {
    const v = (decodeStdin(stdin) as { cniVersion?: unknown } | null)?.cniVersion;
    if (typeof v === 'string') return checkVersion(v);
  } catch {
    // fall through
  }
  return CNI_LATEST_VERSION;
}

/**
 * Runs one invocation: parses the environment and stdin, runs the command and renders its
 * result (ADD: the result converted to the config's cniVersion; the others: nothing) or the
 * CNI error result with exit code 1.
 */
export async function runPlugin(input: PluginInput): Promise<PluginOutput> {
  const o: PluginOptions = { ...(input.log ? { log: input.log } : {}), ...(input.lock ? { lock: input.lock } : {}), ...(input.run ? { run: input.run } : {}) };
  try {
    const env = parseCniEnv(input.env);
    if (env.command === 'VERSION') return { exitCode: 0, stdout: `${JSON.stringify(versionResult(input.stdin))}\n` };
    const conf = loadBridgeConfig(input.stdin, env);
    debug(o, `${env.command} ${env.containerId || '-'} ${env.ifName || '-'} netns=${env.netns ?? '-'} network=${conf.name} cniVersion=${conf.cniVersion}`);
    if (env.command === 'ADD') {
      const result = await cmdAdd(conf, env, o);
      return { exitCode: 0, stdout: `${JSON.stringify(convertCniResult(result, conf.cniVersion))}\n` };
    }
    if (env.command === 'DEL') await cmdDel(conf, env, o);
    else if (env.command === 'CHECK') await cmdCheck(conf, env, o);
    else if (env.command === 'GC') await cmdGc(conf, env, o);
    else await cmdStatus(conf, env, o);
    return { exitCode: 0, stdout: '' };
  } catch (e) {
    o.log?.error(e);
    return { exitCode: 1, stdout: `${JSON.stringify(toCniErrorResult(e, versionForErrors(input.stdin)))}\n` };
  }
}
