/**
 * Seccomp filters for apps: from the appc isolators to a list of calls and an action (a
 * {@link SeccompPolicy}), or from an OCI profile to rules (a {@link SeccompRuleSet}, see
 * `profile.ts`), and from either to a classic BPF program (`struct sock_filter[]`, see `bpf.ts`)
 * that the init installs with seccomp(SECCOMP_SET_MODE_FILTER) before it execs the app.
 */
import { constants as osConstants } from 'node:os';
import { userError } from '@rktnetes/errors';
import type { SeccompIsolator } from '@rktnetes/schema';
import { ALWAYS_ALLOWED, DEFAULT_WHITELIST, GROUP_ALL, GROUP_EMPTY, SYSCALL_GROUPS } from './groups';
import { type BpfInsn, type SeccompCondition, type SeccompProgram, assembleSeccomp, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, seccompBytes } from './bpf';
import { SYSCALLS_X86_64 } from './syscalls-x86_64';

export {
  AUDIT_ARCH_X86_64,
  BPF_MAX_INSNS,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
  evaluateSeccompFilter,
  type BpfInsn,
  type SeccompCondition,
} from './bpf';

/** `whitelist`: only the listed calls run; `blacklist`: the listed calls are blocked. */
export type SeccompMode = 'whitelist' | 'blacklist';

/** What an app's filter does, before compilation. */
export interface SeccompPolicy {
  mode: SeccompMode;
  /** system call names, deduplicated, in the order they were named */
  syscalls: string[];
  /** errno returned by a blocked call; undefined: the process is killed (SIGSYS) */
  errno?: { name: string; value: number };
  /** `default`: no isolator, rkt's default whitelist; `isolator`: from the app's isolator */
  source: 'default' | 'isolator';
}

/** The errno the default filter (no isolator) returns, as Docker's default profile does. */
export const DEFAULT_SECCOMP_ERRNO = 'EPERM';

function errnoValue(name: string): { name: string; value: number } {
  const value = (osConstants.errno as Record<string, number | undefined>)[name];
  if (value === undefined) throw userError('stage1.seccomp.invalid-errno', `unknown errno ${JSON.stringify(name)} in seccomp isolator`, { details: { errno: name } });
  return { name, value };
}

function expand(set: readonly string[], mode: SeccompMode): string[] {
  const out: string[] = [];
  for (const item of set) {
    if (!item.startsWith('@')) {
      out.push(item);
      continue;
    }
    if (item === GROUP_EMPTY) continue;
    if (item === GROUP_ALL) {
      out.push(...Object.keys(SYSCALLS_X86_64));
      continue;
    }
    const group = SYSCALL_GROUPS[item];
    if (group) {
      out.push(...group);
      continue;
    }
    const hint = item.startsWith('@systemd/') ? ' (the systemd groups need a systemd-based stage1)' : '';
    throw userError('stage1.seccomp.unknown-group', `unknown seccomp group ${JSON.stringify(item)} in ${mode === 'whitelist' ? 'retain' : 'remove'} set${hint}`, {
      details: { group: item },
    });
  }
  return [...new Set(out)];
}

/**
 * The seccomp policy of an app, following rkt (stage1/init/common/seccomp.go):
 * - no isolator: rkt's default whitelist; blocked calls fail with EPERM (Docker's behaviour; rkt
 *   left the action to systemd);
 * - `os/linux/seccomp-retain-set`: a whitelist; with `@appc.io/all` no filter at all;
 * - `os/linux/seccomp-remove-set`: a blacklist; with `@appc.io/empty` the default whitelist;
 * - an isolator's `errno` is what blocked calls return; without one the app is killed (SIGSYS).
 * Returns undefined when the app gets no filter. Errors (user): `stage1.seccomp.unknown-group`,
 * `stage1.seccomp.invalid-errno`.
 */
export function seccompPolicy(isolator: SeccompIsolator | undefined): SeccompPolicy | undefined {
  if (!isolator) {
    return { mode: 'whitelist', syscalls: [...DEFAULT_WHITELIST], errno: errnoValue(DEFAULT_SECCOMP_ERRNO), source: 'default' };
  }
  const errno = isolator.errno ? errnoValue(isolator.errno) : undefined;
  const withErrno = (p: Omit<SeccompPolicy, 'errno'>): SeccompPolicy => (errno ? { ...p, errno } : p);
  if (isolator.kind === 'os/linux/seccomp-retain-set') {
    if (isolator.set.includes(GROUP_ALL)) return undefined;
    return withErrno({ mode: 'whitelist', syscalls: expand(isolator.set, 'whitelist'), source: 'isolator' });
  }
  if (isolator.set.includes(GROUP_EMPTY)) return withErrno({ mode: 'whitelist', syscalls: [...DEFAULT_WHITELIST], source: 'isolator' });
  return withErrno({ mode: 'blacklist', syscalls: expand(isolator.set, 'blacklist'), source: 'isolator' });
}

