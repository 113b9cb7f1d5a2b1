/**
 * Which filter an app gets, and whether it runs with no_new_privs: the policy decisions every
 * stage1 flavor that applies seccomp makes the same way (docs/stage1-interface.md, "Per-app
 * security settings"). Pure functions of the app's isolators, annotations and capabilities.
 */
import { getAnnotation, type Annotation, type NoNewPrivilegesIsolator, type SeccompIsolator, type TypedIsolator } from '@rktnetes/schema';
import { ANNOTATION_APP_SECCOMP_PROFILE, parseSeccompProfile } from '@rktnetes/stage1-abi';
import { type SeccompSpec, seccompPolicy } from './filter';
import { profileRuleSet } from './profile';

/** What decides an app's filter (see {@link appSeccomp}). */
export interface AppSeccompInput {
  /** the app's name, for messages */
  name: string;
  /** the app's isolators, typed; of several of one kind the last counts */
  isolators: readonly TypedIsolator[];
  /** the runtime app's annotations, where `rktnetes.io/stage2/seccomp-profile` is looked up */
  annotations?: readonly Annotation[] | undefined;
  /** capability names of the app's bounding set (`CAP_SYS_ADMIN`): a profile selects rules by them */
  caps: readonly string[];
  /** `--disable-seccomp` (stage0 sends it for `--insecure-options=seccomp`) */
  disabled: boolean;
  /** the release of the kernel the app runs on, for a profile's `minKernel`; default `os.release()` */
  kernel?: string;
}

const lastOf = <K extends TypedIsolator['kind']>(list: readonly TypedIsolator[], ...kinds: K[]) =>
  list.filter((i): i is Extract<TypedIsolator, { kind: K }> => (kinds as string[]).includes(i.kind)).at(-1);

/**
 * The app's seccomp filter: none with `disabled`; else the `rktnetes.io/stage2/seccomp-profile`
 * annotation when the app has one (its rules selected by `caps` and `kernel`), replacing the
 * isolators; else rkt's policy from the last `os/linux/seccomp-retain-set` or `…-remove-set`
 * isolator, or the default whitelist without one ({@link seccompPolicy}). Undefined: no filter.
 *
 * @throws RktError user errors `stage1.seccomp.profile-invalid` (the annotation),
 *   `stage1.seccomp.unknown-group`, `stage1.seccomp.invalid-errno`
 */
export function appSeccomp(input: AppSeccompInput): SeccompSpec | undefined {
  if (input.disabled) return undefined;
  const profile = getAnnotation(input.annotations, ANNOTATION_APP_SECCOMP_PROFILE);
  if (profile !== undefined) {
    return profileRuleSet(parseSeccompProfile(profile, `of app ${input.name}`), { caps: input.caps, ...(input.kernel !== undefined ? { kernel: input.kernel } : {}) });
  }
  return seccompPolicy(lastOf(input.isolators, 'os/linux/seccomp-retain-set', 'os/linux/seccomp-remove-set') as SeccompIsolator | undefined);
}

/**
 * Whether the app runs with no_new_privs: exactly what its last `os/linux/no-new-privileges`
 * isolator says (`false` included); without one rkt's rule, set for an app that has a seccomp
 * filter and does not run as root. A filter without no_new_privs must be installed while the
 * process still holds CAP_SYS_ADMIN, that is before a non-root app's ids change.
 */
export function appNoNewPrivileges(isolators: readonly TypedIsolator[], hasFilter: boolean, uid: number): boolean {
  const nnp = lastOf(isolators, 'os/linux/no-new-privileges') as NoNewPrivilegesIsolator | undefined;
  return nnp ? nnp.value : hasFilter && uid !== 0;
}
