/**
 * `<pod>/runtime-config`, which docs/on-disk-format.md reserves for the coreos-style stage1:
 * what run created outside the pod directory, so that gc can release it even after a crash.
 * JSON: `{"stage1":"coreos","version":1,"cgroups":["/sys/fs/cgroup/memory/…/rkt-<uuid>", …]}`.
 */
import { readFileSync } from 'node:fs';
import { runtimeConfigPath, writeFileAtomicSync } from '@rktnetes/common';

/** What run records for gc. */
export interface RuntimeConfig {
  /** the pod cgroup directories, one per hierarchy (apps' cgroups are below them) */
  cgroups: string[];
}

/** Writes `<pod>/runtime-config` atomically. */
export function writeRuntimeConfig(pod: string, cfg: RuntimeConfig): void {
  writeFileAtomicSync(runtimeConfigPath(pod), `${JSON.stringify({ stage1: 'coreos', version: 1, cgroups: cfg.cgroups })}\n`, 0o644);
}

/** Reads `<pod>/runtime-config`; undefined when it is missing or not ours. */
export function readRuntimeConfig(pod: string): RuntimeConfig | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(runtimeConfigPath(pod), 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || (raw as { stage1?: unknown }).stage1 !== 'coreos') return undefined;
  const cgroups = (raw as { cgroups?: unknown }).cgroups;
  return { cgroups: Array.isArray(cgroups) ? cgroups.filter((c): c is string => typeof c === 'string' && c.startsWith('/')) : [] };
}
