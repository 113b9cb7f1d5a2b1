/**
 * The pod's network namespace, as `--net` asks: `host` (or no `--net` at all) keeps the host's;
 * `none` gives the pod a new one with only loopback up (the init creates it); anything else
 * (`default`, `default-restricted`, `all`, configured networks) is set up with CNI here, before
 * the init is exec'd, and the init joins the namespace (`@rktnetes/pod-net` has the details).
 */
import { userError } from '@rktnetes/errors';
import type { ExposedPort, Port } from '@rktnetes/schema';
import { type NetEntry, type RunArgs, netIsHost, netIsNone } from '@rktnetes/stage1-abi';
import type { Sys } from '@rktnetes/sys';
import {
  type AsyncCommandRunner,
  type CommandRunner,
  type PodNetwork,
  type PodNetworkContext,
  type PodNetworkOptions,
  type PodNetworkRequest,
  forwardedPorts,
  podNetworkContext,
  readNetnsFile,
  setupPodNetwork,
  startPodNetwork,
  teardownPodNetwork,
} from '@rktnetes/pod-net';

export { readNetnsFile };

/**
 * How the init sets up the pod's network namespace. A joined namespace carries `hostIP`, the
 * host's address on the forwarding network (its gateway), when the plugin reported one.
 */
export type NetworkPlan = { mode: 'host' } | { mode: 'none' } | { mode: 'join'; path: string; hostIP?: string };

/** Which kind of networking a `--net` list means. */
export type NetworkMode = 'host' | 'none' | 'cni';

/**
 * Classifies `--net`: `host` when it names `host` or is absent/empty (rkt: no `--net` at all
 * means host networking; stage0 always sends `default`), `none` for `none` alone, `cni`
 * otherwise. Errors (user): `stage1.net.invalid` when `none` is combined with other networks.
 */
export function networkMode(nets: readonly NetEntry[] | undefined): NetworkMode {
  if (netIsHost(nets)) return 'host';
  if (netIsNone(nets)) {
    if (nets!.length > 1) throw userError('stage1.net.invalid', `--net=none cannot be combined with other networks (${nets!.map((n) => n.name).join(',')})`);
    return 'none';
  }
  return 'cni';
}

/** What {@link planNetwork} needs. */
export interface NetworkOptions {
  pod: string;
  uuid: string;
  /** host path of the stage1 root */
  stage1Root: string;
  /** the run flags that shape networking */
  args: Pick<RunArgs, 'net' | 'localConfig' | 'dnsConfMode' | 'debug'>;
  /** the pod manifest's exposed ports */
  exposedPorts?: readonly ExposedPort[];
  /** the apps' ports, to resolve exposed ports by name */
  apps: ReadonlyArray<{ ports?: readonly Port[] }>;
  /** the pod lock: marked close-on-exec while plugins run, so none of them holds the pod */
  lockFd?: number;
  sys: Pick<Sys, 'mount' | 'umount2' | 'setCloexec'>;
  env: NodeJS.ProcessEnv;
  warn(message: string): void;
  debug(message: string): void;
  /** runs helpers (default: synchronously, for real) */
  run?: CommandRunner;
}

/** What {@link planNetwork} and {@link startNetwork} share: a plan without CNI, or the setup to make. */
function networkSetup(o: NetworkOptions): { plan: NetworkPlan } | { ctx: PodNetworkContext; req: PodNetworkRequest } {
  const { net, localConfig, dnsConfMode, debug } = o.args;
  const mode = networkMode(net);
  const ports = forwardedPorts(o.exposedPorts, o.apps);
  if (mode !== 'cni') {
    if (ports.length > 0) throw userError('stage1.net.port', `ports cannot be forwarded with '${mode}' networking (--port needs a contained network such as --net=default)`);
    return { plan: { mode } };
  }
  if (o.lockFd !== undefined) o.sys.setCloexec(o.lockFd, true);
  const ctx = podNetworkContext({ ...o, ...(localConfig !== undefined ? { localConfig } : {}), debugEnabled: debug });
  return { ctx, req: { nets: net ?? [], ports, cniDns: (dnsConfMode?.resolv ?? 'default') === 'default' } };
}

function joinPlan(pn: PodNetwork, debug: (m: string) => void): NetworkPlan {
  debug(`networks: ${pn.nets.map((n) => `${n.netName}:${n.ifName}=${n.ip || '-'}`).join(' ') || '(loopback only)'}`);
  return { mode: 'join', path: pn.netns, ...(pn.hostIP ? { hostIP: pn.hostIP } : {}) };
}

/**
 * Decides and, for CNI networks, sets up the pod's network; returns what the init must do.
 * Ports may only be forwarded into a pod's own network. Errors: `stage1.net.invalid`,
 * `stage1.net.port` (user), and those of {@link setupPodNetwork}.
 */
export function planNetwork(o: NetworkOptions): NetworkPlan {
  const s = networkSetup(o);
  return 'plan' in s ? s.plan : joinPlan(setupPodNetwork(s.ctx, s.req), o.debug);
}

/**
 * {@link planNetwork} with the CNI plugins running in the background (pod-net's
 * `startPodNetwork`): what fails before a plugin starts (`--net` and `--port` checks, unknown
 * networks or plugins, the namespace) is thrown before it returns, and nothing of the network
 * exists then; the plugins' own errors reject the promise, after the network's cleanup. The
 * caller must stay in its mount namespace until the promise settles.
 */
export function startNetwork(o: NetworkOptions & { runAsync?: AsyncCommandRunner }): Promise<NetworkPlan> {
  const s = networkSetup(o);
  if ('plan' in s) return Promise.resolve(s.plan);
  return startPodNetwork(s.ctx, s.req, o.runAsync).then((pn) => joinPlan(pn, o.debug));
}

/** What {@link releaseNetwork} needs: gc's surroundings (pod-net's options). */
export type ReleaseOptions = PodNetworkOptions;

/**
 * gc's part: removes the pod's port forwarding, runs DEL for every network recorded in
 * `net-info.json` and removes the network namespace recorded in `<pod>/netns` (when this stage1
 * made it). Works from the pod's files alone, after a crash at any point of the setup, and is
 * idempotent. Returns what could not be cleaned up (never throws).
 */
export function releaseNetwork(o: ReleaseOptions): string[] {
  return teardownPodNetwork(podNetworkContext(o));
}
