/**
 * The seccomp profile format of the `rktnetes.io/stage2/seccomp-profile` app annotation
 * (docs/stage1-interface.md): the OCI runtime-spec `linux.seccomp` object, which is also what
 * Kubernetes' Localhost profiles and Docker's profile files hold:
 *
 * ```json
 * { "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64"],
 *   "syscalls": [ { "names": ["read", "write"], "action": "SCMP_ACT_ALLOW" },
 *                 { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
 *                   "args": [ { "index": 0, "value": 8, "op": "SCMP_CMP_EQ" } ] },
 *                 { "names": ["clone"], "action": "SCMP_ACT_ALLOW", "includes": { "caps": ["CAP_SYS_ADMIN"] } } ] }
 * ```
 *
 * The parser checks the structure and the names of actions and operators; what the filter does
 * with them is the stage1's business (stage1-coreos compiles them to BPF). Docker's extensions
 * (`name` for one call, `includes`/`excludes` by capability, architecture and kernel version)
 * are accepted; `archMap`, `listenerPath`, `comment` and unknown keys are ignored.
 */
import { userError } from '@rktnetes/errors';

/** Actions a profile may name. `SCMP_ACT_KILL` is the same as `SCMP_ACT_KILL_THREAD`. */
export const SECCOMP_ACTIONS = [
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_LOG',
  'SCMP_ACT_ALLOW',
] as const;
export type SeccompAction = (typeof SECCOMP_ACTIONS)[number];

/** Argument comparisons (libseccomp's, on the 64-bit value). */
export const SECCOMP_OPERATORS = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'] as const;
export type SeccompOperator = (typeof SECCOMP_OPERATORS)[number];

/** A condition on one argument: `args[index] <op> value` (MASKED_EQ: `(args[index] & value) == valueTwo`). */
export interface SeccompProfileArg {
  /** 0 to 5 */
  index: number;
  value: bigint;
  valueTwo: bigint;
  op: SeccompOperator;
}

/** Docker's `includes` / `excludes`: a rule applies only with (or without) these. */
export interface SeccompProfileCondition {
  /** capability names (`CAP_SYS_ADMIN`): any of them held */
  caps?: string[];
  /** architecture names (`amd64`, `x86_64`, ...): any of them is the machine's */
  arches?: string[];
  /** a kernel version (`4.8`): the running kernel is at least this one */
  minKernel?: string;
}

/** One entry of `syscalls`. */
export interface SeccompProfileRule {
  names: string[];
  action: SeccompAction;
  /** the errno of `SCMP_ACT_ERRNO` (default EPERM), the data of `SCMP_ACT_TRACE` */
  errnoRet?: number;
  /** all must hold (when two name the same argument, any of them: libseccomp's and runc's rule) */
  args: SeccompProfileArg[];
  includes?: SeccompProfileCondition;
  excludes?: SeccompProfileCondition;
}

/** A parsed profile. */
export interface SeccompProfile {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  /** `SCMP_ARCH_*` names; empty: the native architecture */
  architectures: string[];
  /** `SECCOMP_FILTER_FLAG_*` names, as given */
  flags: string[];
  syscalls: SeccompProfileRule[];
}

const MAX_U64 = (1n << 64n) - 1n;

function invalid(source: string, message: string): never {
  throw userError('stage1.seccomp.profile-invalid', `seccomp profile ${source}: ${message}`, { details: { source } });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function stringList(v: unknown, where: string, source: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) invalid(source, `${where} must be a list of strings`);
  return v as string[];
}

function action(v: unknown, where: string, source: string): SeccompAction {
  if (v === 'SCMP_ACT_NOTIFY') invalid(source, `${where}: SCMP_ACT_NOTIFY is not supported`);
  if (typeof v !== 'string' || !(SECCOMP_ACTIONS as readonly string[]).includes(v)) invalid(source, `${where}: unknown action ${JSON.stringify(v)}`);
  return v as SeccompAction;
}

function errnoRet(v: unknown, where: string, source: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) invalid(source, `${where} must be an integer from 0 to 65535`);
  return v;
}

function u64(v: unknown, where: string, source: string): bigint {
  if (v === undefined || v === null) return 0n;
  let n: bigint | undefined;
  if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
  else if (typeof v === 'string' && /^\d+$/.test(v)) n = BigInt(v);
  if (n === undefined || n < 0n || n > MAX_U64) invalid(source, `${where} must be an unsigned 64-bit integer`);
  return n;
}

