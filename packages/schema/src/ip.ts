/**
 * node:net's IP address checks, with the module loaded on first use: loading node:net (and the
 * stream modules it pulls in) at import time costs every start of rkt about half a millisecond,
 * and most commands never check an address.
 */
import { createRequire } from 'node:module';

let net: typeof import('node:net') | undefined;
const load = (): typeof import('node:net') => (net ??= createRequire(import.meta.url)('node:net') as typeof import('node:net'));

/** 4, 6, or 0 when `s` is not an IP address (net.isIP). */
export const isIP = (s: string): number => load().isIP(s);
/** Whether `s` is an IPv4 address (net.isIPv4). */
export const isIPv4 = (s: string): boolean => load().isIPv4(s);
/** Whether `s` is an IPv6 address (net.isIPv6). */
export const isIPv6 = (s: string): boolean => load().isIPv6(s);
