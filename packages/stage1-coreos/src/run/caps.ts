/**
 * An app's capabilities, as rkt computes them (stage1/init/common/pod.go getAppCapabilities)
 * and as the init applies them before exec.
 */
import { CAPABILITIES, capNumber } from '@rktnetes/sys';
import { DEFAULT_CAPABILITIES, type TypedIsolator } from '@rktnetes/schema';

/** Capability sets for one app, as capability numbers (see `CAPABILITIES` of @rktnetes/sys). */
export interface AppCapabilities {
  /** the names kept in the bounding set, for messages and tests */
  retained: string[];
  /** the bounding set; the init drops every other capability */
  bounding: number[];
  /** the inheritable set the init leaves before exec (empty, or the ambient set) */
  inheritable: number[];
  /**
   * raised in the ambient set after the uid change, so a non-root app holds them after exec;
   * only for a non-root app with an explicit `capabilities-retain-set`
   */
  ambient: number[];
}

/**
 * The capabilities of an app:
 * - the retained set is appc's default set, or the union of the app's `os/linux/capabilities-
 *   retain-set` isolators, or the default set minus the union of its `…-remove-set` isolators
 *   (a retain and a remove set together are rejected by the schema); all capabilities with
 *   `--insecure-options=capabilities` (`disableRestriction`);
 * - the bounding set is the retained set: a root app gets exactly these after exec;
 * - a non-root app gets them only in its bounding set (rkt's behaviour, so the default set gives
 *   it nothing effective), except that the capabilities of an explicit retain set are also
 *   raised as ambient capabilities, so that a non-root app can hold what it explicitly asked for.
 */
export function appCapabilities(isolators: readonly TypedIsolator[], uid: number, disableRestriction: boolean): AppCapabilities {
  const retainSets = isolators.filter((i) => i.kind === 'os/linux/capabilities-retain-set');
  const removeSets = isolators.filter((i) => i.kind === 'os/linux/capabilities-remove-set');
  let retained: string[];
  if (disableRestriction) retained = Object.keys(CAPABILITIES);
  else if (retainSets.length > 0) retained = [...new Set(retainSets.flatMap((i) => ('set' in i ? i.set : [])))];
  else {
    const removed = new Set(removeSets.flatMap((i) => ('set' in i ? i.set : [])));
    retained = DEFAULT_CAPABILITIES.filter((c) => !removed.has(c));
  }
  // with the restriction disabled nothing is dropped, including capabilities newer than our table
  const bounding = disableRestriction
    ? Array.from({ length: 64 }, (_, i) => i)
    : [...new Set(retained.map((c) => capNumber(c)).filter((n): n is number => n !== undefined))].sort((a, b) => a - b);
  const ambient = uid !== 0 && !disableRestriction && retainSets.length > 0 ? bounding : [];
  return { retained, bounding, inheritable: ambient, ambient };
}

/** A set of capability numbers as a 64-bit mask in hex (the spec file's format). */
export function capMask(caps: readonly number[]): string {
  let m = 0n;
  for (const c of caps) m |= 1n << BigInt(c);
  return m.toString(16);
}