function condition(v: unknown, where: string, source: string): SeccompProfileCondition | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) invalid(source, `${where} must be an object`);
  const out: SeccompProfileCondition = {};
  const caps = stringList(v.caps, `${where}.caps`, source);
  const arches = stringList(v.arches, `${where}.arches`, source);
  if (caps.length) out.caps = caps;
  if (arches.length) out.arches = arches;
  if (v.minKernel !== undefined && v.minKernel !== null && v.minKernel !== '') {
    if (typeof v.minKernel !== 'string' || !/^\d+(\.\d+)*$/.test(v.minKernel)) invalid(source, `${where}.minKernel must be a version like 4.8`);
    out.minKernel = v.minKernel;
  }
  return Object.keys(out).length ? out : undefined;
}

function rule(v: unknown, i: number, source: string): SeccompProfileRule {
  const where = `syscalls[${i}]`;
  if (!isObject(v)) invalid(source, `${where} must be an object`);
  const names = stringList(v.names, `${where}.names`, source);
  if (typeof v.name === 'string' && v.name) names.push(v.name);
  else if (v.name !== undefined && v.name !== null && v.name !== '') invalid(source, `${where}.name must be a string`);
  if (names.length === 0) invalid(source, `${where} names no system call`);
  if (v.args !== undefined && v.args !== null && !Array.isArray(v.args)) invalid(source, `${where}.args must be a list`);
  const args = ((v.args as unknown[] | undefined | null) ?? []).map((a, j): SeccompProfileArg => {
    const w = `${where}.args[${j}]`;
    if (!isObject(a)) invalid(source, `${w} must be an object`);
    if (typeof a.index !== 'number' || !Number.isInteger(a.index) || a.index < 0 || a.index > 5) invalid(source, `${w}.index must be 0 to 5`);
    if (typeof a.op !== 'string' || !(SECCOMP_OPERATORS as readonly string[]).includes(a.op)) invalid(source, `${w}: unknown operator ${JSON.stringify(a.op)}`);
    return { index: a.index, value: u64(a.value, `${w}.value`, source), valueTwo: u64(a.valueTwo, `${w}.valueTwo`, source), op: a.op as SeccompOperator };
  });
  const out: SeccompProfileRule = { names, action: action(v.action, `${where}.action`, source), args };
  const errno = errnoRet(v.errnoRet, `${where}.errnoRet`, source);
  if (errno !== undefined) out.errnoRet = errno;
  const includes = condition(v.includes, `${where}.includes`, source);
  const excludes = condition(v.excludes, `${where}.excludes`, source);
  if (includes) out.includes = includes;
  if (excludes) out.excludes = excludes;
  return out;
}

/** JSON text with integer literals too long for a double (argument values) turned into strings. */
function quoteBigIntegers(text: string): string {
  return text.replace(/("value(?:Two)?"\s*:\s*)(\d{16,})(?=\s*[,}\]])/g, '$1"$2"');
}

/**
 * Parses a profile from its JSON text (`source` names it in messages: a file path, or the
 * annotation). Argument values too large for a JavaScript number are read exactly.
 *
 * @throws RktError `stage1.seccomp.profile-invalid` (user) for text that is not JSON, a missing or
 *   unknown action, `SCMP_ACT_NOTIFY`, a malformed rule or argument condition
 */
export function parseSeccompProfile(text: string, source: string): SeccompProfile {
  let v: unknown;
  try {
    v = JSON.parse(quoteBigIntegers(text));
  } catch (e) {
    invalid(source, `not JSON (${(e as Error).message})`);
  }
  if (!isObject(v)) invalid(source, 'must be a JSON object');
  if (v.defaultAction === undefined) invalid(source, 'defaultAction is required');
  if (v.syscalls !== undefined && v.syscalls !== null && !Array.isArray(v.syscalls)) invalid(source, 'syscalls must be a list');
  const out: SeccompProfile = {
    defaultAction: action(v.defaultAction, 'defaultAction', source),
    architectures: stringList(v.architectures, 'architectures', source),
    flags: stringList(v.flags, 'flags', source),
    syscalls: ((v.syscalls as unknown[] | undefined | null) ?? []).map((r, i) => rule(r, i, source)),
  };
  const errno = errnoRet(v.defaultErrnoRet, 'defaultErrnoRet', source);
  if (errno !== undefined) out.defaultErrnoRet = errno;
  return out;
}

/**
 * The annotation value for a profile file's text: checked with {@link parseSeccompProfile},
 * then written as compact JSON (argument values too large for a double as decimal strings).
 *
 * @throws RktError `stage1.seccomp.profile-invalid`
 */
export function compactSeccompProfile(text: string, source: string): string {
  parseSeccompProfile(text, source);
  return JSON.stringify(JSON.parse(quoteBigIntegers(text)));
}
