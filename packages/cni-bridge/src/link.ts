/**
 * The links of a bridge attachment: the host bridge, and a veth pair created inside the
 * container with its peer moved to the plugin's own namespace and enslaved to the bridge.
 * Commands are built here as `ip -batch` lines; running them is up to the caller.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { CniIPConfig, CniRoute } from '@rktnetes/schema';
import { type IPNet, canonicalNet, contains, formatCIDR, parseCIDR } from './addr';
import { CNI_INTERNAL_ERROR, cniError } from './errors';
import type { ToolRunner } from './exec';
import { type AddrInfo, type LinkInfo, ipBatch, ipBatchOk, showLink } from './ip';

/** A random unicast, locally administered MAC address. */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfc) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** A host veth name like the reference plugin's: `veth` and 8 random hex digits. */
export function randomVethName(): string {
  return `veth${randomBytes(4).toString('hex')}`;
}

/** The host bridge as found (or made) by {@link ensureBridge}. */
export interface BridgeState {
  name: string;
  mac: string;
  ifindex: number;
  addrs: AddrInfo[];
  created: boolean;
}

/** Options of {@link ensureBridge}. */
export interface EnsureBridgeOptions {
  name: string;
  mtu?: number | undefined;
  promisc: boolean;
  run?: ToolRunner;
}

function stateOf(link: LinkInfo, created: boolean): BridgeState {
  return { name: link.ifname, mac: link.address ?? '', ifindex: link.ifindex, addrs: link.addr_info ?? [], created };
}

/**
 * Finds or creates the bridge, brings it up (and promiscuous when asked) and stops it from
 * accepting router advertisements: the plugin owns its routes. A new bridge gets a fixed random
 * MAC so that it does not follow its ports' addresses. Two plugins creating the same bridge at
 * once is fine.
 *
 * @throws code 999 when the name belongs to a link that is not a bridge, or ip fails
 */
