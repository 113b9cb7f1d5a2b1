/**
 * UpdateContainerResources and the `resources` of ContainerStatus. Limits are written straight
 * into the app's cgroups below the pod's (stage1-coreos creates them when the app is added, so a
 * created container can be updated too); what was asked is kept in the container record, merged
 * field by field (a zero or empty field leaves the value as it was, as containerd does), and
 * ContainerStatus reports it.
 *
 * Not applied: `oom_score_adj` (fixed when the process starts, as in containerd), hugepage limits,
 * `memory_swap_limit_in_bytes` (recorded, not written).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { childSet, controllerDir, writeCgroupFiles, type CgroupSet, type CgroupWrite, type PodCgroupLocator } from './cgroups';
import { containerKey, readPod, sandboxKey, type CriContext } from './context';
import { failedPrecondition, invalidArgument } from './grpc';
import type { ContainerRecord } from './state';

/** The Linux resources of a container as recorded and reported (LinuxContainerResources, int64 as text). */
export interface LinuxResources {
  cpu_period: string;
  cpu_quota: string;
  cpu_shares: string;
  memory_limit_in_bytes: string;
  oom_score_adj: string;
  cpuset_cpus: string;
  cpuset_mems: string;
  unified: Record<string, string>;
  memory_swap_limit_in_bytes: string;
}

/** The request's LinuxContainerResources, fields possibly missing. */
export type ResourcesRequest = Partial<Record<keyof Omit<LinuxResources, 'unified'>, string | number | null>> & { unified?: Record<string, string> | null };

const EMPTY: LinuxResources = {
  cpu_period: '0',
  cpu_quota: '0',
  cpu_shares: '0',
  memory_limit_in_bytes: '0',
  oom_score_adj: '0',
  cpuset_cpus: '',
  cpuset_mems: '',
  unified: {},
  memory_swap_limit_in_bytes: '0',
};

const INT_FIELDS = ['cpu_period', 'cpu_quota', 'cpu_shares', 'memory_limit_in_bytes', 'oom_score_adj', 'memory_swap_limit_in_bytes'] as const;

function intField(r: ResourcesRequest, k: (typeof INT_FIELDS)[number]): bigint {
  const v = r[k];
  if (v === undefined || v === null || v === '') return 0n;
  const text = String(v);
  if (!/^-?\d+$/.test(text)) throw invalidArgument(`resources.${k}: expected an integer, got ${JSON.stringify(v)}`);
  return BigInt(text);
}

/**
 * `base` with the request's non-zero, non-empty fields (unified keys merged). Throws
 * `cri.invalid-argument` for malformed numbers, negative limits, and unified keys that are not
 * cgroup file names.
 */
export function mergeResources(base: LinuxResources | undefined, r: ResourcesRequest | null | undefined): LinuxResources {
  const out: LinuxResources = { ...EMPTY, ...base, unified: { ...base?.unified } };
  if (!r) return out;
  for (const k of INT_FIELDS) {
    const n = intField(r, k);
    if (n === 0n) continue;
    if (n < 0n && k !== 'cpu_quota' && k !== 'oom_score_adj' && k !== 'memory_swap_limit_in_bytes') throw invalidArgument(`resources.${k} must not be negative, got ${n}`);
    out[k] = n.toString();
  }
  if (r.cpuset_cpus) out.cpuset_cpus = String(r.cpuset_cpus);
  if (r.cpuset_mems) out.cpuset_mems = String(r.cpuset_mems);
  for (const [k, v] of Object.entries(r.unified ?? {})) {
    if (!/^[a-z][a-z0-9_]*\.[a-z0-9_.]+$/.test(k)) throw invalidArgument(`resources.unified: ${JSON.stringify(k)} is not a cgroup file name`);
    out.unified[k] = String(v);
  }
  return out;
}

/** cpu-shares (2..262144) as a cgroup v2 weight (1..10000), the conversion runc and stage1-coreos use. */
export const sharesToWeight = (shares: bigint) => 1n + ((shares - 2n) * 9999n) / 262142n;

/**
 * The cgroup writes that apply the request's non-zero fields to an app's cgroups (`set`):
 * v1 `memory.limit_in_bytes`, `cpu.shares`, `cpu.cfs_period_us` then `cpu.cfs_quota_us`,
 * `cpuset.cpus`/`cpuset.mems`; v2 `memory.max`, `cpu.weight`, `cpu.max` (merged with the
 * current one, `currentCpuMax`), `cpuset.*`, and the `unified` files. A field whose controller
 * the host (or the pod's cgroup) lacks is FAILED_PRECONDITION; `unified` on a v1 host is
 * INVALID_ARGUMENT.
 */
