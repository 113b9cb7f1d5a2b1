/**
 * @rktnetes/seccomp: the seccomp filters of apps, shared by the stage1 flavors that apply them
 * (coreos on the host, kvm in the guest): which filter an app gets (app.ts), rkt's policy from
 * the appc isolators and the groups (filter.ts, groups.ts), OCI / Docker profiles (profile.ts),
 * and their compilation to a classic BPF program for x86_64 (bpf.ts), which the flavor's init
 * installs with seccomp(SECCOMP_SET_MODE_FILTER) before it execs the app.
 */
export { appSeccomp, appNoNewPrivileges, type AppSeccompInput } from './app';
export {
  seccompPolicy,
  compileSeccompFilter,
  describeSeccomp,
  evaluateSeccompFilter,
  DEFAULT_SECCOMP_ERRNO,
  AUDIT_ARCH_X86_64,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
  type SeccompPolicy,
  type SeccompMode,
  type SeccompRuleSet,
  type SeccompSpec,
  type CompiledFilter,
  type BpfInsn,
  type SeccompCondition,
} from './filter';
export { assembleSeccomp, rulesByCall, seccompBytes, BPF_MAX_INSNS, X32_SYSCALL_BIT, type SeccompProgram, type SeccompRule } from './bpf';
export { profileRuleSet, profileAction, kernelAtLeast, type ProfileContext } from './profile';
export { DEFAULT_WHITELIST, DEFAULT_BLACKLIST, ALWAYS_ALLOWED, SYSCALL_GROUPS, GROUP_ALL, GROUP_EMPTY } from './groups';
export { SYSCALLS_X86_64 } from './syscalls-x86_64';
