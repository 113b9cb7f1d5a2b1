/**
 * OCI / Docker seccomp profiles compiled to BPF: argument conditions (64-bit, every operator),
 * rule selection and order, actions, includes/excludes, and the profiles critest uses. The
 * programs run in the package's BPF interpreter, which executes them as the kernel does.
 */
import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import { parseSeccompProfile } from '@rktnetes/stage1-abi';
import {
  assembleSeccomp,
  AUDIT_ARCH_X86_64,
  compileSeccompFilter,
  evaluateSeccompFilter,
  kernelAtLeast,
  profileAction,
  profileRuleSet,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
  SYSCALLS_X86_64,
  type SeccompCondition,
} from '@rktnetes/seccomp';

const nr = (name: string) => {
  const n = SYSCALLS_X86_64[name];
  if (n === undefined) throw new Error(`no syscall ${name}`);
  return n;
};
const EPERM = SECCOMP_RET_ERRNO | 1;
const compile = (profile: unknown, caps: string[] = [], kernel = '6.1.0') =>
  compileSeccompFilter(profileRuleSet(parseSeccompProfile(JSON.stringify(profile), 'test'), { caps, kernel }));
const run = (f: ReturnType<typeof compile>, call: string, args: Array<bigint | number> = []) => evaluateSeccompFilter(f.insns, nr(call), AUDIT_ARCH_X86_64, args);

/** What libseccomp decides for one condition, on unsigned 64-bit values. */
function reference(c: SeccompCondition, arg: bigint): boolean {
  switch (c.op) {
    case 'EQ':
      return arg === c.value;
    case 'NE':
      return arg !== c.value;
    case 'LT':
      return arg < c.value;
    case 'LE':
      return arg <= c.value;
    case 'GT':
      return arg > c.value;
    case 'GE':
      return arg >= c.value;
    case 'MASKED_EQ':
      return (arg & c.value) === c.valueTwo;
  }
}

test('every operator compares the whole 64-bit argument as libseccomp does', (t) => {
  const M = (1n << 64n) - 1n;
  const interesting = [0n, 1n, 7n, 8n, 9n, 0xffffffffn, 0x100000000n, 0x100000001n, 0x1ffffffffn, 0xfffffffe00000000n, 0x7fffffffffffffffn, M - 1n, M];
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return BigInt(seed) * BigInt(seed * 7 + 1);
  };
  const values = [...interesting, ...Array.from({ length: 12 }, () => BigInt.asUintN(64, rnd() << BigInt(seed % 40)))];
  for (const op of ['EQ', 'NE', 'LT', 'LE', 'GT', 'GE', 'MASKED_EQ'] as const) {
    const seen = { true: 0, false: 0 };
    for (const value of values.slice(0, 16)) {
      const c: SeccompCondition = { index: 2, op, value, valueTwo: op === 'MASKED_EQ' ? value & 0xff00000000ffn : 0n };
      const insns = assembleSeccomp({ defaultAction: SECCOMP_RET_ALLOW, rules: [{ nr: 1, action: EPERM, conditions: [c] }] });
      for (const arg of values) {
        const got = evaluateSeccompFilter(insns, 1, AUDIT_ARCH_X86_64, [0, 0, arg]) === EPERM;
        if (got !== reference(c, arg)) t.fail(`${op} ${value} on ${arg}: filter says ${got}`);
        seen[`${got}`]++;
      }
    }
    t.true(seen.true > 10 && seen.false > 10, `${op} matched ${seen.true} times, missed ${seen.false} times`);
  }
});

test('conditions of a rule must all hold; two on one argument make separate rules (runc)', (t) => {
  const f = compile({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [
      { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 97, args: [{ index: 0, value: 16, op: 'SCMP_CMP_EQ' }, { index: 2, value: 9, op: 'SCMP_CMP_EQ' }] },
      { names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }, { index: 0, value: 131072, op: 'SCMP_CMP_EQ' }] },
    ],
  });
  t.is(run(f, 'socket', [16, 3, 9]), SECCOMP_RET_ERRNO | 97, 'AF_NETLINK, NETLINK_AUDIT');
  t.is(run(f, 'socket', [16, 3, 0]), SECCOMP_RET_ALLOW);
  t.is(run(f, 'socket', [2, 1, 9]), SECCOMP_RET_ALLOW);
  t.is(run(f, 'personality', [8]), EPERM);
  t.is(run(f, 'personality', [131072]), EPERM);
  t.is(run(f, 'personality', [0]), SECCOMP_RET_ALLOW);
  t.is(run(f, 'read'), SECCOMP_RET_ALLOW);
});

