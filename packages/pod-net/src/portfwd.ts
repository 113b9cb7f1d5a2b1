/**
 * Port forwarding (`rkt run --port=NAME:[HOSTIP:]HOSTPORT`): host ports DNATed to the pod's
 * address on the forwarding network, with rkt's two per-pod nat chains
 * `RKT-PFWD-DNAT-<uuid[0:8]>` and `RKT-PFWD-SNAT-<uuid[0:8]>`:
 *
 * ```
 * -I PREROUTING 1 -m addrtype --dst-type LOCAL -j RKT-PFWD-DNAT-x    from outside and from pods
 * -I OUTPUT 1 -m addrtype --dst-type LOCAL -j RKT-PFWD-DNAT-x        from the host itself
 * -I POSTROUTING 1 -j RKT-PFWD-SNAT-x
 * -A RKT-PFWD-DNAT-x [-d HOSTIP] -p tcp --dport HOSTPORT -j DNAT --to-destination POD:PORT
 * -A RKT-PFWD-SNAT-x -s 127.0.0.1 -d POD -p tcp --dport PORT -j MASQUERADE   from loopback
 * -A RKT-PFWD-SNAT-x -s POD -d POD -p tcp --dport PORT -j MASQUERADE         the pod itself
 * ```
 *
 * Loopback connections also need `route_localnet` on the host interfaces that carry the
 * network's gateway address, or the kernel drops packets from 127.0.0.1 leaving them. The jump
 * rules come first in their chains so that a network's own masquerading (which accepts traffic
 * inside its subnet unchanged) does not shadow the hairpin rule. IPv4 only, as in rkt.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { hasCode, systemError, userError } from '@rktnetes/errors';
import type { ExposedPort, Port } from '@rktnetes/schema';
import { type CommandRunner, failureText, findTool } from './exec';

/** A host port forwarded to a pod port. */
export interface ForwardedPort {
  /** the port's name (`--port=NAME:...`) */
  name: string;
  protocol: 'tcp' | 'udp';
  podPort: number;
  hostPort: number;
  /** the host address it listens on; `0.0.0.0` for every address */
  hostIP: string;
}

const ANY = '0.0.0.0';

/**
 * rkt's ForwardedPorts: each exposed port of the pod manifest matched with its `podPort` or with
 * the app port of the same name. Errors (user) `stage1.net.port`: a name no app (or several
 * apps) define, a protocol other than tcp/udp, two forwards of the same host port and protocol
 * on overlapping addresses.
 */
export function forwardedPorts(exposed: readonly ExposedPort[] | undefined, apps: ReadonlyArray<{ ports?: readonly Port[] }>): ForwardedPort[] {
  const out: ForwardedPort[] = [];
  for (const ep of exposed ?? []) {
    let port = ep.podPort;
    if (!port) {
      const found = apps.flatMap((a) => (a.ports ?? []).filter((p) => p.name === ep.name));
      if (found.length > 1) throw userError('stage1.net.port', `port name ${JSON.stringify(ep.name)} is defined by several apps`);
      port = found[0];
    }
    if (!port) throw userError('stage1.net.port', `port name ${JSON.stringify(ep.name)} could not be found in any app`);
    const protocol = port.protocol.toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp') throw userError('stage1.net.port', `port ${JSON.stringify(ep.name)}: protocol ${JSON.stringify(port.protocol)} cannot be forwarded (tcp or udp)`);
    const hostIP = ep.hostIP && ep.hostIP !== '' ? ep.hostIP : ANY;
    if (!isIPv4(hostIP)) throw userError('stage1.net.port', `port ${JSON.stringify(ep.name)}: host address ${hostIP} is not IPv4`);
    const fp: ForwardedPort = { name: ep.name, protocol, podPort: port.port, hostPort: ep.hostPort, hostIP };
    const clash = out.find((o) => o.protocol === fp.protocol && o.hostPort === fp.hostPort && (o.hostIP === ANY || fp.hostIP === ANY || o.hostIP === fp.hostIP));
    if (clash) {
      throw userError('stage1.net.port', `port ${fp.protocol}-${fp.hostIP}:${fp.hostPort} already mapped to pod port ${clash.podPort}`);
    }
    out.push(fp);
  }
  return out;
}

/** The names of a pod's two port forwarding chains (rkt's: the uuid's first 8 characters). */
export function portFwdChains(uuid: string): { dnat: string; snat: string } {
  const id = uuid.slice(0, 8);
  return { dnat: `RKT-PFWD-DNAT-${id}`, snat: `RKT-PFWD-SNAT-${id}` };
}

const comment = (uuid: string) => `-m comment --comment "rkt pod ${uuid}"`;

