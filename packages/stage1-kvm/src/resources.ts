/**
 * The size of a pod's VM from its memory and CPU isolators.
 */
import { availableParallelism } from 'node:os';
import { IsolatorNames, findIsolator, type Isolator } from '@rktnetes/schema';

/** Memory the guest kernel and init need besides the apps (MiB). */
export const GUEST_BASE_MEMORY_MIB = 128;
/** The smallest VM (MiB). */
export const MIN_MEMORY_MIB = 128;

/** A VM's size. */
export interface VmSize {
  memoryMiB: number;
  cpus: number;
}

function limitOf(isolators: readonly Isolator[] | undefined, name: string): number | undefined {
  const iso = findIsolator(isolators, name);
  if (!iso || !('limit' in iso) || iso.limit === undefined) return undefined;
  return iso.limit;
}

/**
 * The VM's memory and vCPUs. A pod-level `resource/memory` (`resource/cpu`) limit is the
 * size of the whole pod; otherwise the apps' limits are added up. Memory: the apps' share plus
 * {@link GUEST_BASE_MEMORY_MIB}, at least {@link MIN_MEMORY_MIB}, rounded up to MiB. CPUs: the
 * millicores rounded up to whole vCPUs, at least 1, at most `hostCpus`.
 */
export function vmSize(podIsolators: readonly Isolator[] | undefined, appIsolators: ReadonlyArray<readonly Isolator[] | undefined>, hostCpus = availableParallelism()): VmSize {
  const sum = (name: string) => {
    const pod = limitOf(podIsolators, name);
    if (pod !== undefined) return pod;
    return appIsolators.reduce<number>((acc, list) => acc + (limitOf(list, name) ?? 0), 0);
  };
  const memBytes = sum(IsolatorNames.memory);
  const memoryMiB = Math.max(MIN_MEMORY_MIB, GUEST_BASE_MEMORY_MIB + Math.ceil(memBytes / (1024 * 1024)));
  const milli = sum(IsolatorNames.cpu);
  const cpus = Math.min(Math.max(1, hostCpus), Math.max(1, Math.ceil(milli / 1000)));
  return { memoryMiB, cpus };
}
