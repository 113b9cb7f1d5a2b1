/**
 * The pod's network namespace. `--net=host` keeps the host's; `--net=none` gives the pod a new
 * one with only loopback up (the init creates it); anything else needs a network namespace set
 * up by CNI. That is not implemented yet: until it is, such a pod runs only when a namespace was
 * prepared for it and named in `<pod>/netns`. The CNI setup will slot in at
 * {@link planNetwork}: create the namespace, run the plugins, write `netns` and
 * `net-info.json`, and return a `join` plan.
 */
import { existsSync, readFileSync } from 'node:fs';
import { netnsPath } from '@rktnetes/common';
import { userError } from '@rktnetes/errors';
import { type NetEntry, netIsHost, netIsNone } from '@rktnetes/stage1-abi';
import { MNT_DETACH, type Sys } from '@rktnetes/sys';

/** How the init sets up the pod's network namespace. */
export type NetworkPlan = { mode: 'host' } | { mode: 'none' } | { mode: 'join'; path: string };

/**
 * Decides the pod's network namespace from `--net`:
 * - `host` (or no `--net` at all): the host's namespace;
 * - only `none`: a new namespace with loopback;
 * - otherwise: the namespace named in `<pod>/netns` when it exists, else the error
 *   `stage1.net.unsupported` (CNI networking is not implemented yet).
 */
export function planNetwork(pod: string, nets: readonly NetEntry[] | undefined): NetworkPlan {
  if (netIsHost(nets)) return { mode: 'host' };
  if (netIsNone(nets)) {
    if (nets!.length > 1) throw userError('stage1.net.invalid', `--net=none cannot be combined with other networks (${nets!.map((n) => n.name).join(',')})`);
    return { mode: 'none' };
  }
  const recorded = readNetnsFile(pod);
  if (recorded && existsSync(recorded)) return { mode: 'join', path: recorded };
  const names = (nets ?? []).map((n) => n.name).join(',');
  throw userError('stage1.net.unsupported', `network ${JSON.stringify(names)} is not implemented yet in stage1-coreos, use --net=host or --net=none`, {
    details: { nets: names },
  });
}

/** The namespace path recorded in `<pod>/netns`, if any. */
export function readNetnsFile(pod: string): string | undefined {
  try {
    const text = readFileSync(netnsPath(pod), 'utf8').trim();
    return text === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

/**
 * gc's part: a network namespace recorded in `<pod>/netns` that is bound inside the pod
 * directory is unmounted (namespaces elsewhere belong to whoever created them). Idempotent.
 */
export function releaseNetwork(pod: string, sys: Pick<Sys, 'umount2'>): void {
  const path = readNetnsFile(pod);
  if (!path || !path.startsWith(`${pod}/`)) return;
  try {
    sys.umount2(path, MNT_DETACH);
  } catch {
    // not mounted (any more)
  }
}
