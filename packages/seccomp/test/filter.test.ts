import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import { parseIsolator, type SeccompIsolator } from '@rktnetes/schema';
import {
  ALWAYS_ALLOWED,
  AUDIT_ARCH_X86_64,
  DEFAULT_BLACKLIST,
  DEFAULT_WHITELIST,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SYSCALLS_X86_64,
  compileSeccompFilter,
  evaluateSeccompFilter,
  seccompPolicy,
} from '@rktnetes/seccomp';

const nr = (name: string) => {
  const n = SYSCALLS_X86_64[name];
  if (n === undefined) throw new Error(`no syscall ${name}`);
  return n;
};
const iso = (name: string, value: unknown) => parseIsolator({ name, value }) as SeccompIsolator;
const EPERM = SECCOMP_RET_ERRNO | 1;

test('the syscall table has the x86_64 numbers', (t) => {
  t.is(SYSCALLS_X86_64.read, 0);
  t.is(SYSCALLS_X86_64.execve, 59);
  t.is(SYSCALLS_X86_64.pivot_root, 155);
  t.is(SYSCALLS_X86_64.clone3, 435);
  t.is(SYSCALLS_X86_64.mseal, 462);
  t.is(SYSCALLS_X86_64.chown32, undefined);
});

test('without an isolator the default whitelist applies and blocked calls fail with EPERM', (t) => {
  const p = seccompPolicy(undefined)!;
  t.is(p.mode, 'whitelist');
  t.is(p.source, 'default');
  t.deepEqual(p.errno, { name: 'EPERM', value: 1 });
  const f = compileSeccompFilter(p);
  for (const ok of ['read', 'write', 'openat', 'clone', 'rseq', 'statx', 'execve', 'socket', 'chroot']) t.is(evaluateSeccompFilter(f.insns, nr(ok)), SECCOMP_RET_ALLOW, ok);
  for (const blocked of ['mount', 'umount2', 'unshare', 'setns', 'reboot', 'swapoff', 'keyctl', 'ptrace', 'bpf', 'kexec_load']) t.is(evaluateSeccompFilter(f.insns, nr(blocked)), EPERM, blocked);
  t.true(f.unknown.includes('chown32'), 'names of other ABIs are skipped');
});

test('the default lists do not overlap and include what current C libraries need', (t) => {
  const white = new Set(DEFAULT_WHITELIST);
  t.deepEqual(DEFAULT_BLACKLIST.filter((s) => white.has(s)), []);
  for (const s of ['rseq', 'clone', 'statx', 'close_range', 'faccessat2', 'openat2', 'set_robust_list', 'prlimit64']) t.true(white.has(s), s);
});

test('clone3 fails with ENOSYS in whitelist mode so that libc falls back to clone', (t) => {
  const f = compileSeccompFilter(seccompPolicy(undefined)!);
  t.is(evaluateSeccompFilter(f.insns, nr('clone3')), SECCOMP_RET_ERRNO | 38);
  const listed = compileSeccompFilter(seccompPolicy(iso('os/linux/seccomp-retain-set', { set: ['clone3', 'read'] }))!);
  t.is(evaluateSeccompFilter(listed.insns, nr('clone3')), SECCOMP_RET_ALLOW);
});

test('foreign architectures and x32 calls kill the process', (t) => {
  const f = compileSeccompFilter(seccompPolicy(undefined)!);
  t.is(evaluateSeccompFilter(f.insns, nr('read'), 0x40000003 /* AUDIT_ARCH_I386 */), SECCOMP_RET_KILL_PROCESS);
  t.is(evaluateSeccompFilter(f.insns, 0x40000000 | nr('read')), SECCOMP_RET_KILL_PROCESS);
  t.is(evaluateSeccompFilter(f.insns, nr('read'), AUDIT_ARCH_X86_64), SECCOMP_RET_ALLOW);
});

