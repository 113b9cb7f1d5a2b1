/**
 * ContainerStats, ListContainerStats, PodSandboxStats and ListPodSandboxStats: CPU and memory
 * from the cgroups stage1-coreos makes for the pod and each app (see cgroups.ts), the writable
 * layer from the app's overlay upper directory in the pod, process count from the pod cgroup,
 * network counters from `/proc/<pod PID 1>/net/dev` (the pod's network namespace).
 *
 * CPU rate (`usage_nano_cores`) needs two samples: each cgroup's last samples are kept, and the
 * rate is taken over at least {@link RATE_WINDOW_NS} when such a sample exists, else over what
 * there is; the first read of a cgroup has none. Directory walks of writable layers are cached
 * for {@link StatsOptions.fsMaxAgeMs}.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { appRootfsPath, appTreeStoreIdPath, overlayPreparedPath, overlayUpperDir } from '@rktnetes/common';
import type { PodRecord } from '../pods/view';
import { PodCgroupLocator, childSet, parseNetDev, readCpuUsageNs, readMemory, readProcessCount, type CgroupSet, type LocatorOptions } from './cgroups';
import { readPod, type CriContext } from './context';
import type { ContainerMetadata, PodSandboxMetadata, StringMap } from './messages';
import { matchesLabels } from './sandboxes';
import { nowNs, type ContainerRecord, type SandboxRecord } from './state';

/** The smallest window a CPU rate is taken over when a sample that old exists, ns. */
export const RATE_WINDOW_NS = 1_000_000_000n;

/** `UInt64Value` of a figure, null when it is unknown. */
export type U64 = { value: string } | null;
const u64 = (v: bigint | undefined): U64 => (v === undefined ? null : { value: v.toString() });

export interface CpuUsageMessage {
  timestamp: string;
  usage_core_nano_seconds: U64;
  usage_nano_cores: U64;
}

export interface MemoryUsageMessage {
  timestamp: string;
  working_set_bytes: U64;
  available_bytes: U64;
  usage_bytes: U64;
  rss_bytes: U64;
  page_faults: U64;
  major_page_faults: U64;
}

export interface FilesystemUsageMessage {
  timestamp: string;
  fs_id: { mountpoint: string };
  used_bytes: U64;
  inodes_used: U64;
}

export interface SwapUsageMessage {
  timestamp: string;
  swap_available_bytes: U64;
  swap_usage_bytes: U64;
}

export interface ContainerStatsMessage {
  attributes: { id: string; metadata: ContainerMetadata; labels: StringMap; annotations: StringMap };
  cpu: CpuUsageMessage;
  memory: MemoryUsageMessage;
  writable_layer: FilesystemUsageMessage | null;
  swap: SwapUsageMessage | null;
}

export interface NetworkInterfaceUsageMessage {
  name: string;
  rx_bytes: U64;
  rx_errors: U64;
  tx_bytes: U64;
  tx_errors: U64;
}

export interface PodSandboxStatsMessage {
  attributes: { id: string; metadata: PodSandboxMetadata; labels: StringMap; annotations: StringMap };
  linux: {
    cpu: CpuUsageMessage;
    memory: MemoryUsageMessage;
    network: { timestamp: string; default_interface: NetworkInterfaceUsageMessage | null; interfaces: NetworkInterfaceUsageMessage[] } | null;
    process: { timestamp: string; process_count: U64 };
    containers: ContainerStatsMessage[];
  };
  windows: null;
}

/** The filter of ListContainerStats. */
export interface ContainerStatsFilter {
  id?: string;
  pod_sandbox_id?: string;
  label_selector?: StringMap;
}

/** The filter of ListPodSandboxStats. */
export interface PodSandboxStatsFilter {
  id?: string;
  label_selector?: StringMap;
}

/** Choices of {@link CriStats}. */
export interface StatsOptions extends LocatorOptions {
  /** how long a writable layer's measured size is reused, ms (default 5000) */
  fsMaxAgeMs?: number;
  /** the locator to share (default: one of its own) */
  locator?: PodCgroupLocator;
}

interface CpuSample {
  ts: bigint;
  usage: bigint;
}