test('a whitelist with argument conditions: the first matching rule decides, else the default', (t) => {
  const f = compile({
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 38,
    syscalls: [
      { names: ['read', 'write', 'exit_group'], action: 'SCMP_ACT_ALLOW' },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['kill'], action: 'SCMP_ACT_KILL_PROCESS', args: [{ index: 1, value: 9, op: 'SCMP_CMP_EQ' }] },
      { names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 32, op: 'SCMP_CMP_LE' }] },
    ],
  });
  t.is(run(f, 'read'), SECCOMP_RET_ALLOW);
  t.is(run(f, 'openat'), SECCOMP_RET_ERRNO | 38, 'defaultErrnoRet');
  t.is(run(f, 'clone', [0x11]), SECCOMP_RET_ALLOW, 'no namespace flags');
  t.is(run(f, 'clone', [0x10000000 | 0x11]), SECCOMP_RET_ERRNO | 38, 'CLONE_NEWUSER');
  t.is(run(f, 'kill', [1, 9]), SECCOMP_RET_KILL_PROCESS, 'the first rule wins');
  t.is(run(f, 'kill', [1, 15]), SECCOMP_RET_ALLOW);
  t.is(run(f, 'kill', [1, 64]), SECCOMP_RET_ERRNO | 38);
  t.is(run(f, 'clone3'), SECCOMP_RET_ERRNO | 38, 'clone3 not named in a deny-by-default profile: ENOSYS');
});

test('an unconditional rule decides its call alone; rules with the default action are left out', (t) => {
  const f = compile({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [
      { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 1, value: 0o700, op: 'SCMP_CMP_EQ' }] },
      { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 30 },
      { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 28 },
      { names: ['read'], action: 'SCMP_ACT_ALLOW' },
    ],
  });
  t.is(run(f, 'mkdir', [0, 0o700]), SECCOMP_RET_ERRNO | 30);
  t.is(run(f, 'mkdir', [0, 0o755]), SECCOMP_RET_ERRNO | 30);
  t.is(run(f, 'clone3'), SECCOMP_RET_ALLOW, 'an allow-by-default profile leaves clone3 alone');
  // only the arch and x32 checks, one compare-and-return for mkdir, the default
  t.is(f.insns.length, 6 + 2 + 1);
});

test('every action has its return value', (t) => {
  t.is(profileAction('SCMP_ACT_ALLOW', undefined), SECCOMP_RET_ALLOW);
  t.is(profileAction('SCMP_ACT_ERRNO', undefined), EPERM, 'EPERM without errnoRet (runc)');
  t.is(profileAction('SCMP_ACT_ERRNO', 95), SECCOMP_RET_ERRNO | 95);
  t.is(profileAction('SCMP_ACT_KILL', undefined), SECCOMP_RET_KILL_THREAD);
  t.is(profileAction('SCMP_ACT_KILL_THREAD', undefined), SECCOMP_RET_KILL_THREAD);
  t.is(profileAction('SCMP_ACT_KILL_PROCESS', undefined), SECCOMP_RET_KILL_PROCESS);
  t.is(profileAction('SCMP_ACT_TRAP', undefined), SECCOMP_RET_TRAP);
  t.is(profileAction('SCMP_ACT_LOG', undefined), SECCOMP_RET_LOG);
  t.is(profileAction('SCMP_ACT_TRACE', 5), SECCOMP_RET_TRACE | 5);
  const f = compile({ defaultAction: 'SCMP_ACT_LOG', syscalls: [{ names: ['reboot'], action: 'SCMP_ACT_KILL' }] });
  t.is(run(f, 'reboot'), SECCOMP_RET_KILL_THREAD);
  t.is(run(f, 'read'), SECCOMP_RET_LOG);
  t.is(evaluateSeccompFilter(f.insns, nr('read'), 0x40000003), SECCOMP_RET_KILL_PROCESS, 'other architectures are killed');
});

