/**
 * A VM pod's networking: the same CNI networks as a coreos pod, reached through tap devices.
 *
 * A VM has its own kernel, so it can never share the host's network namespace: `host` (and no
 * `--net` at all) is refused, and `none` gives the guest only loopback. Anything else is set up
 * exactly as for a coreos pod by `@rktnetes/pod-net` — the pod's network namespace
 * `/run/netns/rkt-<uuid>`, each network's plugin ADD (which puts an interface, usually a veth,
 * with the pod's address into that namespace), `net-info.json`, DNS, port forwarding — and then
 * each of those interfaces is handed to the VM:
 *
 * 1. the interface's MAC address, MTU, IPv4 addresses and routes are read from the namespace
 *    (what the plugins configured, whatever they are);
 * 2. a tap `tap-<if>` is created in the namespace with the same MTU, and the two are joined by
 *    tc: everything arriving on the interface is redirected to the tap and everything the
 *    guest sends on the tap to the interface (an ingress qdisc and a u32 match-all filter with
 *    a mirred egress redirect on each), so the namespace's own stack never sees the pod's
 *    traffic;
 * 3. qemu runs inside the namespace (the shim joins it before exec'ing qemu) and opens the tap;
 *    the guest's virtio-net device gets the interface's MAC, and the guest init renames it to
 *    the interface's name and configures the addresses, MTU and routes from the guest spec.
 *
 * The host sees the pod at its CNI address exactly as it would see a coreos pod. The taps live
 * in the namespace and disappear with it, so gc is pod-net's teardown (port forwarding, DEL for
 * each network, the namespace) once qemu is gone.
 */
import type { NetInfo } from '@rktnetes/common';
import { systemError, userError } from '@rktnetes/errors';
import { type CommandRunner, type ForwardedPort, type PodNetworkOptions, failureText, findTool, forwardedPorts, podNetworkContext, setupPodNetwork, teardownPodNetwork } from '@rktnetes/pod-net';
import type { ExposedPort, Port } from '@rktnetes/schema';
import type { NetEntry, RunArgs } from '@rktnetes/stage1-abi';
import type { Sys } from '@rktnetes/sys';

/** How the VM is networked. */
export type KvmNetMode = 'none' | 'cni';

/** An IPv4 address of a guest interface. */
export interface VmAddress {
  /** `a.b.c.d/prefix` */
  cidr: string;
  /**
   * whether the subnet route the kernel adds with the address exists in the pod's namespace
   * (plugins such as ptp delete it); the guest deletes its own when not
   */
  prefixRoute: boolean;
}

/** An IPv4 route of a guest interface. */
export interface VmRoute {
  /** `default` or `a.b.c.d/prefix` */
  dst: string;
  /** next hop; absent for a route on the link */
  gateway?: string;
}

/** One network interface of the VM. */
export interface VmNic {
  /** the network's name */
  network: string;
  /** the interface name in the pod namespace and in the guest (`eth0`, ...) */
  ifName: string;
  /** the tap in the pod namespace qemu opens */
  tap: string;
  /** the interface's MAC address, which the guest's NIC takes */
  mac: string;
  mtu: number;
  addresses: VmAddress[];
  /** in an order the guest can add them in: routes on the link first */
  routes: VmRoute[];
}

/** The VM's networking once set up. */
export interface KvmNetwork {
  mode: KvmNetMode;
  /** path of the pod's network namespace (cni) */
  netns?: string;
  nics: VmNic[];
}

const unsupported = (message: string, network: string) => userError('stage1-kvm.net.unsupported', message, { details: { network } });

/**
 * What a `--net` list means for a VM.
 *
 * @throws RktError `stage1-kvm.net.unsupported` (user) for host networking (and no `--net`) and
 *   for `none` combined with other networks
 */
export function kvmNetworkMode(nets: readonly NetEntry[] | undefined): KvmNetMode {
  if (!nets || nets.length === 0 || nets.some((n) => n.name === 'host')) {
    throw unsupported('stage1-kvm cannot use the host network: a VM has its own kernel; use --net=default, a network from net.d, or --net=none', 'host');
  }
  if (nets.some((n) => n.name === 'none')) {
    if (nets.length > 1) throw unsupported(`--net=none cannot be combined with other networks (${nets.map((n) => n.name).join(',')})`, 'none');
    return 'none';
  }
  return 'cni';
}

/** The tap of a pod interface, in the pod namespace. */
export const tapNameOf = (ifName: string) => `tap-${ifName}`;

interface IpAddrInfo {
  family?: string;
  local?: string;
  prefixlen?: number;
}
interface IpLink {
  ifname?: string;
  address?: string;
  mtu?: number;
  addr_info?: IpAddrInfo[];
}
interface IpRoute {
  dst?: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  type?: string;
}