/**
 * CPU rates from successive samples per key: the rate against the newest kept sample at least
 * {@link RATE_WINDOW_NS} older, else against the oldest kept one. A sample is kept when it is
 * that much newer than the newest one.
 */
export class CpuRates {
  private readonly samples = new Map<string, { older: CpuSample | undefined; newer: CpuSample; seen: number }>();

  constructor(private readonly window = RATE_WINDOW_NS) {}

  /** Records a sample and returns the rate in ns of CPU per s (nano cores), undefined without an earlier sample. */
  rate(key: string, s: CpuSample, now = Date.now()): bigint | undefined {
    const kept = this.samples.get(key);
    if (!kept) {
      this.samples.set(key, { older: undefined, newer: s, seen: now });
      return undefined;
    }
    kept.seen = now;
    const base = s.ts - kept.newer.ts >= this.window ? kept.newer : (kept.older ?? kept.newer);
    if (s.ts - kept.newer.ts >= this.window) {
      kept.older = kept.newer;
      kept.newer = s;
    }
    // a counter that went back is a new cgroup of the same name
    if (s.usage < base.usage) {
      this.samples.set(key, { older: undefined, newer: s, seen: now });
      return undefined;
    }
    const dt = s.ts - base.ts;
    return dt > 0n ? ((s.usage - base.usage) * 1_000_000_000n) / dt : undefined;
  }

  /** Forgets keys not sampled for `maxAgeMs`. */
  prune(maxAgeMs: number, now = Date.now()): void {
    for (const [k, v] of this.samples) if (now - v.seen > maxAgeMs) this.samples.delete(k);
  }
}

/** Bytes (allocated blocks) and inodes below a directory, hard links counted once; undefined when it does not exist. */
export async function dirUsage(root: string): Promise<{ bytes: bigint; inodes: bigint } | undefined> {
  try {
    await fsp.lstat(root);
  } catch {
    return undefined;
  }
  let bytes = 0n;
  let inodes = 0n;
  const seen = new Set<bigint>();
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      try {
        const st = await fsp.lstat(p, { bigint: true });
        if (st.nlink > 1n && !st.isDirectory()) {
          if (seen.has(st.ino)) continue;
          seen.add(st.ino);
        }
        inodes++;
        bytes += st.blocks * 512n;
        if (e.isDirectory()) await walk(p);
      } catch {
        // vanished while walking
      }
    }
  };
  await walk(root);
  return { bytes, inodes };
}

/** The directory holding what an app wrote to its root: the overlay upper dir, else (no overlay) the rootfs itself. */
export function writableLayerDir(podPath: string, app: string): string | undefined {
  if (!existsSync(overlayPreparedPath(podPath))) return appRootfsPath(podPath, app);
  try {
    const id = readFileSync(appTreeStoreIdPath(podPath, app), 'utf8').trim();
    return id ? overlayUpperDir(podPath, id, app) : undefined;
  } catch {
    return undefined;
  }
}

/** Collects the stats; one per server, as it keeps CPU samples and measured sizes between calls. */
export class CriStats {
  private readonly cgroups: PodCgroupLocator;
  private readonly cpu = new CpuRates();
  private readonly fs = new Map<string, { at: number; value: Promise<{ bytes: bigint; inodes: bigint } | undefined> }>();
  private readonly fsMaxAgeMs: number;
  private readonly procRoot: string;
  private lastPrune = Date.now();

  constructor(
    private readonly ctx: CriContext,
    private readonly opts: StatsOptions = {},
  ) {
    this.fsMaxAgeMs = opts.fsMaxAgeMs ?? 5000;
    this.procRoot = opts.procRoot ?? '/proc';
    this.cgroups = opts.locator ?? new PodCgroupLocator(opts);
  }

  /** The cgroups of a running pod (see {@link PodCgroupLocator.ofPod}). */
  podCgroups(pod: PodRecord | undefined): CgroupSet | undefined {
    return this.cgroups.ofPod(pod);
  }

  private housekeeping(): void {
    const now = Date.now();
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    this.cpu.prune(10 * 60_000, now);
    for (const [k, v] of this.fs) if (now - v.at > this.fsMaxAgeMs * 4) this.fs.delete(k);
  }

