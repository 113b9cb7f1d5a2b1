/**
 * Classic BPF for seccomp on x86_64: a filter in its general form (a default action and, per
 * system call, rules with argument conditions), compiled to a `struct sock_filter[]` program,
 * and a small interpreter that runs such a program as the kernel would (tests, diagnostics).
 *
 * Program layout: a foreign architecture (i386 `int 0x80`) or an x32 call kills the process;
 * then, for each call that has rules, in ascending number order, `if (nr == N) { rules }`,
 * where every rule ends in a return; last the default action. 64-bit arguments are compared as
 * two 32-bit words (the high word first), as libseccomp does.
 */
import { userError } from '@rktnetes/errors';

/** AUDIT_ARCH_X86_64 (linux/audit.h): EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE. */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
/** x32 ABI calls carry this bit in their number on x86_64; the filter refuses them. */
export const X32_SYSCALL_BIT = 0x40000000;

/** Return values (linux/seccomp.h); the low 16 bits of ERRNO, TRAP and TRACE carry data. */
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_TRACE = 0x7ff00000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;

/** BPF_MAXINSNS */
export const BPF_MAX_INSNS = 4096;

const BPF_LD_W_ABS = 0x20;
const BPF_ALU_AND_K = 0x54;
const BPF_JMP_JA = 0x05;
const BPF_JMP_JEQ_K = 0x15;
const BPF_JMP_JGT_K = 0x25;
const BPF_JMP_JGE_K = 0x35;
const BPF_RET_K = 0x06;
/** offsets in struct seccomp_data: nr, arch, then args[6] as 64-bit little-endian words */
const DATA_NR = 0;
const DATA_ARCH = 4;
const DATA_ARGS = 16;

/** One `struct sock_filter`. */
export interface BpfInsn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** A comparison of one argument, libseccomp's operators on the unsigned 64-bit value. */
export interface SeccompCondition {
  /** argument 0 to 5 */
  index: number;
  op: 'NE' | 'LT' | 'LE' | 'EQ' | 'GE' | 'GT' | 'MASKED_EQ';
  value: bigint;
  /** MASKED_EQ: `(arg & value) == valueTwo` */
  valueTwo: bigint;
}

/** A rule: when the call is `nr` and every condition holds, return `action`. */
export interface SeccompRule {
  nr: number;
  /** a full return value (`SECCOMP_RET_*` with its data) */
  action: number;
  conditions: SeccompCondition[];
}

/** A filter in its general form. */
export interface SeccompProgram {
  defaultAction: number;
  /**
   * Rules, looked at in order for a call; the first that matches decides. When a call has a rule
   * without conditions, that rule (the first such) decides alone and its conditional rules are
   * dropped, as libseccomp does. Rules whose action is the default are left out.
   */
  rules: SeccompRule[];
}

const insn = (code: number, k: number, jt = 0, jf = 0): BpfInsn => ({ code, jt, jf, k: k >>> 0 });
const ret = (k: number): BpfInsn => insn(BPF_RET_K, k);

/** A jump target inside a rule: the next condition, or past the rule (it does not match). */
type Target = 'next' | 'fail' | 0;
interface Pending {
  code: number;
  k: number;
  jt: Target;
  jf: Target;
}

const MASK32 = 0xffffffffn;
const hi = (v: bigint) => Number((v >> 32n) & MASK32);
const lo = (v: bigint) => Number(v & MASK32);

