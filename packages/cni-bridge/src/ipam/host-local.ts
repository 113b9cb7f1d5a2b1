/**
 * host-local IPAM inside the plugin: addresses from the configured ranges, recorded in the
 * reference plugin's on-disk format under an flock, so concurrent ADDs never hand out one
 * address twice and Debian's `host-local` can share the directory.
 */
import { readFileSync } from 'node:fs';
import { CniErrorCodes, type CniDns, type CniIPConfig, type CniIpam, type CniIpamRange, type CniRoute } from '@rktnetes/schema';
import { type IP, formatIP, parseIP, sameIP } from '../addr';
import { CNI_INTERNAL_ERROR, cniError } from '../errors';
import type { LockOptions } from '../lock';
import { type RangeSet, candidates, describeSet, rangeFor, rangeSetsOf } from './ranges';
import { AllocationStore, DEFAULT_DATA_DIR } from './store';

/** The `ipam` keys the built-in host-local understands; any other key sends the request to the real plugin. */
export const HOST_LOCAL_KEYS = ['type', 'subnet', 'rangeStart', 'rangeEnd', 'gateway', 'ranges', 'routes', 'dataDir', 'resolvConf'] as const;

/** What an IPAM ADD returns (the abbreviated result of the spec's delegation section). */
export interface IpamResult {
  ips: CniIPConfig[];
  routes: CniRoute[];
  dns?: CniDns;
}

/** One host-local request. */
export interface HostLocalRequest {
  /** the network name: the allocation directory below `dataDir` */
  network: string;
  ipam: CniIpam;
  containerId: string;
  ifName: string;
  /** addresses asked for (CNI_ARGS `IP`, `args.cni.ips`, the `ips` capability) */
  requested?: string[];
  /** the `ipRanges` capability: range sets put before the configured ones */
  runtimeRanges?: CniIpamRange[][];
  lock?: LockOptions;
}

/** Whether the built-in host-local serves this `ipam` section (type host-local, only known keys). */
export function isBuiltinHostLocal(ipam: CniIpam): boolean {
  if (ipam.type !== 'host-local') return false;
  return Object.keys(ipam).every((k) => (HOST_LOCAL_KEYS as readonly string[]).includes(k));
}

function failure(code: string, message: string): Error {
  return cniError(CNI_INTERNAL_ERROR, code, message);
}

function parseRequested(list: readonly string[]): IP[] {
  return list.map((text) => {
    const ip = parseIP(text.replace(/\/\d+$/, ''));
    if (!ip) throw cniError(CniErrorCodes.invalidNetworkConfig, 'cni.ipam-config', `ipam: requested address ${JSON.stringify(text)} is not an IP address`);
    return ip;
  });
}

/** Reads nameserver, domain, search and options from a resolv.conf-style file. */
export function parseResolvConf(text: string): CniDns {
  const dns: CniDns = {};
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...vals] = line.split(/\s+/);
    if (!key || vals.length === 0) continue;
    if (key === 'nameserver') dns.nameservers = [...(dns.nameservers ?? []), vals[0] as string];
    else if (key === 'domain') dns.domain = vals[0] as string;
    else if (key === 'search') dns.search = [...(dns.search ?? []), ...vals];
    else if (key === 'options') dns.options = [...(dns.options ?? []), ...vals];
  }
  return dns;
}

function readDns(ipam: CniIpam): CniDns | undefined {
  const path = ipam['resolvConf'];
  if (path === undefined || path === '') return undefined;
  if (typeof path !== 'string') throw cniError(CniErrorCodes.invalidNetworkConfig, 'cni.ipam-config', 'ipam: resolvConf must be a path');
  try {
    return parseResolvConf(readFileSync(path, 'utf8'));
  } catch (e) {
    throw cniError(CniErrorCodes.ioFailure, 'cni.ipam-config', `ipam: cannot read resolvConf ${path}`, { cause: e });
  }
}

function openStore(req: HostLocalRequest): Promise<AllocationStore> {
  return AllocationStore.open(req.ipam.dataDir ?? DEFAULT_DATA_DIR, req.network, req.lock ?? {});
}

function allocateFrom(store: AllocationStore, set: RangeSet, idx: number, req: HostLocalRequest, wanted: IP | undefined): CniIPConfig {
  if (wanted !== undefined) {
    const range = rangeFor(set, wanted) as NonNullable<ReturnType<typeof rangeFor>>;
    if (sameIP(wanted, range.gateway)) throw failure('cni.ipam-requested', `requested IP address ${formatIP(wanted)} is the subnet's gateway`);
    if (!store.reserve(wanted, req.containerId, req.ifName, idx)) {
      throw failure('cni.ipam-requested', `requested IP address ${formatIP(wanted)} is not available in range set ${describeSet(set)}`);
    }
    return { address: `${formatIP(wanted)}/${range.subnet.prefix}`, gateway: formatIP(range.gateway) };
  }
  // the spec forbids two ADDs for one attachment without a DEL in between
  for (const a of store.byAttachment(req.containerId, req.ifName)) {
    if (rangeFor(set, a.ip)) {
      throw failure('cni.ipam-duplicate', `${formatIP(a.ip)} has been allocated to ${req.containerId}, duplicate allocation is not allowed`);
    }
  }
  for (const { ip, range } of candidates(set, store.lastReserved(idx))) {
    if (store.reserve(ip, req.containerId, req.ifName, idx)) {
      return { address: `${formatIP(ip)}/${range.subnet.prefix}`, gateway: formatIP(range.gateway) };
    }
  }
  throw failure('cni.ipam-exhausted', `no IP addresses available in range set: ${describeSet(set)}`);
}