test('includes and excludes select rules by capability, architecture and kernel, as Docker does', (t) => {
  const profile = {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
      { names: ['mount', 'umount2'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['bpf'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN', 'CAP_BPF'] } },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_SYS_ADMIN'] }, args: [{ index: 0, value: 0x7e020000, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
      { names: ['sync_file_range2'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['ppc64le'] } },
      { names: ['io_uring_setup'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '5.1' } },
      { names: ['uselib'], action: 'SCMP_ACT_ALLOW', excludes: { minKernel: '5.0' } },
    ],
  };
  const plain = compile(profile, ['CAP_CHOWN'], '4.19.0');
  t.is(run(plain, 'mount'), EPERM);
  t.is(run(plain, 'clone', [0x11]), SECCOMP_RET_ALLOW);
  t.is(run(plain, 'clone', [0x20000]), EPERM, 'CLONE_NEWNS without CAP_SYS_ADMIN');
  t.is(run(plain, 'arch_prctl'), SECCOMP_RET_ALLOW);
  t.is(run(plain, 'io_uring_setup'), EPERM, 'kernel too old');
  t.is(run(plain, 'uselib'), SECCOMP_RET_ALLOW);
  const admin = compile(profile, ['CAP_SYS_ADMIN'], '6.1.0-18-amd64');
  t.is(run(admin, 'mount'), SECCOMP_RET_ALLOW);
  t.is(run(admin, 'clone', [0x20000]), SECCOMP_RET_ALLOW);
  t.is(run(admin, 'bpf'), EPERM, 'every included capability is needed');
  t.is(run(admin, 'io_uring_setup'), SECCOMP_RET_ALLOW);
  t.is(run(admin, 'uselib'), EPERM);
  t.true(kernelAtLeast('6.18.44-fc', '6.1'));
  t.false(kernelAtLeast('4.9', '4.10'));
  t.true(kernelAtLeast('5.10', '5.10.0'));
});

test('names x86_64 lacks are skipped and reported; a legacy "name" counts', (t) => {
  const f = compile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chown32', 'chown'], action: 'SCMP_ACT_ERRNO' }, { name: 'lchown', action: 'SCMP_ACT_ERRNO' }] });
  t.deepEqual(f.unknown, ['chown32']);
  t.is(run(f, 'chown'), EPERM);
  t.is(run(f, 'lchown'), EPERM);
});

test('a call with more rules than a conditional jump spans is reached with a long jump', (t) => {
  const syscalls = Array.from({ length: 80 }, (_, i) => ({ names: ['ioctl'], action: 'SCMP_ACT_ERRNO', errnoRet: i + 1, args: [{ index: 1, value: 0x5400 + i, op: 'SCMP_CMP_EQ' }] }));
  const f = compile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [...syscalls, { names: ['write'], action: 'SCMP_ACT_ERRNO', errnoRet: 5 }] });
  t.true(f.insns.some((i) => i.code === 0x05), 'a BPF_JA');
  t.is(run(f, 'ioctl', [0, 0x5400 + 79]), SECCOMP_RET_ERRNO | 80);
  t.is(run(f, 'ioctl', [0, 0x5400 + 3]), SECCOMP_RET_ERRNO | 4);
  t.is(run(f, 'ioctl', [0, 0x9999]), SECCOMP_RET_ALLOW);
  t.is(run(f, 'write'), SECCOMP_RET_ERRNO | 5);
  t.is(run(f, 'read'), SECCOMP_RET_ALLOW);
});

test("critest's localhost profiles block sethostname, chmod and fchmodat with EPERM", (t) => {
  const host = compile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['sethostname'], action: 'SCMP_ACT_ERRNO' }] });
  t.is(run(host, 'sethostname'), EPERM);
  t.is(run(host, 'setdomainname'), SECCOMP_RET_ALLOW);
  const chmod = compile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chmod', 'fchmodat'], action: 'SCMP_ACT_ERRNO' }] });
  for (const c of ['chmod', 'fchmodat']) t.is(run(chmod, c), EPERM, c);
  t.is(run(chmod, 'fchmod'), SECCOMP_RET_ALLOW);
});

test('values beyond 2^53 are exact, from numbers in the text or strings', (t) => {
  const text = '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["lseek"],"action":"SCMP_ACT_ERRNO","args":[{"index":1,"value":18446744073709551615,"op":"SCMP_CMP_EQ"},{"index":2,"value":"9007199254740993","op":"SCMP_CMP_EQ"}]}]}';
  const p = parseSeccompProfile(text, 'test');
  t.is(p.syscalls[0]!.args[0]!.value, (1n << 64n) - 1n);
  t.is(p.syscalls[0]!.args[1]!.value, 9007199254740993n);
  const f = compileSeccompFilter(profileRuleSet(p, { caps: [] }));
  t.is(run(f, 'lseek', [0, (1n << 64n) - 1n, 9007199254740993n]), EPERM);
  t.is(run(f, 'lseek', [0, (1n << 64n) - 1n, 9007199254740992n]), SECCOMP_RET_ALLOW);
});

test('a profile too large for the kernel is refused', (t) => {
  const syscalls = Array.from({ length: 700 }, (_, i) => ({ names: ['ioctl'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: i, op: 'SCMP_CMP_GT' }, { index: 2, value: i, op: 'SCMP_CMP_LT' }] }));
  t.true(hasCode(t.throws(() => compile({ defaultAction: 'SCMP_ACT_ALLOW', syscalls })), 'stage1.seccomp.too-large'));
});
