/**
 * Working on many pods at once. Deleting or stopping a pod is mostly waiting for a stage1
 * entrypoint, a process of its own (for rkt's own flavors a Node start each), so doing several at
 * a time uses the cores and the I/O waits: one at a time, gc of 1,000 exited pods took over a
 * minute on two cores (bench/scale-list.mjs).
 */
import { availableParallelism } from 'node:os';

/** How many pods gc and stop work on at once: twice the CPUs, between 2 and 8. */
export const POD_CONCURRENCY = Math.max(2, Math.min(8, availableParallelism() * 2));

/** Calls `fn` for every item, at most `limit` calls in flight; rejects with the first error. */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
