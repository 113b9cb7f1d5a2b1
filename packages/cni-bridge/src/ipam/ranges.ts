/**
 * host-local address ranges: `ipam.subnet`/`rangeStart`/`rangeEnd`/`gateway` (the old single
 * range) and `ipam.ranges` (a list of range sets, one address per set), checked and completed:
 * the gateway defaults to the subnet's first address, the range to everything between it and
 * the last address (the IPv4 broadcast excluded).
 */
import { CniErrorCodes, type CniIpam, type CniIpamRange } from '@rktnetes/schema';
import { cniError } from '../errors';
import {
  type IP,
  type IPNet,
  bitsOf,
  compareIP,
  contains,
  formatCIDR,
  formatIP,
  lastOf,
  networkOf,
  nextIP,
  parseCIDR,
  parseIP,
  prevIP,
  sameIP,
} from '../addr';

/** One range with every bound known. */
export interface Range {
  subnet: IPNet;
  start: IP;
  end: IP;
  gateway: IP;
}

/** Ranges of one family from which one address is taken. */
export type RangeSet = Range[];

function invalid(message: string): Error {
  return cniError(CniErrorCodes.invalidNetworkConfig, 'cni.ipam-config', `ipam: ${message}`);
}

function addr(text: string, what: string): IP {
  const ip = parseIP(text);
  if (!ip) throw invalid(`${what} ${JSON.stringify(text)} is not an IP address`);
  return ip;
}

/** Whether `ip` is inside the range (subnet and start..end). */
export function rangeContains(r: Range, ip: IP): boolean {
  return contains(r.subnet, ip) && compareIP(ip, r.start) >= 0 && compareIP(ip, r.end) <= 0;
}

/** The range of the set containing `ip`, if any. */
export function rangeFor(set: RangeSet, ip: IP): Range | undefined {
  return set.find((r) => rangeContains(r, ip));
}

/** `start-end` text of a range, `a-b,c-d` for a set (as error messages show them). */
export function describeSet(set: RangeSet): string {
  return set.map((r) => `${formatIP(r.start)}-${formatIP(r.end)}`).join(',');
}

/** Completes and checks one range (the rules of the reference host-local plugin). */
export function canonicalRange(spec: CniIpamRange): Range {
  const subnet = parseCIDR(spec.subnet);
  if (!subnet) throw invalid(`subnet ${JSON.stringify(spec.subnet)} is not a CIDR`);
  const bits = bitsOf(subnet.ip.family);
  if (subnet.prefix > bits - 2) throw invalid(`network ${formatCIDR(subnet)} too small to allocate from`);
  const network = networkOf(subnet);
  if (!sameIP(network, subnet.ip)) {
    throw invalid(`network ${formatCIDR(subnet)} has host bits set: the network address for /${subnet.prefix} is ${formatIP(network)}`);
  }
  const inSubnet = (ip: IP, what: string): IP => {
    if (!contains(subnet, ip)) throw invalid(`${what} ${formatIP(ip)} is not in network ${formatCIDR(subnet)}`);
    return ip;
  };
  const gateway = spec.gateway === undefined ? nextIP(network) : addr(spec.gateway, 'gateway');
  const start = spec.rangeStart === undefined ? nextIP(network) : inSubnet(addr(spec.rangeStart, 'rangeStart'), 'rangeStart');
  const last = lastOf(subnet);
  const end =
    spec.rangeEnd === undefined ? (subnet.ip.family === 4 ? prevIP(last) : last) : inSubnet(addr(spec.rangeEnd, 'rangeEnd'), 'rangeEnd');
  if (compareIP(start, end) > 0) throw invalid(`rangeStart ${formatIP(start)} is after rangeEnd ${formatIP(end)}`);
  return { subnet, start, end, gateway };
}

function overlaps(a: Range, b: Range): boolean {
  if (a.subnet.ip.family !== b.subnet.ip.family) return false;
  return rangeContains(a, b.start) || rangeContains(a, b.end) || rangeContains(b, a.start) || rangeContains(b, a.end);
}

/**
 * The range sets of an `ipam` section: `runtimeRanges` (the `ipRanges` capability) first, then
 * the old single range, then `ranges`. Every set must be of one family and no two ranges may
 * overlap. Throws code 7 with `ipam: ...` messages.
 */
export function rangeSetsOf(ipam: CniIpam, runtimeRanges: CniIpamRange[][] = []): RangeSet[] {
  const specs: CniIpamRange[][] = [...runtimeRanges];
  if (ipam.subnet !== undefined) {
    const single: CniIpamRange = { subnet: ipam.subnet };
    if (ipam.rangeStart !== undefined) single.rangeStart = ipam.rangeStart;
    if (ipam.rangeEnd !== undefined) single.rangeEnd = ipam.rangeEnd;
    if (ipam.gateway !== undefined) single.gateway = ipam.gateway;
    specs.push([single]);
  }
  specs.push(...(ipam.ranges ?? []));
  if (specs.length === 0) throw invalid('no IP ranges specified');
  const sets = specs.map((set, i) => {
    if (set.length === 0) throw invalid(`range set ${i} is empty`);
    const ranges = set.map((spec) => {
      try {
        return canonicalRange(spec);
      } catch (e) {
        throw invalid(`invalid range set ${i}: ${(e as Error).message.replace(/^ipam: /, '')}`);
      }
    });
    const fam = ranges[0]?.subnet.ip.family;
    if (ranges.some((r) => r.subnet.ip.family !== fam)) throw invalid(`range set ${i} mixes IPv4 and IPv6`);
    return ranges;
  });
  const all = sets.flatMap((set, i) => set.map((r) => ({ r, i })));
  for (let a = 0; a < all.length; a++) {
    for (let b = a + 1; b < all.length; b++) {
      const x = all[a];
      const y = all[b];
      if (x && y && overlaps(x.r, y.r)) {
        throw invalid(x.i === y.i ? `range set ${x.i} has overlapping ranges` : `range set ${x.i} overlaps with ${y.i}`);
      }
    }
  }
  return sets;
}

/**
 * The candidates for a new address, round robin: starting after `last` when it lies in the set
 * (else at the first range's start), through every range in order, wrapping once; gateways are
 * skipped.
 */
export function* candidates(set: RangeSet, last: IP | undefined): Generator<{ ip: IP; range: Range }> {
  if (set.length === 0) return;
  let idx = 0;
  let cur: IP | undefined;
  if (last !== undefined) {
    const i = set.findIndex((r) => rangeContains(r, last));
    if (i >= 0) {
      idx = i;
      cur = last;
    }
  }
  let start: IP | undefined;
  for (;;) {
    const r = set[idx] as Range;
    if (cur === undefined) {
      cur = r.start;
    } else if (sameIP(cur, r.end)) {
      idx = (idx + 1) % set.length;
      cur = (set[idx] as Range).start;
    } else {
      cur = nextIP(cur);
    }
    if (start === undefined) start = cur;
    else if (sameIP(cur, start)) return;
    const range = set[idx] as Range;
    if (!sameIP(cur, range.gateway)) yield { ip: cur, range };
  }
}