  private cpuMessage(key: string, set: CgroupSet | undefined): CpuUsageMessage {
    const ts = nowNs();
    let usage: bigint | undefined;
    try {
      usage = set ? readCpuUsageNs(set) : undefined;
    } catch {
      usage = undefined;
    }
    const rate = usage === undefined ? undefined : this.cpu.rate(key, { ts: BigInt(ts), usage });
    return { timestamp: ts, usage_core_nano_seconds: u64(usage), usage_nano_cores: u64(rate) };
  }

  private memoryMessages(set: CgroupSet | undefined): { memory: MemoryUsageMessage; swap: SwapUsageMessage | null } {
    const ts = nowNs();
    let m;
    try {
      m = set ? readMemory(set) : undefined;
    } catch {
      m = undefined;
    }
    const memory: MemoryUsageMessage = {
      timestamp: ts,
      working_set_bytes: u64(m?.workingSet),
      available_bytes: u64(m?.limit === undefined ? undefined : m.limit > m.workingSet ? m.limit - m.workingSet : 0n),
      usage_bytes: u64(m?.usage),
      rss_bytes: u64(m?.rss),
      page_faults: u64(m?.pageFaults),
      major_page_faults: u64(m?.majorPageFaults),
    };
    const swap =
      m?.swap === undefined
        ? null
        : { timestamp: ts, swap_usage_bytes: u64(m.swap), swap_available_bytes: u64(m.swapLimit === undefined ? undefined : m.swapLimit > m.swap ? m.swapLimit - m.swap : 0n) };
    return { memory, swap };
  }

  private async writableLayer(pod: PodRecord | undefined, app: string): Promise<FilesystemUsageMessage | null> {
    if (!pod) return null;
    const dir = writableLayerDir(pod.path, app);
    if (dir === undefined) return null;
    const now = Date.now();
    let cached = this.fs.get(dir);
    if (!cached || now - cached.at > this.fsMaxAgeMs) {
      cached = { at: now, value: dirUsage(dir) };
      this.fs.set(dir, cached);
    }
    const usage = await cached.value;
    if (!usage) return null;
    return {
      timestamp: (BigInt(cached.at) * 1_000_000n).toString(),
      fs_id: { mountpoint: join(this.ctx.rkt.opts.dataDir, 'pods') },
      used_bytes: u64(usage.bytes),
      inodes_used: u64(usage.inodes),
    };
  }

  /** The stats of one container given its pod (read once by the caller) and the pod's cgroups. */
  async ofContainer(rec: ContainerRecord, pod: PodRecord | undefined, podSet: CgroupSet | undefined): Promise<ContainerStatsMessage> {
    // an app no longer in its pod (removed behind the server's back) has neither cgroups nor a layer
    const inPod = pod?.apps.some((a) => a.name === rec.appName) ? pod : undefined;
    const set = inPod && podSet ? childSet(podSet, rec.appName) : undefined;
    const cpu = this.cpuMessage(`container/${rec.id}`, set);
    const { memory, swap } = this.memoryMessages(set);
    return {
      attributes: { id: rec.id, metadata: rec.metadata, labels: rec.labels, annotations: rec.annotations },
      cpu,
      memory,
      writable_layer: await this.writableLayer(inPod, rec.appName),
      swap,
    };
  }

  /** ContainerStats: NOT_FOUND for an unknown container. */
  async containerStats(id: string): Promise<{ stats: ContainerStatsMessage }> {
    const rec = this.ctx.state.container(id);
    const pod = readPod(this.ctx, rec.podUuid);
    return { stats: await this.ofContainer(rec, pod, this.podCgroups(pod)) };
  }

