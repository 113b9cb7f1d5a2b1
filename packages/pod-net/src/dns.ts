/**
 * DNS settings returned by CNI plugins, turned into the pod's resolv.conf (rkt's rules: with
 * `--dns-conf-mode=resolv=default`, the first network whose result carries DNS settings writes
 * `etc/rkt-resolv.conf` in the stage1 root, which is then bound over every app's
 * `/etc/resolv.conf`; later networks' settings are ignored with a note).
 */
import type { CniDns } from '@rktnetes/schema';

/** Whether a plugin's DNS settings say nothing (Debian's plugins always return `"dns": {}`). */
export function isDnsEmpty(dns: CniDns | undefined): boolean {
  return !dns || (!dns.nameservers?.length && !dns.search?.length && !dns.options?.length && !dns.domain);
}

/** A resolv.conf in rkt's layout: comment, search, nameservers, options, domain. */
export function formatResolvConf(dns: CniDns, comment: string): string {
  let s = comment ? `# ${comment}\n\n` : '';
  if (dns.search?.length) s += `search ${dns.search.join(' ')}\n`;
  for (const ns of dns.nameservers ?? []) s += `nameserver ${ns}\n`;
  if (dns.options?.length) s += `options ${dns.options.join(' ')}\n`;
  if (dns.domain) s += `domain ${dns.domain}\n`;
  return s;
}