/** The `iptables-restore --noflush` script that sets up a pod's forwarded ports (see the module doc). */
export function portFwdScript(uuid: string, ports: readonly ForwardedPort[], podIP: string): string {
  const { dnat, snat } = portFwdChains(uuid);
  const c = comment(uuid);
  const lines = ['*nat', `:${dnat} - [0:0]`, `:${snat} - [0:0]`];
  for (const p of ports) {
    const dst = p.hostIP === ANY ? '' : `-d ${p.hostIP}/32 `;
    lines.push(`-A ${dnat} ${dst}-p ${p.protocol} -m ${p.protocol} --dport ${p.hostPort} ${c} -j DNAT --to-destination ${podIP}:${p.podPort}`);
    lines.push(`-A ${snat} -s 127.0.0.1/32 -d ${podIP}/32 -p ${p.protocol} -m ${p.protocol} --dport ${p.podPort} ${c} -j MASQUERADE`);
    lines.push(`-A ${snat} -s ${podIP}/32 -d ${podIP}/32 -p ${p.protocol} -m ${p.protocol} --dport ${p.podPort} ${c} -j MASQUERADE`);
  }
  lines.push(`-I PREROUTING 1 -m addrtype --dst-type LOCAL ${c} -j ${dnat}`);
  lines.push(`-I OUTPUT 1 -m addrtype --dst-type LOCAL ${c} -j ${dnat}`);
  lines.push(`-I POSTROUTING 1 ${c} -j ${snat}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/**
 * The `iptables-restore --noflush` script that removes a pod's chains and every rule jumping to
 * them, given the output of `iptables -t nat -S`; undefined when there is nothing to remove.
 */
export function portFwdTeardownScript(uuid: string, natRules: string): string | undefined {
  const { dnat, snat } = portFwdChains(uuid);
  const ours = new Set([dnat, snat]);
  const chains = new Set<string>();
  const deletes: string[] = [];
  for (const line of natRules.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] === '-N' && words[1] && ours.has(words[1])) chains.add(words[1]);
    if (words[0] !== '-A' || !words[1] || ours.has(words[1])) continue;
    const j = words.indexOf('-j');
    const target = j >= 0 ? words[j + 1] : undefined;
    if (target && ours.has(target)) deletes.push(`-D${line.trim().slice(2)}`);
  }
  if (chains.size === 0 && deletes.length === 0) return undefined;
  const lines = ['*nat', ...[...chains].map((ch) => `:${ch} - [0:0]`), ...deletes, ...[...chains].map((ch) => `-X ${ch}`), 'COMMIT', ''];
  return lines.join('\n');
}

function restore(script: string, run: CommandRunner, what: string): void {
  // concurrent nf_tables transactions can conflict; a retry sees the new state
  let last = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = run(findTool('iptables-restore'), ['-w', '--noflush'], { input: script });
    if (r.status === 0 && !r.error) return;
    last = failureText(r);
  }
  throw systemError('stage1.net.iptables', `${what}: iptables-restore failed: ${last}`, { details: { script } });
}

/** Installs a pod's port forwarding rules. Errors: system error `stage1.net.iptables`. */
export function setupPortForwarding(uuid: string, ports: readonly ForwardedPort[], podIP: string, run: CommandRunner): void {
  if (ports.length === 0) return;
  restore(portFwdScript(uuid, ports, podIP), run, `forwarding ports of pod ${uuid}`);
}

/**
 * Removes a pod's port forwarding chains and the rules jumping to them, whatever else is in the
 * nat table. Idempotent; nothing to do without iptables. Errors: system error
 * `stage1.net.iptables`.
 */
export function teardownPortForwarding(uuid: string, run: CommandRunner): void {
  let iptables: string;
  try {
    iptables = findTool('iptables');
  } catch (e) {
    if (hasCode(e, 'stage1.net.tool-missing')) return; // then nothing was forwarded either
    throw e;
  }
  const list = run(iptables, ['-w', '-t', 'nat', '-S']);
  if (list.status !== 0 || list.error) throw systemError('stage1.net.iptables', `cannot list the nat table: ${failureText(list)}`);
  const script = portFwdTeardownScript(uuid, list.stdout);
  if (script) restore(script, run, `removing the forwarded ports of pod ${uuid}`);
}

/** The host interfaces holding an IPv4 address, from `ip -j -4 addr show`. */
export function interfacesWithAddress(ipJson: string, address: string): string[] {
  let links: unknown;
  try {
    links = JSON.parse(ipJson);
  } catch {
    return [];
  }
  if (!Array.isArray(links)) return [];
  const out: string[] = [];
  for (const l of links as Array<{ ifname?: unknown; addr_info?: Array<{ local?: unknown }> }>) {
    if (typeof l.ifname !== 'string' || l.ifname === 'lo') continue;
    if ((l.addr_info ?? []).some((a) => a.local === address)) out.push(l.ifname);
  }
  return out;
}

/**
 * Sets `net.ipv4.conf.<if>.route_localnet` on every interface holding `hostIP` (the forwarding
 * network's gateway on the host), so that connections to 127.0.0.1:HOSTPORT can be routed to
 * the pod. Returns the interfaces. Errors: system error `stage1.net.route-localnet` when no
 * interface holds the address or the sysctl cannot be written.
 */
export function enableRouteLocalnet(hostIP: string, run: CommandRunner, procSys = '/proc/sys'): string[] {
  const r = run(findTool('ip'), ['-j', '-4', 'addr', 'show']);
  const ifs = r.status === 0 ? interfacesWithAddress(r.stdout, hostIP) : [];
  if (ifs.length === 0) throw systemError('stage1.net.route-localnet', `no host interface has the address ${hostIP}: ${r.status === 0 ? 'not found' : failureText(r)}`);
  for (const name of ifs) {
    const file = `${procSys}/net/ipv4/conf/${name}/route_localnet`;
    try {
      if (readFileSync(file, 'utf8').trim() !== '1') writeFileSync(file, '1');
    } catch (e) {
      throw systemError('stage1.net.route-localnet', `cannot enable route_localnet on ${name}`, { cause: e });
    }
  }
  return ifs;
}