test('a retain set is a whitelist that kills without errno, returns the errno with one', (t) => {
  const kill = seccompPolicy(iso('os/linux/seccomp-retain-set', { set: ['read', 'write'] }))!;
  t.is(kill.mode, 'whitelist');
  t.is(kill.errno, undefined);
  const fk = compileSeccompFilter(kill);
  t.is(evaluateSeccompFilter(fk.insns, nr('read')), SECCOMP_RET_ALLOW);
  t.is(evaluateSeccompFilter(fk.insns, nr('openat')), SECCOMP_RET_KILL_PROCESS);
  for (const s of ALWAYS_ALLOWED.filter((x) => x in SYSCALLS_X86_64)) t.is(evaluateSeccompFilter(fk.insns, nr(s)), SECCOMP_RET_ALLOW, `${s} is always allowed`);
  const withErrno = compileSeccompFilter(seccompPolicy(iso('os/linux/seccomp-retain-set', { set: ['read'], errno: 'EACCES' }))!);
  t.is(evaluateSeccompFilter(withErrno.insns, nr('openat')), SECCOMP_RET_ERRNO | 13);
});

test('a remove set is a blacklist; groups expand; always-allowed calls stay allowed', (t) => {
  const p = seccompPolicy(iso('os/linux/seccomp-remove-set', { set: ['@rkt/default-blacklist', 'socket', 'execve'], errno: 'ENOSYS' }))!;
  t.is(p.mode, 'blacklist');
  const f = compileSeccompFilter(p);
  t.is(evaluateSeccompFilter(f.insns, nr('socket')), SECCOMP_RET_ERRNO | 38);
  t.is(evaluateSeccompFilter(f.insns, nr('mount')), SECCOMP_RET_ERRNO | 38);
  t.is(evaluateSeccompFilter(f.insns, nr('read')), SECCOMP_RET_ALLOW);
  t.is(evaluateSeccompFilter(f.insns, nr('execve')), SECCOMP_RET_ALLOW);
});

test('@appc.io/all in a retain set means no filter; @appc.io/empty in a remove set the default whitelist', (t) => {
  t.is(seccompPolicy(iso('os/linux/seccomp-retain-set', { set: ['@appc.io/all'] })), undefined);
  const p = seccompPolicy(iso('os/linux/seccomp-remove-set', { set: ['@appc.io/empty'] }))!;
  t.is(p.mode, 'whitelist');
  t.deepEqual(p.syscalls, [...DEFAULT_WHITELIST]);
  t.is(p.errno, undefined, 'rkt: the isolator decides the action, none means kill');
});

test('unknown groups and errno names are errors', (t) => {
  t.true(hasCode(t.throws(() => seccompPolicy(iso('os/linux/seccomp-retain-set', { set: ['@systemd/clock'] }))), 'stage1.seccomp.unknown-group'));
  t.true(hasCode(t.throws(() => seccompPolicy(iso('os/linux/seccomp-retain-set', { set: ['@foo/bar'] }))), 'stage1.seccomp.unknown-group'));
  t.true(hasCode(t.throws(() => seccompPolicy(iso('os/linux/seccomp-retain-set', { set: ['read'], errno: 'ENOTANERRNO' }))), 'stage1.seccomp.invalid-errno'));
});

test('the program is struct sock_filter[] in little-endian', (t) => {
  const f = compileSeccompFilter({ mode: 'whitelist', syscalls: ['read'], source: 'isolator' });
  t.is(f.bytes.length, f.insns.length * 8);
  // first instruction: BPF_LD|BPF_W|BPF_ABS, k = offsetof(seccomp_data, arch)
  t.deepEqual([...f.bytes.subarray(0, 8)], [0x20, 0, 0, 0, 4, 0, 0, 0]);
  // last instruction: return KILL_PROCESS
  t.deepEqual([...f.bytes.subarray(-8)], [0x06, 0, 0, 0, 0, 0, 0, 0x80]);
});