/** The instructions of one condition; `next` continues with the following condition. */
function conditionCode(c: SeccompCondition): Pending[] {
  const ldHi: Pending = { code: BPF_LD_W_ABS, k: DATA_ARGS + 8 * c.index + 4, jt: 0, jf: 0 };
  const ldLo: Pending = { code: BPF_LD_W_ABS, k: DATA_ARGS + 8 * c.index, jt: 0, jf: 0 };
  const j = (code: number, k: number, jt: Target, jf: Target): Pending => ({ code, k, jt, jf });
  const [vh, vl] = [hi(c.value), lo(c.value)];
  switch (c.op) {
    case 'EQ':
      return [ldHi, j(BPF_JMP_JEQ_K, vh, 0, 'fail'), ldLo, j(BPF_JMP_JEQ_K, vl, 'next', 'fail')];
    case 'NE':
      return [ldHi, j(BPF_JMP_JEQ_K, vh, 0, 'next'), ldLo, j(BPF_JMP_JEQ_K, vl, 'fail', 'next')];
    case 'GT':
      return [ldHi, j(BPF_JMP_JGT_K, vh, 'next', 0), j(BPF_JMP_JEQ_K, vh, 0, 'fail'), ldLo, j(BPF_JMP_JGT_K, vl, 'next', 'fail')];
    case 'GE':
      return [ldHi, j(BPF_JMP_JGT_K, vh, 'next', 0), j(BPF_JMP_JEQ_K, vh, 0, 'fail'), ldLo, j(BPF_JMP_JGE_K, vl, 'next', 'fail')];
    case 'LT':
      return [ldHi, j(BPF_JMP_JGT_K, vh, 'fail', 0), j(BPF_JMP_JEQ_K, vh, 0, 'next'), ldLo, j(BPF_JMP_JGE_K, vl, 'fail', 'next')];
    case 'LE':
      return [ldHi, j(BPF_JMP_JGT_K, vh, 'fail', 0), j(BPF_JMP_JEQ_K, vh, 0, 'next'), ldLo, j(BPF_JMP_JGT_K, vl, 'fail', 'next')];
    case 'MASKED_EQ': {
      const [eh, el] = [hi(c.valueTwo), lo(c.valueTwo)];
      return [ldHi, { code: BPF_ALU_AND_K, k: vh, jt: 0, jf: 0 }, j(BPF_JMP_JEQ_K, eh, 0, 'fail'), ldLo, { code: BPF_ALU_AND_K, k: vl, jt: 0, jf: 0 }, j(BPF_JMP_JEQ_K, el, 'next', 'fail')];
    }
  }
}

function tooLarge(what: string): never {
  throw userError('stage1.seccomp.too-large', `seccomp filter: ${what} does not fit a BPF jump`);
}

/** A rule as instructions: its conditions, each falling through to the next, then its return. */
function ruleCode(r: SeccompRule): BpfInsn[] {
  const blocks = r.conditions.map(conditionCode);
  const total = blocks.reduce((n, b) => n + b.length, 0) + 1;
  const out: BpfInsn[] = [];
  for (const b of blocks) {
    const end = out.length + b.length;
    for (const p of b) {
      const here = out.length;
      const off = (t: Target) => (t === 'next' ? end - here - 1 : t === 'fail' ? total - here - 1 : 0);
      const [jt, jf] = [off(p.jt), off(p.jf)];
      if (jt > 255 || jf > 255) tooLarge(`a rule of call ${r.nr}`);
      out.push(insn(p.code, p.k, jt, jf));
    }
  }
  out.push(ret(r.action));
  return out;
}

/** The rules that decide each call, grouped by number (see {@link SeccompProgram.rules}). */
export function rulesByCall(p: SeccompProgram): Map<number, SeccompRule[]> {
  const byNr = new Map<number, SeccompRule[]>();
  for (const r of p.rules) {
    if (r.action >>> 0 === p.defaultAction >>> 0) continue;
    const list = byNr.get(r.nr) ?? [];
    if (list.length === 1 && list[0]!.conditions.length === 0) continue;
    if (r.conditions.length === 0) byNr.set(r.nr, [r]);
    else byNr.set(r.nr, [...list, r]);
  }
  return byNr;
}

/**
 * Compiles a program for x86_64. Errors (user): `stage1.seccomp.too-large` when it exceeds the
 * kernel's 4096 instructions or a rule does not fit a conditional jump.
 */