/**
 * A filter from an OCI seccomp profile (see `profile.ts`): rules by call name, checked in order,
 * and the default action. Full return values (`SECCOMP_RET_*` with their data).
 */
export interface SeccompRuleSet {
  source: 'profile';
  defaultAction: number;
  rules: Array<{ syscall: string; action: number; conditions: SeccompCondition[] }>;
}

/** What an app's filter is made from: rkt's isolator policy, or a profile's rules. */
export type SeccompSpec = SeccompPolicy | SeccompRuleSet;

/** A compiled filter: the instructions, and which of the named calls this ABI lacks. */
export interface CompiledFilter {
  insns: BpfInsn[];
  /** the raw `struct sock_filter` array, 8 bytes per instruction, little-endian */
  bytes: Buffer;
  /** names skipped because the ABI has no such call (e.g. `chown32` on x86_64) */
  unknown: string[];
}

/** The errno a whitelist returns for an unlisted `clone3`, so that the C library falls back to `clone`. */
const ENOSYS = osConstants.errno.ENOSYS ?? 38;

/** The general form of a policy: one unconditional rule per call. */
function policyProgram(policy: SeccompPolicy, table: Readonly<Record<string, number>>, unknown: string[]): SeccompProgram {
  const deny = policy.errno ? SECCOMP_RET_ERRNO | (policy.errno.value & 0xffff) : SECCOMP_RET_KILL_PROCESS;
  const listed = new Set(policy.syscalls);
  if (policy.mode === 'whitelist') for (const s of ALWAYS_ALLOWED) listed.add(s);
  else for (const s of ALWAYS_ALLOWED) listed.delete(s);
  const numbers = new Set<number>();
  for (const name of listed) {
    const nr = table[name];
    if (nr === undefined) unknown.push(name);
    else numbers.add(nr);
  }
  const match = policy.mode === 'whitelist' ? SECCOMP_RET_ALLOW : deny;
  const rules = [...numbers].map((nr) => ({ nr, action: match, conditions: [] }));
  const clone3 = table.clone3;
  if (policy.mode === 'whitelist' && clone3 !== undefined && !numbers.has(clone3)) rules.push({ nr: clone3, action: SECCOMP_RET_ERRNO | ENOSYS, conditions: [] });
  return { defaultAction: policy.mode === 'whitelist' ? deny : SECCOMP_RET_ALLOW, rules };
}

/** The general form of a profile's rule set; a profile that does not name `clone3` and denies by default makes it fail with ENOSYS. */
function ruleSetProgram(set: SeccompRuleSet, table: Readonly<Record<string, number>>, unknown: string[]): SeccompProgram {
  const rules: SeccompProgram['rules'] = [];
  for (const r of set.rules) {
    const nr = table[r.syscall];
    if (nr === undefined) {
      if (!unknown.includes(r.syscall)) unknown.push(r.syscall);
    } else rules.push({ nr, action: r.action, conditions: r.conditions });
  }
  const clone3 = table.clone3;
  if (clone3 !== undefined && set.defaultAction >>> 0 !== SECCOMP_RET_ALLOW && !set.rules.some((r) => r.syscall === 'clone3')) {
    rules.push({ nr: clone3, action: SECCOMP_RET_ERRNO | ENOSYS, conditions: [] });
  }
  return { defaultAction: set.defaultAction, rules };
}

/**
 * Compiles a policy or a profile's rule set for x86_64 (layout in `bpf.ts`). For a policy: in
 * whitelist mode `clone3` that is not listed fails with ENOSYS, so that the C library falls
 * back to `clone` (as Docker does), and the {@link ALWAYS_ALLOWED} calls are permitted; in
 * blacklist mode those are never blocked. Names the table lacks are skipped and reported.
 * Errors (user): `stage1.seccomp.too-large`.
 */
export function compileSeccompFilter(spec: SeccompSpec, table: Readonly<Record<string, number>> = SYSCALLS_X86_64): CompiledFilter {
  const unknown: string[] = [];
  const program = spec.source === 'profile' ? ruleSetProgram(spec, table, unknown) : policyProgram(spec, table, unknown);
  const insns = assembleSeccomp(program);
  return { insns, bytes: seccompBytes(insns), unknown };
}

/** One line about a filter, for `--debug`. */
export function describeSeccomp(spec: SeccompSpec, compiled: CompiledFilter): string {
  const what = spec.source === 'profile' ? `profile of ${spec.rules.length} rules` : `${spec.mode} of ${spec.syscalls.length} calls`;
  return `seccomp ${what}, ${compiled.insns.length} instructions${compiled.unknown.length ? `, unknown calls skipped: ${compiled.unknown.join(' ')}` : ''}`;
}
