/**
 * Seccomp filters for apps: from the appc isolators to a list of calls and an action, and from
 * that to a classic BPF program (`struct sock_filter[]`) that the init installs with
 * seccomp(SECCOMP_SET_MODE_FILTER) just before it execs the app.
 */
import { constants as osConstants } from 'node:os';
import { userError } from '@rktnetes/errors';
import type { SeccompIsolator } from '@rktnetes/schema';
import { ALWAYS_ALLOWED, DEFAULT_WHITELIST, GROUP_ALL, GROUP_EMPTY, SYSCALL_GROUPS } from './groups';
import { SYSCALLS_X86_64 } from './syscalls-x86_64';

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

// ---- BPF ---------------------------------------------------------------------------------------

/** AUDIT_ARCH_X86_64 (linux/audit.h): EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE. */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
/** x32 ABI calls carry this bit in their number on x86_64; the filter refuses them. */
const X32_SYSCALL_BIT = 0x40000000;

export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;

const BPF_LD_W_ABS = 0x20;
const BPF_JMP_JEQ_K = 0x15;
const BPF_JMP_JGE_K = 0x35;
const BPF_RET_K = 0x06;
/** offsetof(struct seccomp_data, nr) and (…, arch) */
const DATA_NR = 0;
const DATA_ARCH = 4;
/** BPF_MAXINSNS */
export const BPF_MAX_INSNS = 4096;

/** One `struct sock_filter`. */
export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** A compiled filter: the instructions, and which of the policy's calls this ABI lacks. */
export interface CompiledFilter {
  insns: BpfInsn[];
  /** the raw `struct sock_filter` array, 8 bytes per instruction, little-endian */
  bytes: Buffer;
  /** names skipped because the ABI has no such call (e.g. `chown32` on x86_64) */
  unknown: string[];
}

const ret = (k: number): BpfInsn => ({ code: BPF_RET_K, jt: 0, jf: 0, k: k >>> 0 });

/**
 * Compiles a policy for x86_64: a foreign architecture (i386 `int 0x80`) or an x32 call kills
 * the process; then each listed call is compared in turn. In whitelist mode `clone3` that is not
 * listed fails with ENOSYS, so that the C library falls back to `clone` (as Docker does), and the
 * {@link ALWAYS_ALLOWED} calls are permitted; in blacklist mode those are never blocked.
 */
export function compileSeccompFilter(policy: SeccompPolicy, table: Readonly<Record<string, number>> = SYSCALLS_X86_64): CompiledFilter {
  const deny = policy.errno ? SECCOMP_RET_ERRNO | (policy.errno.value & 0xffff) : SECCOMP_RET_KILL_PROCESS;
  const unknown: string[] = [];
  const numbers = new Set<number>();
  const listed = new Set(policy.syscalls);
  if (policy.mode === 'whitelist') for (const s of ALWAYS_ALLOWED) listed.add(s);
  else for (const s of ALWAYS_ALLOWED) listed.delete(s);
  for (const name of listed) {
    const nr = table[name];
    if (nr === undefined) unknown.push(name);
    else numbers.add(nr);
  }
  const match = policy.mode === 'whitelist' ? SECCOMP_RET_ALLOW : deny;
  const fallthrough = policy.mode === 'whitelist' ? deny : SECCOMP_RET_ALLOW;
  const insns: BpfInsn[] = [
    { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: DATA_ARCH },
    { code: BPF_JMP_JEQ_K, jt: 1, jf: 0, k: AUDIT_ARCH_X86_64 },
    ret(SECCOMP_RET_KILL_PROCESS),
    { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: DATA_NR },
    { code: BPF_JMP_JGE_K, jt: 0, jf: 1, k: X32_SYSCALL_BIT },
    ret(SECCOMP_RET_KILL_PROCESS),
  ];
  for (const nr of [...numbers].sort((a, b) => a - b)) insns.push({ code: BPF_JMP_JEQ_K, jt: 0, jf: 1, k: nr }, ret(match));
  const clone3 = table.clone3;
  if (policy.mode === 'whitelist' && clone3 !== undefined && !numbers.has(clone3)) {
    insns.push({ code: BPF_JMP_JEQ_K, jt: 0, jf: 1, k: clone3 }, ret(SECCOMP_RET_ERRNO | (osConstants.errno.ENOSYS ?? 38)));
  }
  insns.push(ret(fallthrough));
  if (insns.length > BPF_MAX_INSNS) {
    throw userError('stage1.seccomp.too-large', `seccomp filter has ${insns.length} instructions, more than the kernel's ${BPF_MAX_INSNS}`);
  }
  const bytes = Buffer.alloc(insns.length * 8);
  insns.forEach((i, n) => {
    bytes.writeUInt16LE(i.code, n * 8);
    bytes.writeUInt8(i.jt, n * 8 + 2);
    bytes.writeUInt8(i.jf, n * 8 + 3);
    bytes.writeUInt32LE(i.k >>> 0, n * 8 + 4);
  });
  return { insns, bytes, unknown };
}

/**
 * Runs a compiled filter on one call, as the kernel would (a small classic-BPF interpreter for
 * the instructions {@link compileSeccompFilter} emits). For tests and `--debug` diagnostics.
 */
export function evaluateSeccompFilter(insns: readonly BpfInsn[], nr: number, arch = AUDIT_ARCH_X86_64): number {
  let acc = 0;
  for (let pc = 0; pc < insns.length; pc++) {
    const i = insns[pc]!;
    switch (i.code) {
      case BPF_LD_W_ABS:
        acc = i.k === DATA_ARCH ? arch >>> 0 : i.k === DATA_NR ? nr >>> 0 : 0;
        break;
      case BPF_JMP_JEQ_K:
        pc += acc === i.k >>> 0 ? i.jt : i.jf;
        break;
      case BPF_JMP_JGE_K:
        pc += acc >= i.k >>> 0 ? i.jt : i.jf;
        break;
      case BPF_RET_K:
        return i.k >>> 0;
      default:
        throw new Error(`unsupported BPF instruction 0x${i.code.toString(16)}`);
    }
  }
  throw new Error('BPF program fell off its end');
}