/**
 * Allocates one address per range set for the attachment. On any failure the addresses taken so
 * far are released. Throws code 7 for a bad `ipam` section, 5 for I/O errors, 999 when a range set
 * is exhausted, a requested address is taken, or the attachment already has an address.
 */
export async function hostLocalAdd(req: HostLocalRequest): Promise<IpamResult> {
  const sets = rangeSetsOf(req.ipam, req.runtimeRanges);
  const requested = parseRequested(req.requested ?? []);
  const dns = readDns(req.ipam);
  const store = await openStore(req);
  const ips: CniIPConfig[] = [];
  const taken: IP[] = [];
  try {
    const pending = [...requested];
    sets.forEach((set, idx) => {
      const i = pending.findIndex((ip) => rangeFor(set, ip) !== undefined);
      const wanted = i >= 0 ? pending.splice(i, 1)[0] : undefined;
      const ipc = allocateFrom(store, set, idx, req, wanted);
      ips.push(ipc);
      taken.push(parseIP(ipc.address.split('/')[0] ?? '') as IP);
    });
    if (pending.length) {
      throw failure('cni.ipam-requested', `failed to allocate all requested IPs: ${pending.map(formatIP).join(' ')}`);
    }
  } catch (e) {
    for (const ip of taken) store.unreserve(ip);
    throw e;
  } finally {
    await store.close();
  }
  const out: IpamResult = { ips, routes: req.ipam.routes ?? [] };
  if (dns !== undefined) out.dns = dns;
  return out;
}

/** Releases the attachment's addresses; returns them (none is not an error). */
export async function hostLocalDel(req: HostLocalRequest): Promise<IP[]> {
  const store = await openStore(req);
  try {
    return store.release(req.containerId, req.ifName);
  } finally {
    await store.close();
  }
}

/**
 * Checks that the attachment holds an address and, for each of `expected` inside the configured
 * ranges, that it is recorded for this attachment. Throws code 999 otherwise.
 */
export async function hostLocalCheck(req: HostLocalRequest, expected: readonly IP[] = []): Promise<void> {
  const sets = rangeSetsOf(req.ipam, req.runtimeRanges);
  const store = await openStore(req);
  try {
    const mine = store.byAttachment(req.containerId, req.ifName);
    if (mine.length === 0) throw failure('cni.ipam-check', `host-local: no address is allocated to container ${req.containerId} interface ${req.ifName}`);
    for (const ip of expected) {
      if (!sets.some((s) => rangeFor(s, ip))) continue;
      if (!mine.some((a) => sameIP(a.ip, ip))) {
        throw failure('cni.ipam-check', `host-local: ${formatIP(ip)} is not allocated to container ${req.containerId} interface ${req.ifName}`);
      }
    }
  } finally {
    await store.close();
  }
}

/** A host-local network without an attachment (GC, STATUS). */
export type HostLocalNetwork = Pick<HostLocalRequest, 'network' | 'ipam' | 'runtimeRanges' | 'lock'>;

/** One attachment that GC must keep. */
export interface Attachment {
  containerId: string;
  ifName: string;
}

/**
 * GC: releases every allocation of the network that belongs to no attachment in `valid` (a
 * file naming only a container matches any interface of it). Returns the released addresses.
 */
export async function hostLocalGc(net: HostLocalNetwork, valid: readonly Attachment[]): Promise<IP[]> {
  const store = await AllocationStore.open(net.ipam.dataDir ?? DEFAULT_DATA_DIR, net.network, net.lock ?? {});
  try {
    const keep = (containerId: string, ifName: string) =>
      valid.some((v) => v.containerId === containerId && (ifName === '' || v.ifName === ifName));
    const stale = store.list().filter((a) => !keep(a.containerId, a.ifName));
    for (const a of stale) store.unreserve(a.ip);
    return stale.map((a) => a.ip);
  } finally {
    await store.close();
  }
}

/**
 * STATUS: whether an ADD could get an address from every range set. Throws code 50 (plugin not
 * available) naming the exhausted set.
 */
export async function hostLocalStatus(net: HostLocalNetwork): Promise<void> {
  const sets = rangeSetsOf(net.ipam, net.runtimeRanges);
  const store = await AllocationStore.open(net.ipam.dataDir ?? DEFAULT_DATA_DIR, net.network, net.lock ?? {});
  try {
    const taken = new Set(store.list().map((a) => formatIP(a.ip)));
    for (const set of sets) {
      let free = false;
      for (const { ip } of candidates(set, undefined)) {
        if (!taken.has(formatIP(ip))) {
          free = true;
          break;
        }
      }
      if (!free) throw cniError(50, 'cni.ipam-exhausted', `no IP addresses available in range set: ${describeSet(set)}`);
    }
  } finally {
    await store.close();
  }
}
