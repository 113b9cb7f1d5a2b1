/**
 * IPv4 and IPv6 addresses as numbers: parsing, canonical formatting, prefixes and neighbours.
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are taken as IPv4, as CNI plugins do.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** An address family. */
export type Family = 4 | 6;

/** An address: its family and its value as an unsigned integer. */
export interface IP {
  readonly family: Family;
  readonly value: bigint;
}

/** An address with a prefix length (`10.1.2.3/24`); `ip` may have host bits set. */
export interface IPNet {
  readonly ip: IP;
  readonly prefix: number;
}

/** The width of a family's addresses in bits. */
export function bitsOf(family: Family): number {
  return family === 4 ? 32 : 128;
}

function parseV4(s: string): bigint {
  return s.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function parseV6(s: string): bigint {
  let text = s;
  let tail: bigint | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    tail = parseV4(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head = '', rest] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const fill = rest === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(fill).fill('0'), ...right];
  let v = groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
  if (tail !== undefined) v = (v & ~0xffffffffn) | tail;
  return v;
}

/** Parses an IPv4 or IPv6 address (no zone, no prefix); undefined when it is not one. */
export function parseIP(s: string): IP | undefined {
  if (isIPv4(s)) return { family: 4, value: parseV4(s) };
  if (!isIPv6(s) || s.includes('%')) return undefined;
  const value = parseV6(s);
  if (value >> 32n === 0xffffn) return { family: 4, value: value & 0xffffffffn };
  return { family: 6, value };
}

/** Parses `addr/prefix`; undefined when malformed or the prefix is too long for the family. */
export function parseCIDR(s: string): IPNet | undefined {
  const slash = s.lastIndexOf('/');
  if (slash < 0) return undefined;
  const prefixText = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const ip = parseIP(s.slice(0, slash));
  if (!ip) return undefined;
  let prefix = Number(prefixText);
  // a mapped address written with an IPv6 prefix keeps its IPv4 meaning
  if (ip.family === 4 && isIPv6(s.slice(0, slash))) prefix -= 96;
  if (prefix < 0 || prefix > bitsOf(ip.family)) return undefined;
  return { ip, prefix };
}

/** The canonical text of an address: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run as `::`). */
export function formatIP(ip: IP): string {
  if (ip.family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((ip.value >> s) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** `addr/prefix` text. */
export function formatCIDR(n: IPNet): string {
  return `${formatIP(n.ip)}/${n.prefix}`;
}

/** The netmask of a prefix as an integer. */
export function maskOf(family: Family, prefix: number): bigint {
  const bits = BigInt(bitsOf(family));
  const all = (1n << bits) - 1n;
  return all ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

/** The network address of a prefix (host bits cleared). */
export function networkOf(n: IPNet): IP {
  return { family: n.ip.family, value: n.ip.value & maskOf(n.ip.family, n.prefix) };
}

/** The prefix with host bits cleared (`10.1.2.3/24` → `10.1.2.0/24`). */
export function canonicalNet(n: IPNet): IPNet {
  return { ip: networkOf(n), prefix: n.prefix };
}

/** The highest address of a prefix (the IPv4 broadcast address). */
export function lastOf(n: IPNet): IP {
  const host = ((1n << BigInt(bitsOf(n.ip.family))) - 1n) ^ maskOf(n.ip.family, n.prefix);
  return { family: n.ip.family, value: networkOf(n).value | host };
}

/** Whether `ip` lies inside the prefix `n`. */
export function contains(n: IPNet, ip: IP): boolean {
  return ip.family === n.ip.family && (ip.value & maskOf(n.ip.family, n.prefix)) === networkOf(n).value;
}

/** Whether two addresses are the same. */
export function sameIP(a: IP, b: IP | undefined): boolean {
  return b !== undefined && a.family === b.family && a.value === b.value;
}

/** Orders addresses of one family (negative, zero, positive). */
export function compareIP(a: IP, b: IP): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** The following address (wrapping at the top of the family). */
export function nextIP(ip: IP): IP {
  const max = (1n << BigInt(bitsOf(ip.family))) - 1n;
  return { family: ip.family, value: ip.value === max ? 0n : ip.value + 1n };
}

/** The preceding address (wrapping at zero). */
export function prevIP(ip: IP): IP {
  const max = (1n << BigInt(bitsOf(ip.family))) - 1n;
  return { family: ip.family, value: ip.value === 0n ? max : ip.value - 1n };
}

/** The unspecified prefix of a family, for default routes (`0.0.0.0/0`, `::/0`). */
export function defaultNet(family: Family): IPNet {
  return { ip: { family, value: 0n }, prefix: 0 };
}