function jsonArray<T>(text: string, what: string): T[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw systemError('stage1-kvm.net.inspect', `cannot read ${what} of the pod network namespace: ip printed no JSON`, { cause: e });
  }
  if (!Array.isArray(v)) throw systemError('stage1-kvm.net.inspect', `cannot read ${what} of the pod network namespace: ip printed no list`);
  return v as T[];
}

/** The network address of `ip/prefix` (`10.1.2.0/24` for `10.1.2.3/24`). */
export function networkOf(ip: string, prefix: number): string {
  const n = ip.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
  const mask = prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffff : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (n & mask) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 0xff).join('.')}/${prefix}`;
}

/**
 * The guest interfaces of the pod's networks, from the output of `ip -j addr show` and
 * `ip -j -4 route show table main` in its namespace: each interface's MAC, MTU, IPv4 addresses
 * and the routes through it (the kernel's own subnet routes are left to the guest's kernel,
 * which adds them with the addresses; routes on the link come before routes via a gateway).
 *
 * @throws RktError `stage1-kvm.net.inspect` (system) when an interface is missing or has no
 *   MAC address (a plugin that creates no Ethernet interface cannot be handed to a VM)
 */
export function guestInterfaces(infos: readonly NetInfo[], addrJson: string, routeJson: string): VmNic[] {
  const links = jsonArray<IpLink>(addrJson, 'the interfaces');
  const routes = jsonArray<IpRoute>(routeJson, 'the routes');
  return infos.map((info) => {
    const link = links.find((l) => l.ifname === info.ifName);
    if (!link) throw systemError('stage1-kvm.net.inspect', `network ${info.netName}: the plugin left no interface ${info.ifName} in the pod network namespace`, { details: { network: info.netName } });
    const mac = link.address ?? '';
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac) || mac === '00:00:00:00:00:00') {
      throw systemError('stage1-kvm.net.inspect', `network ${info.netName}: interface ${info.ifName} has no Ethernet address, so it cannot be given to a VM`, { details: { network: info.netName } });
    }
    const own = routes.filter((r) => r.dev === info.ifName && (r.type === undefined || r.type === 'unicast'));
    const kernel = new Set(own.filter((r) => r.protocol === 'kernel').map((r) => r.dst));
    const addresses = (link.addr_info ?? [])
      .filter((a) => a.family === 'inet' && typeof a.local === 'string' && typeof a.prefixlen === 'number')
      .map((a) => ({ cidr: `${a.local}/${a.prefixlen}`, prefixRoute: a.prefixlen === 32 || kernel.has(networkOf(a.local!, a.prefixlen!)) }));
    const vmRoutes: VmRoute[] = own
      .filter((r) => r.protocol !== 'kernel' && typeof r.dst === 'string')
      .map((r) => ({ dst: r.dst!, ...(r.gateway ? { gateway: r.gateway } : {}) }))
      .sort((a, b) => Number(a.gateway !== undefined) - Number(b.gateway !== undefined));
    return { network: info.netName, ifName: info.ifName, tap: tapNameOf(info.ifName), mac: mac.toLowerCase(), mtu: link.mtu ?? 1500, addresses, routes: vmRoutes };
  });
}

/**
 * The `ip -batch` and `tc -batch` scripts that create each NIC's tap in the pod namespace and
 * join it to the pod interface both ways.
 */
export function tapWiring(nics: readonly VmNic[]): { ip: string; tc: string } {
  const ip: string[] = [];
  const tc: string[] = [];
  const redirect = (from: string, to: string) => {
    tc.push(`qdisc add dev ${from} ingress`);
    tc.push(`filter add dev ${from} parent ffff: protocol all prio 1 u32 match u8 0 0 action mirred egress redirect dev ${to}`);
  };
  for (const n of nics) {
    ip.push(`tuntap add dev ${n.tap} mode tap`, `link set dev ${n.tap} mtu ${n.mtu}`, `link set dev ${n.tap} up`);
    redirect(n.ifName, n.tap);
    redirect(n.tap, n.ifName);
  }
  return { ip: ip.length ? `${ip.join('\n')}\n` : '', tc: tc.length ? `${tc.join('\n')}\n` : '' };
}

function inNetns(netns: string, run: CommandRunner, tool: string, args: readonly string[], input: string): string {
  const r = run(findTool('nsenter'), [`--net=${netns}`, '--', findTool(tool), ...args], { input });
  if (r.status !== 0 || r.error) throw new Error(`${tool} ${args.join(' ')}: ${failureText(r)}`);
  return r.stdout;
}

/**
 * Reads the pod interfaces of `infos` in `netns` and wires a tap to each.
 *
 * @throws RktError `stage1-kvm.net.inspect`, `stage1-kvm.net.tap` (system)
 */
export function attachTaps(netns: string, infos: readonly NetInfo[], run: CommandRunner): VmNic[] {
  if (infos.length === 0) return [];
  let out: string;
  try {
    out = inNetns(netns, run, 'ip', ['-j', '-batch', '-'], 'addr show\nroute show table main\n');
  } catch (e) {
    throw systemError('stage1-kvm.net.inspect', `cannot read the interfaces of network namespace ${netns}: ${(e as Error).message}`, { cause: e });
  }
  const [addrs = '[]', routes = '[]'] = out.split('\n').filter((l) => l.trim() !== '');
  const nics = guestInterfaces(infos, addrs, routes);
  const script = tapWiring(nics);
  try {
    inNetns(netns, run, 'ip', ['-batch', '-'], script.ip);
    inNetns(netns, run, 'tc', ['-batch', '-'], script.tc);
  } catch (e) {
    throw systemError('stage1-kvm.net.tap', `cannot connect tap devices to the pod interfaces in ${netns}: ${(e as Error).message}`, { cause: e });
  }
  return nics;
}

/** What {@link releaseKvmNetwork} needs: gc's surroundings (pod-net's options). */
export type KvmReleaseOptions = PodNetworkOptions;

/** What {@link setupKvmNetwork} needs. */
export interface KvmNetworkOptions extends Omit<KvmReleaseOptions, 'localConfig' | 'debugEnabled' | 'sys'> {
  args: Pick<RunArgs, 'net' | 'localConfig' | 'dnsConfMode' | 'debug'>;
  /** the pod manifest's exposed ports */
  exposedPorts?: readonly ExposedPort[];
  /** the apps' ports, to resolve exposed ports by name */
  apps: ReadonlyArray<{ ports?: readonly Port[] }>;
  /** the pod lock: close-on-exec while plugins run, so that none of them holds the pod */
  lockFd?: number;
  sys: Pick<Sys, 'mount' | 'umount2' | 'setCloexec'>;
}

/**
 * Sets up the VM's networks (see the module doc): nothing for `none`; for CNI networks
 * pod-net's setup, then a tap wired to each pod interface. A failure after the namespace exists
 * tears everything down again before the error is thrown.
 *
 * @throws RktError `stage1-kvm.net.unsupported`, `stage1.net.port` (user), those of pod-net's
 *   `setupPodNetwork` (`stage1.net.*`), `stage1-kvm.net.inspect`, `stage1-kvm.net.tap` (system)
 */
export function setupKvmNetwork(o: KvmNetworkOptions): KvmNetwork {
  const mode = kvmNetworkMode(o.args.net);
  const ports: ForwardedPort[] = forwardedPorts(o.exposedPorts, o.apps);
  if (mode === 'none') {
    if (ports.length > 0) throw userError('stage1.net.port', "ports cannot be forwarded with 'none' networking (--port needs a contained network such as --net=default)");
    return { mode, nics: [] };
  }
  if (o.lockFd !== undefined) o.sys.setCloexec(o.lockFd, true);
  const ctx = podNetworkContext({ ...o, ...(o.args.localConfig !== undefined ? { localConfig: o.args.localConfig } : {}), debugEnabled: o.args.debug });
  const pn = setupPodNetwork(ctx, { nets: o.args.net ?? [], ports, cniDns: (o.args.dnsConfMode?.resolv ?? 'default') === 'default' });
  try {
    const nics = attachTaps(pn.netns, pn.nets, ctx.run);
    o.debug(`networks: ${nics.map((n) => `${n.network}:${n.ifName}=${n.addresses.map((a) => a.cidr).join(',') || '-'} (${n.mac}, mtu ${n.mtu}, via ${n.tap})`).join(' ') || '(loopback only)'}`);
    return { mode, netns: pn.netns, nics };
  } catch (e) {
    for (const p of teardownPodNetwork(ctx)) o.warn(`cleaning up after the failed network setup: ${p}`);
    throw e;
  }
}

/**
 * gc's part (qemu must be gone first, or the namespace outlives its mount): pod-net's
 * teardown — port forwarding, DEL for every network in `net-info.json`, the namespace, and with
 * it the taps. From the pod's files alone, idempotent; returns what could not be cleaned up.
 */
export function releaseKvmNetwork(o: KvmReleaseOptions): string[] {
  return teardownPodNetwork(podNetworkContext(o));
}