export function assembleSeccomp(p: SeccompProgram): BpfInsn[] {
  const insns: BpfInsn[] = [
    insn(BPF_LD_W_ABS, DATA_ARCH),
    insn(BPF_JMP_JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
    ret(SECCOMP_RET_KILL_PROCESS),
    insn(BPF_LD_W_ABS, DATA_NR),
    insn(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 0, 1),
    ret(SECCOMP_RET_KILL_PROCESS),
  ];
  const byNr = rulesByCall(p);
  for (const nr of [...byNr.keys()].sort((a, b) => a - b)) {
    const rules = byNr.get(nr)!;
    const body = rules.flatMap(ruleCode);
    // every path through the body returns, so the accumulator still holds nr when it is skipped
    if (rules.at(-1)!.conditions.length > 0) body.push(ret(p.defaultAction));
    if (body.length <= 255) insns.push(insn(BPF_JMP_JEQ_K, nr, 0, body.length));
    else insns.push(insn(BPF_JMP_JEQ_K, nr, 1, 0), insn(BPF_JMP_JA, body.length));
    insns.push(...body);
  }
  insns.push(ret(p.defaultAction));
  if (insns.length > BPF_MAX_INSNS) {
    throw userError('stage1.seccomp.too-large', `seccomp filter has ${insns.length} instructions, more than the kernel's ${BPF_MAX_INSNS}`);
  }
  return insns;
}

/** The raw `struct sock_filter` array, 8 bytes per instruction, little-endian. */
export function seccompBytes(insns: readonly BpfInsn[]): Buffer {
  const bytes = Buffer.alloc(insns.length * 8);
  insns.forEach((i, n) => {
    bytes.writeUInt16LE(i.code, n * 8);
    bytes.writeUInt8(i.jt, n * 8 + 2);
    bytes.writeUInt8(i.jf, n * 8 + 3);
    bytes.writeUInt32LE(i.k >>> 0, n * 8 + 4);
  });
  return bytes;
}

/**
 * Runs a program on one call, as the kernel would (a classic-BPF interpreter for the
 * instructions {@link assembleSeccomp} emits): `args` are the call's arguments (missing ones 0).
 * For tests and `--debug` diagnostics.
 */
export function evaluateSeccompFilter(insns: readonly BpfInsn[], nr: number, arch = AUDIT_ARCH_X86_64, args: ReadonlyArray<bigint | number> = []): number {
  const word = (off: number): number => {
    if (off === DATA_NR) return nr >>> 0;
    if (off === DATA_ARCH) return arch >>> 0;
    const i = Math.floor((off - DATA_ARGS) / 8);
    if (off < DATA_ARGS || i > 5 || off % 4 !== 0) throw new Error(`unsupported load at offset ${off}`);
    const v = BigInt.asUintN(64, BigInt(args[i] ?? 0));
    return off % 8 === 0 ? lo(v) : hi(v);
  };
  let acc = 0;
  for (let pc = 0; pc < insns.length; pc++) {
    const i = insns[pc]!;
    const k = i.k >>> 0;
    switch (i.code) {
      case BPF_LD_W_ABS:
        acc = word(k);
        break;
      case BPF_ALU_AND_K:
        acc = (acc & k) >>> 0;
        break;
      case BPF_JMP_JA:
        pc += k;
        break;
      case BPF_JMP_JEQ_K:
        pc += acc === k ? i.jt : i.jf;
        break;
      case BPF_JMP_JGT_K:
        pc += acc > k ? i.jt : i.jf;
        break;
      case BPF_JMP_JGE_K:
        pc += acc >= k ? i.jt : i.jf;
        break;
      case BPF_RET_K:
        return k;
      default:
        throw new Error(`unsupported BPF instruction 0x${i.code.toString(16)}`);
    }
  }
  throw new Error('BPF program fell off its end');
}