  /** ListContainerStats: every container matching the filter (id and sandbox id prefixes, labels), oldest first. */
  async listContainerStats(filter: ContainerStatsFilter | null): Promise<{ stats: ContainerStatsMessage[] }> {
    this.housekeeping();
    const recs = this.ctx.state
      .listContainers()
      .filter((r) => (!filter?.id || r.id.startsWith(filter.id)) && (!filter?.pod_sandbox_id || r.sandboxId.startsWith(filter.pod_sandbox_id)) && matchesLabels(r.labels, filter?.label_selector))
      .sort((a, b) => (BigInt(a.createdAt) < BigInt(b.createdAt) ? -1 : 1));
    const pods = new Map<string, { pod: PodRecord | undefined; set: CgroupSet | undefined }>();
    const podOf = (uuid: string) => {
      let p = pods.get(uuid);
      if (!p) {
        const pod = readPod(this.ctx, uuid);
        p = { pod, set: this.podCgroups(pod) };
        pods.set(uuid, p);
      }
      return p;
    };
    const stats = await Promise.all(
      recs.map((r) => {
        const { pod, set } = podOf(r.podUuid);
        return this.ofContainer(r, pod, set);
      }),
    );
    return { stats };
  }

  private networkMessage(rec: SandboxRecord, pod: PodRecord | undefined): PodSandboxStatsMessage['linux']['network'] {
    if (rec.hostNetwork || pod?.state !== 'running' || pod.pid === undefined || pod.pidKind !== 'pid') return null;
    const ts = nowNs();
    let counters;
    try {
      counters = parseNetDev(readFileSync(join(this.procRoot, String(pod.pid), 'net', 'dev'), 'utf8')).filter((c) => c.name !== 'lo');
    } catch {
      return null;
    }
    const msg = (c: (typeof counters)[number]): NetworkInterfaceUsageMessage => ({ name: c.name, rx_bytes: u64(c.rxBytes), rx_errors: u64(c.rxErrors), tx_bytes: u64(c.txBytes), tx_errors: u64(c.txErrors) });
    const wanted = pod.networks.find((n) => n.ifName)?.ifName;
    const def = counters.find((c) => c.name === wanted) ?? counters.find((c) => c.name === 'eth0') ?? counters[0];
    return { timestamp: ts, default_interface: def ? msg(def) : null, interfaces: counters.map(msg) };
  }

  /** The stats of one sandbox: its pod's cgroup, network and processes, and its containers'. */
  async ofSandbox(rec: SandboxRecord): Promise<PodSandboxStatsMessage> {
    const pod = rec.podUuid ? readPod(this.ctx, rec.podUuid) : undefined;
    const set = this.podCgroups(pod);
    const cpu = this.cpuMessage(`sandbox/${rec.id}`, set);
    const { memory } = this.memoryMessages(set);
    let count: bigint | undefined;
    try {
      count = set ? readProcessCount(set) : undefined;
    } catch {
      count = undefined;
    }
    const containers = await Promise.all(
      this.ctx.state
        .containersOf(rec.id)
        .sort((a, b) => (BigInt(a.createdAt) < BigInt(b.createdAt) ? -1 : 1))
        .map((c) => this.ofContainer(c, c.podUuid === rec.podUuid ? pod : readPod(this.ctx, c.podUuid), c.podUuid === rec.podUuid ? set : undefined)),
    );
    return {
      attributes: { id: rec.id, metadata: rec.metadata, labels: rec.labels, annotations: rec.annotations },
      linux: { cpu, memory, network: this.networkMessage(rec, pod), process: { timestamp: nowNs(), process_count: u64(count) }, containers },
      windows: null,
    };
  }

  /** PodSandboxStats: NOT_FOUND for an unknown sandbox. */
  async podSandboxStats(id: string): Promise<{ stats: PodSandboxStatsMessage }> {
    return { stats: await this.ofSandbox(this.ctx.state.sandbox(id)) };
  }

  /** ListPodSandboxStats: every sandbox matching the filter (id prefix, labels), oldest first. */
  async listPodSandboxStats(filter: PodSandboxStatsFilter | null): Promise<{ stats: PodSandboxStatsMessage[] }> {
    this.housekeeping();
    const recs = this.ctx.state
      .listSandboxes()
      .filter((r) => (!filter?.id || r.id.startsWith(filter.id)) && matchesLabels(r.labels, filter?.label_selector))
      .sort((a, b) => (BigInt(a.createdAt) < BigInt(b.createdAt) ? -1 : 1));
    return { stats: await Promise.all(recs.map((r) => this.ofSandbox(r))) };
  }
}
