/**
 * An OCI / Docker seccomp profile (the `rktnetes.io/stage2/seccomp-profile` app annotation,
 * parsed by `@rktnetes/stage1-abi`) as the rules of an app's filter, following runc and Docker:
 *
 * - actions: `SCMP_ACT_ALLOW`, `SCMP_ACT_ERRNO` (the rule's `errnoRet`, or `defaultErrnoRet`
 *   for the default action; EPERM without one), `SCMP_ACT_KILL`/`KILL_THREAD` (the thread),
 *   `SCMP_ACT_KILL_PROCESS`, `SCMP_ACT_TRAP` (SIGSYS), `SCMP_ACT_LOG` (allowed and logged),
 *   `SCMP_ACT_TRACE` (`errnoRet`, EPERM without one, to the tracer; without a tracer the call
 *   fails with ENOSYS);
 * - rules whose action is the default action are left out (runc);
 * - conditions of a rule must all hold, except that several conditions on the same argument
 *   make one rule each, any of which matches (runc's reading of libseccomp);
 * - `includes`/`excludes` select rules by the app's bounding set (every included capability
 *   held, no excluded one), the architecture (`amd64`/`x86_64`) and the running kernel
 *   (`minKernel`), as Docker does;
 * - call names unknown on x86_64 are skipped; the filter covers the native architecture only, so
 *   calls of other ABIs (`SCMP_ARCH_X86`, `SCMP_ARCH_X32`) kill the process;
 * - `flags` are ignored; `SCMP_ACT_NOTIFY` is refused by the parser.
 */
import { release } from 'node:os';
import type { SeccompAction, SeccompProfile, SeccompProfileCondition, SeccompProfileRule } from '@rktnetes/stage1-abi';
import {
  type SeccompCondition,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
} from './bpf';
import type { SeccompRuleSet } from './filter';

/** EPERM: what `SCMP_ACT_ERRNO` returns without an `errnoRet` (runc). */
const EPERM = 1;

/** What selects a profile's rules: the app's capabilities, the machine, the kernel. */
export interface ProfileContext {
  /** capability names of the app's bounding set (`CAP_SYS_ADMIN`) */
  caps: readonly string[];
  /** Go's name of the architecture (Docker's `includes.arches`); default `amd64` */
  arch?: string;
  /** the running kernel's release; default `os.release()` */
  kernel?: string;
}

/** The return value of a profile action. */
export function profileAction(action: SeccompAction, errnoRet: number | undefined): number {
  switch (action) {
    case 'SCMP_ACT_ALLOW':
      return SECCOMP_RET_ALLOW;
    case 'SCMP_ACT_ERRNO':
      return (SECCOMP_RET_ERRNO | ((errnoRet ?? EPERM) & 0xffff)) >>> 0;
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return SECCOMP_RET_KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS':
      return SECCOMP_RET_KILL_PROCESS;
    case 'SCMP_ACT_TRAP':
      return SECCOMP_RET_TRAP;
    case 'SCMP_ACT_LOG':
      return SECCOMP_RET_LOG;
    case 'SCMP_ACT_TRACE':
      return (SECCOMP_RET_TRACE | ((errnoRet ?? EPERM) & 0xffff)) >>> 0;
  }
}

/** `a >= b` for dotted version numbers (`6.1.0-18-amd64` >= `4.8`). */
export function kernelAtLeast(running: string, min: string): boolean {
  const nums = (v: string) => (/^\d+(?:\.\d+)*/.exec(v)?.[0] ?? '0').split('.').map(Number);
  const [a, b] = [nums(running), nums(min)];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const [x, y] = [a[i] ?? 0, b[i] ?? 0];
    if (x !== y) return x > y;
  }
  return true;
}

const ARCH_NAMES: Record<string, readonly string[]> = { amd64: ['amd64', 'x86_64'], x86_64: ['amd64', 'x86_64'] };

function selected(r: SeccompProfileRule, ctx: Required<ProfileContext>): boolean {
  const arches = ARCH_NAMES[ctx.arch] ?? [ctx.arch];
  const archIn = (c: SeccompProfileCondition | undefined) => c?.arches?.some((a) => arches.includes(a));
  if (r.excludes?.arches && archIn(r.excludes)) return false;
  if (r.includes?.arches && !archIn(r.includes)) return false;
  if (r.excludes?.caps?.some((c) => ctx.caps.includes(c))) return false;
  if (r.excludes?.minKernel && kernelAtLeast(ctx.kernel, r.excludes.minKernel)) return false;
  if (r.includes?.caps && !r.includes.caps.every((c) => ctx.caps.includes(c))) return false;
  if (r.includes?.minKernel && !kernelAtLeast(ctx.kernel, r.includes.minKernel)) return false;
  return true;
}

const OPS: Record<string, SeccompCondition['op']> = {
  SCMP_CMP_NE: 'NE',
  SCMP_CMP_LT: 'LT',
  SCMP_CMP_LE: 'LE',
  SCMP_CMP_EQ: 'EQ',
  SCMP_CMP_GE: 'GE',
  SCMP_CMP_GT: 'GT',
  SCMP_CMP_MASKED_EQ: 'MASKED_EQ',
};

/** The condition sets of a rule: one set (all must hold), or one per condition when an argument is named twice. */
function conditionSets(r: SeccompProfileRule): SeccompCondition[][] {
  const conds = r.args.map((a): SeccompCondition => ({ index: a.index, op: OPS[a.op]!, value: a.value, valueTwo: a.valueTwo }));
  const indexes = new Set(conds.map((c) => c.index));
  return indexes.size < conds.length ? conds.map((c) => [c]) : [conds];
}

/** The rule set of an app's filter from its profile (see the module documentation). */
export function profileRuleSet(profile: SeccompProfile, context: ProfileContext): SeccompRuleSet {
  const ctx: Required<ProfileContext> = { arch: 'amd64', kernel: release(), ...context };
  const rules: SeccompRuleSet['rules'] = [];
  for (const r of profile.syscalls) {
    if (!selected(r, ctx)) continue;
    const action = profileAction(r.action, r.errnoRet);
    for (const conditions of conditionSets(r)) for (const syscall of r.names) rules.push({ syscall, action, conditions });
  }
  return { source: 'profile', defaultAction: profileAction(profile.defaultAction, profile.defaultErrnoRet), rules };
}
