/**
 * ListPods and ListImages filters, with rkt's semantics: the fields of one filter are ANDed,
 * the filters of a request ORed, no filter matches everything.
 */
import { posix } from 'node:path';
import { usageError } from '@rktnetes/errors';
import { EVENT_TYPE_NAMES, POD_STATE_NAMES, type EventTypeName, type Image, type ImageFilter, type Int64, type KeyValue, type Pod, type PodFilter, type PodStateName } from './messages';

/** An int64 field of a request as a number (0 when unset). */
export function int64(v: Int64 | null | undefined): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? n : 0;
}

function enumName<T extends string>(names: readonly T[], v: T | number, what: string): T {
  if (typeof v === 'number') {
    const name = names[v];
    if (name === undefined) throw usageError('api.invalid-argument', `unknown ${what} ${v}`);
    return name;
  }
  if (!names.includes(v)) throw usageError('api.invalid-argument', `unknown ${what} ${String(v)}`);
  return v;
}

/** The pod states named by a filter (numbers or names); unknown values are INVALID_ARGUMENT. */
export const podStates = (states: ReadonlyArray<PodStateName | number>): PodStateName[] => states.map((s) => enumName(POD_STATE_NAMES, s, 'pod state'));

/** The event types named by a filter. */
export const eventTypes = (types: ReadonlyArray<EventTypeName | number>): EventTypeName[] => types.map((t) => enumName(EVENT_TYPE_NAMES, t, 'event type'));

function hasAll(actual: readonly KeyValue[], required: readonly KeyValue[]): boolean {
  return required.every((r) => actual.some((a) => a.Key === r.Key && a.value === r.value));
}

/** Whether two image ids name the same image: equal, or one a prefix of the other (rkt keeps 64 hex digits, we keep 128). */
export function sameImageId(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x === y) return true;
  const min = 'sha512-'.length + 2;
  return (x.length >= min && y.startsWith(x)) || (y.length >= min && x.startsWith(y));
}

function matchesPod(pod: Pod, f: PodFilter, states: readonly PodStateName[]): boolean {
  if (f.ids.length && !f.ids.some((id) => id.toLowerCase() === pod.id)) return false;
  if (states.length && !states.includes(pod.state)) return false;
  if (f.app_names.length && !f.app_names.every((n) => pod.apps.some((a) => a.name === n))) return false;
  if (f.image_ids.length && !f.image_ids.every((id) => pod.apps.some((a) => a.image !== null && sameImageId(a.image.id, id)))) return false;
  if (f.network_names.length && !f.network_names.every((n) => pod.networks.some((x) => x.name === n))) return false;
  if (f.annotations.length && !hasAll(pod.annotations, f.annotations)) return false;
  if (f.cgroups.length && !f.cgroups.includes(pod.cgroup)) return false;
  if (f.pod_sub_cgroups.length && !(pod.cgroup !== '' && f.pod_sub_cgroups.some((c) => c.startsWith(pod.cgroup)))) return false;
  return true;
}

/** A predicate for ListPods' filters; validates them first (INVALID_ARGUMENT). */
export function podPredicate(filters: readonly PodFilter[]): (pod: Pod) => boolean {
  if (filters.length === 0) return () => true;
  const compiled = filters.map((f) => ({ f, states: podStates(f.states) }));
  return (pod) => compiled.some(({ f, states }) => matchesPod(pod, f, states));
}

function matchesImage(img: Image, f: ImageFilter): boolean {
  if (f.ids.length && !f.ids.some((id) => sameImageId(img.id, id))) return false;
  if (f.full_names.length && !f.full_names.includes(img.name)) return false;
  if (f.prefixes.length && !f.prefixes.some((p) => img.name.startsWith(p))) return false;
  if (f.base_names.length && !f.base_names.some((b) => posix.basename(img.name) === b)) return false;
  if (f.keywords.length && !f.keywords.some((k) => img.name.includes(k))) return false;
  const ts = int64(img.import_timestamp);
  const after = int64(f.imported_after);
  const before = int64(f.imported_before);
  if (after > 0 && ts <= after) return false;
  if (before > 0 && ts >= before) return false;
  if (f.labels.length && !hasAll(img.labels, f.labels)) return false;
  if (f.annotations.length && !hasAll(img.annotations, f.annotations)) return false;
  return true;
}

/** A predicate for ListImages' filters; validates them first (INVALID_ARGUMENT). */
export function imagePredicate(filters: readonly ImageFilter[]): (img: Image) => boolean {
  for (const f of filters) {
    if (int64(f.imported_after) < 0 || int64(f.imported_before) < 0) throw usageError('api.invalid-argument', 'import time bounds must not be negative');
    for (const id of f.ids) {
      if (!/^sha512-[0-9a-fA-F]*$/.test(id)) throw usageError('api.invalid-argument', `invalid image id "${id}" in filter: expected sha512- and hex digits`);
    }
  }
  if (filters.length === 0) return () => true;
  return (img) => filters.some((f) => matchesImage(img, f));
}