export function resourceWrites(set: CgroupSet, r: ResourcesRequest, currentCpuMax: () => string = () => readCpuMax(set)): CgroupWrite[] {
  const m = mergeResources(undefined, r);
  const out: CgroupWrite[] = [];
  const need = (controller: string) => {
    const d = controllerDir(set, controller);
    if (!d) throw failedPrecondition(`the ${controller} cgroup controller is not available to the container`);
    return d;
  };
  const w = (dir: string, file: string, value: string | bigint) => out.push({ path: join(dir, file), value: String(value) });
  const mem = BigInt(m.memory_limit_in_bytes);
  if (mem > 0n) {
    const d = need('memory');
    w(d.dir, d.version === 1 ? 'memory.limit_in_bytes' : 'memory.max', mem);
  }
  const shares = BigInt(m.cpu_shares);
  const period = BigInt(m.cpu_period);
  const quota = BigInt(m.cpu_quota);
  if (shares > 0n || period > 0n || quota !== 0n) {
    const d = need('cpu');
    if (d.version === 1) {
      if (shares > 0n) w(d.dir, 'cpu.shares', shares);
      if (period > 0n) w(d.dir, 'cpu.cfs_period_us', period);
      if (quota !== 0n) w(d.dir, 'cpu.cfs_quota_us', quota < 0n ? -1n : quota);
    } else {
      if (shares > 0n) w(d.dir, 'cpu.weight', sharesToWeight(shares < 2n ? 2n : shares > 262144n ? 262144n : shares));
      if (period > 0n || quota !== 0n) {
        const [curMax = 'max', curPeriod = '100000'] = currentCpuMax().trim().split(/\s+/);
        w(d.dir, 'cpu.max', `${quota > 0n ? quota : quota < 0n ? 'max' : curMax} ${period > 0n ? period : curPeriod}`);
      }
    }
  }
  if (m.cpuset_cpus || m.cpuset_mems) {
    const d = need('cpuset');
    if (m.cpuset_cpus) w(d.dir, 'cpuset.cpus', m.cpuset_cpus);
    if (m.cpuset_mems) w(d.dir, 'cpuset.mems', m.cpuset_mems);
  }
  const unified = Object.entries(m.unified);
  if (unified.length) {
    if (!set.v2 || Object.keys(set.v1).some((c) => !c.startsWith('name='))) throw invalidArgument('resources.unified needs a cgroup v2 only host');
    for (const [k, v] of unified) w(set.v2.dir, k, v);
  }
  return out;
}

function readCpuMax(set: CgroupSet): string {
  const d = controllerDir(set, 'cpu');
  try {
    return d ? readFileSync(join(d.dir, 'cpu.max'), 'utf8') : '';
  } catch {
    return '';
  }
}

/** What a container record keeps of CreateContainer's resources (undefined when none were given). */
export function recordedResources(r: ResourcesRequest | null | undefined): LinuxResources | undefined {
  return r ? mergeResources(undefined, r) : undefined;
}

/** ContainerStatus.resources of a container: what it was created with and updated to; null for records without it. */
export function containerResources(rec: Pick<ContainerRecord, 'resources'>): { linux: LinuxResources; windows: null } | null {
  return rec.resources ? { linux: rec.resources, windows: null } : null;
}

/**
 * UpdateContainerResources: applies the Linux resources to the container's app cgroups and
 * records them. FAILED_PRECONDITION when the container has exited or its cgroups are not
 * there (pod not running); a request without `linux` changes nothing.
 */
export async function updateContainerResources(ctx: CriContext, cgroups: PodCgroupLocator, req: { container_id: string; linux: ResourcesRequest | null }): Promise<void> {
  const rec = ctx.state.container(req.container_id);
  if (!req.linux) return;
  const wanted = req.linux;
  mergeResources(undefined, wanted); // validates before anything is written
  await ctx.locks.shared(sandboxKey(rec.sandboxId), () =>
    ctx.locks.exclusive(containerKey(rec.id), async () => {
      const pod = readPod(ctx, rec.podUuid);
      // created or running (containers.ts' appStatus): the app is in the running pod and has not exited
      const app = pod?.apps.find((a) => a.name === rec.appName);
      if (pod?.state !== 'running' || !app || app.exitCode !== undefined) throw failedPrecondition(`container ${rec.id} is not created or running`);
      const set = cgroups.ofPod(pod);
      if (!set) throw failedPrecondition(`container ${rec.id}: the cgroups of its pod ${rec.podUuid} were not found`);
      writeCgroupFiles(resourceWrites(childSet(set, rec.appName), wanted));
      const current = ctx.state.findContainer(rec.id) ?? rec;
      const resources = mergeResources(current.resources, wanted);
      await ctx.state.putContainer({ ...current, resources, memoryLimit: Number(resources.memory_limit_in_bytes) });
    }),
  );
}
