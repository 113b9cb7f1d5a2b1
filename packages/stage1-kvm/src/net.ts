/**
 * What `--net` means for a VM. The VM has its own kernel, so it can never share the host's
 * network namespace: `host` (and no `--net` at all) is refused. `none` gives the guest only
 * loopback. A configured network whose plugin is `bridge` gets a tap on that bridge (see
 * src/tap.ts); addresses come from the `IP=`/`GW=` arguments of `--net=<name>:IP=...` until
 * the CNI integration provides them. `default`, `default-restricted`, `all` and other plugin
 * types need that integration and are refused for now.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { userError } from '@rktnetes/errors';
import { parseCniConfig, type CniNetConfList } from '@rktnetes/schema';
import type { NetEntry } from '@rktnetes/stage1-abi';
import { macAddress, tapName, type TapDevice } from './tap';

/** The local configuration directory when `--local-config` is not given. */
export const DEFAULT_LOCAL_CONFIG = '/etc/rkt';
/** The CNI bridge plugin's default bridge name. */
export const DEFAULT_BRIDGE = 'cni0';

/** One network interface of the VM. */
export interface VmNic {
  network: string;
  tap: TapDevice;
  /** the guest's address, `a.b.c.d/prefix` */
  address?: string;
  gateway?: string;
}

const unsupported = (message: string, network: string) => userError('stage1-kvm.net.unsupported', message, { details: { network } });

/**
 * The network configurations in `<localConfig>/net.d` (`*.conf`, `*.conflist`, `*.json`), by
 * name; unreadable or invalid files are skipped, the first file (in name order) wins.
 */
export function loadNetworks(localConfig: string): Map<string, CniNetConfList> {
  const dir = join(localConfig, 'net.d');
  const out = new Map<string, CniNetConfList>();
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return out;
  }
  for (const n of names) {
    if (!/\.(conf|conflist|json)$/.test(n)) continue;
    try {
      const list = parseCniConfig(readFileSync(join(dir, n), 'utf8'));
      if (!out.has(list.name)) out.set(list.name, list);
    } catch {
      // not a network configuration
    }
  }
  return out;
}

function parseArgs(args: string | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of (args ?? '').split(';')) {
    const i = kv.indexOf('=');
    if (i > 0) m.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return m;
}

function prefixOf(subnet: unknown): string | undefined {
  return typeof subnet === 'string' && /\/\d+$/.test(subnet) ? subnet.slice(subnet.lastIndexOf('/') + 1) : undefined;
}

/**
 * The VM's network interfaces for a `--net` list.
 *
 * @throws RktError `stage1-kvm.net.unsupported` (user) for host networking and for what needs
 *   the CNI integration; `stage1-kvm.net.unknown` (user) for a network not configured in
 *   `<localConfig>/net.d`
 */
export function planNetworks(nets: readonly NetEntry[] | undefined, uuid: string, localConfig: string = DEFAULT_LOCAL_CONFIG): VmNic[] {
  if (!nets || nets.length === 0 || nets.some((n) => n.name === 'host')) {
    throw unsupported('stage1-kvm cannot use the host network: a VM has its own kernel; use --net=none or a bridge network', 'host');
  }
  if (nets.some((n) => n.name === 'none')) {
    if (nets.length > 1) throw unsupported('--net=none cannot be combined with other networks', 'none');
    return [];
  }
  const configured = loadNetworks(localConfig);
  return nets.map((n, index) => {
    if (n.name === 'default' || n.name === 'default-restricted' || n.name === 'all') {
      throw unsupported(`stage1-kvm does not implement --net=${n.name} yet (CNI networking for VMs is not wired); use --net=none or a bridge network from ${join(localConfig, 'net.d')}`, n.name);
    }
    const conf = configured.get(n.name);
    if (!conf) throw userError('stage1-kvm.net.unknown', `network ${JSON.stringify(n.name)} is not configured in ${join(localConfig, 'net.d')}`, { details: { network: n.name } });
    const bridgePlugin = conf.plugins.find((p) => p.type === 'bridge');
    if (!bridgePlugin) {
      throw unsupported(`stage1-kvm only attaches VMs to bridge networks for now; network ${n.name} uses ${conf.plugins.map((p) => p.type).join(', ')}`, n.name);
    }
    const args = parseArgs(n.args);
    const ip = args.get('IP');
    const prefix = prefixOf(bridgePlugin.ipam?.subnet) ?? prefixOf(bridgePlugin.ipam?.ranges?.[0]?.[0]?.subnet) ?? '24';
    const address = ip === undefined ? undefined : ip.includes('/') ? ip : `${ip}/${prefix}`;
    const gateway = args.get('GW') ?? (typeof bridgePlugin.ipam?.gateway === 'string' ? bridgePlugin.ipam.gateway : undefined);
    return {
      network: n.name,
      tap: { name: tapName(uuid, index), mac: macAddress(uuid, index), bridge: bridgePlugin.bridge ?? DEFAULT_BRIDGE },
      ...(address ? { address } : {}),
      ...(gateway ? { gateway } : {}),
    };
  });
}
