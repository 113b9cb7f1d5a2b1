/**
 * Small lookups over labels and annotations.
 */
import type { Annotation, Label } from './types';

/** The value of the label `name`, or undefined. */
export function getLabel(labels: readonly Label[] | undefined, name: string): string | undefined {
  return labels?.find((l) => l.name === name)?.value;
}

/** The value of the annotation `name`, or undefined. */
export function getAnnotation(annotations: readonly Annotation[] | undefined, name: string): string | undefined {
  return annotations?.find((a) => a.name === name)?.value;
}

/** A copy of `list` with `name` set to `value` (replaced in place when present, appended otherwise). */
export function setAnnotation(annotations: readonly Annotation[] | undefined, name: string, value: string): Annotation[] {
  const list = [...(annotations ?? [])];
  const i = list.findIndex((a) => a.name === name);
  if (i >= 0) list[i] = { ...list[i], name, value };
  else list.push({ name, value });
  return list;
}

/**
 * Annotations of `base` overridden by those of `over` (the pod app's annotations take precedence
 * over the image's, as the metadata service merges them); order: base first, then new names.
 */
export function mergeAnnotations(
  base: readonly Annotation[] | undefined,
  over: readonly Annotation[] | undefined,
): Annotation[] {
  let out = [...(base ?? [])];
  for (const a of over ?? []) out = setAnnotation(out, a.name, a.value);
  return out;
}

/** Labels as a plain object (`{version: '1.0.0', os: 'linux'}`). */
export function labelsToMap(labels: readonly Label[] | undefined): Record<string, string> {
  return Object.fromEntries((labels ?? []).map((l) => [l.name, l.value]));
}

/** Labels from a plain object, sorted by name (the order appc's Go schema produces). */
export function labelsFromMap(map: Readonly<Record<string, string>>): Label[] {
  return Object.keys(map)
    .sort()
    .map((name) => ({ name, value: map[name] as string }));
}