export function ensureBridge(opts: EnsureBridgeOptions): BridgeState {
  const run = opts.run ? { run: opts.run } : {};
  let link = showLink(opts.name, { details: true, addrs: true, ...run });
  let created = false;
  if (!link) {
    const mtu = opts.mtu ? ` mtu ${opts.mtu}` : '';
    const r = ipBatch([`link add name ${opts.name} address ${randomMac()}${mtu} type bridge`], run);
    if (!r.ok && !/File exists/.test(r.stderr)) {
      throw cniError(CNI_INTERNAL_ERROR, 'cni.bridge', `could not add bridge ${opts.name}: ${r.stderr.trim()}`);
    }
    created = r.ok;
    link = showLink(opts.name, { details: true, addrs: true, ...run });
    if (!link) throw cniError(CNI_INTERNAL_ERROR, 'cni.bridge', `bridge ${opts.name} vanished after it was created`);
  }
  if (link.linkinfo?.info_kind !== 'bridge') {
    throw cniError(CNI_INTERNAL_ERROR, 'cni.bridge', `${JSON.stringify(opts.name)} already exists but is not a bridge`);
  }
  const fixes: string[] = [];
  if (!link.flags.includes('UP')) fixes.push(`link set ${opts.name} up`);
  if (opts.promisc && !link.flags.includes('PROMISC')) fixes.push(`link set ${opts.name} promisc on`);
  if (fixes.length) ipBatchOk(fixes, run);
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${opts.name}/accept_ra`, '0');
  } catch {
    // IPv6 disabled: nothing to stop
  }
  return stateOf(link, created);
}

/** The `ip` changes that give the bridge its gateway addresses. */
export interface GatewayPlan {
  /** `addr del` lines for conflicting addresses (forceAddress) */
  remove: string[];
  /** `addr replace` lines (idempotent, safe against a concurrent ADD) */
  add: string[];
}

/**
 * Plans the bridge's gateway addresses (`gw/prefix` per subnet). An IPv4 bridge holds one
 * address; a different one (or an IPv6 one overlapping the new subnet) is an error unless
 * `forceAddress`, which replaces it.
 *
 * @throws code 999 `"br" already has an IP address different from gw/prefix`
 */
export function planGatewayAddrs(bridge: BridgeState, gateways: readonly IPNet[], forceAddress: boolean): GatewayPlan {
  const plan: GatewayPlan = { remove: [], add: [] };
  for (const gw of gateways) {
    const want = formatCIDR(gw);
    const family = gw.ip.family === 4 ? 'inet' : 'inet6';
    const current = bridge.addrs
      .filter((a) => a.family === family && a.scope !== 'link')
      .map((a) => parseCIDR(`${a.local}/${a.prefixlen}`))
      .filter((n): n is IPNet => n !== undefined);
    if (current.some((n) => formatCIDR(n) === want)) continue;
    for (const n of current) {
      const clash = gw.ip.family === 4 || contains(n, gw.ip) || contains(gw, n.ip);
      if (!clash) continue;
      if (!forceAddress) {
        throw cniError(CNI_INTERNAL_ERROR, 'cni.bridge-addr', `${JSON.stringify(bridge.name)} already has an IP address different from ${want}`);
      }
      plan.remove.push(`addr del ${formatCIDR(n)} dev ${bridge.name}`);
    }
    const line = `addr replace ${want}${gw.ip.family === 4 ? ' brd +' : ''} dev ${bridge.name}`;
    if (!plan.add.includes(line)) plan.add.push(line);
  }
  return plan;
}

/** The names and addresses of a new veth pair. */
export interface VethSpec {
  /** CNI_IFNAME, inside the container */
  ifName: string;
  mac: string;
  hostName: string;
  hostMac: string;
  mtu?: number | undefined;
  /** a pid in the namespace that receives the host end (the plugin's own) */
  hostPid: number;
}

/** The `ip` line, run inside the container, that creates the pair and moves the host end out. */
export function vethAddCommand(v: VethSpec): string {
  const mtu = v.mtu ? ` mtu ${v.mtu}` : '';
  return `link add ${v.ifName} address ${v.mac}${mtu} type veth peer name ${v.hostName} address ${v.hostMac}${mtu} netns ${v.hostPid}`;
}

/**
 * The container-side lines after the pair exists: addresses (IPv4 ones with the subnet's
 * broadcast address, IPv6 ones without DAD unless `enableDad`), link up, then routes; a route without `gw` goes via the first gateway of its
 * family, as the reference plugins do. Duplicate routes are dropped.
 */
export function containerConfigCommands(ifName: string, ips: readonly CniIPConfig[], routes: readonly CniRoute[], enableDad: boolean): string[] {
  const lines: string[] = [];
  const gw: { 4?: string; 6?: string } = {};
  for (const ipc of ips) {
    const net = parseCIDR(ipc.address);
    if (!net) continue;
    const extra = net.ip.family === 4 ? ' brd +' : enableDad ? '' : ' nodad';
    lines.push(`addr add ${ipc.address}${extra} dev ${ifName}`);
    if (ipc.gateway !== undefined && gw[net.ip.family] === undefined) gw[net.ip.family] = ipc.gateway;
  }
  lines.push(`link set ${ifName} up`);
  const seen = new Set<string>();
  for (const r of routes) {
    const dst = parseCIDR(r.dst);
    if (!dst) continue;
    const via = r.gw ?? gw[dst.ip.family];
    const line = `route add ${formatCIDR(canonicalNet(dst))}${via ? ` via ${via}` : ''} dev ${ifName}`;
    if (seen.has(line)) continue;
    seen.add(line);
    lines.push(line);
  }
  return lines;
}

/** The host-side lines that put the host end on the bridge, set hairpin mode and bring it up. */
export function hostPortCommands(hostName: string, bridge: string, hairpin: boolean): string[] {
  return [`link set ${hostName} master ${bridge}`, `link set dev ${hostName} type bridge_slave hairpin ${hairpin ? 'on' : 'off'}`, `link set ${hostName} up`];
}

/** Turns on IPv4 or IPv6 forwarding in the plugin's namespace (needed for a gateway bridge). */
export function enableForwarding(family: 4 | 6): void {
  const path = family === 4 ? '/proc/sys/net/ipv4/ip_forward' : '/proc/sys/net/ipv6/conf/all/forwarding';
  try {
    writeFileSync(path, '1');
  } catch (e) {
    throw cniError(CNI_INTERNAL_ERROR, 'cni.forwarding', `failed to enable forwarding in ${path}`, { cause: e });
  }
}
