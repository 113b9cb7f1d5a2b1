/**
 * Which filter an app gets and whether it runs with no_new_privs, as every flavor decides it:
 * `--disable-seccomp`, the profile annotation over the isolators, the last isolator, the
 * default whitelist, and rkt's no_new_privs rule.
 */
import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import { parseIsolator, type TypedIsolator } from '@rktnetes/schema';
import { appNoNewPrivileges, appSeccomp, compileSeccompFilter, evaluateSeccompFilter, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SYSCALLS_X86_64, type AppSeccompInput } from '@rktnetes/seccomp';
import { ANNOTATION_APP_SECCOMP_PROFILE } from '@rktnetes/stage1-abi';

const iso = (name: string, value: unknown): TypedIsolator => parseIsolator({ name, value });
const input = (over: Partial<AppSeccompInput> = {}): AppSeccompInput => ({ name: 'app', isolators: [], caps: [], disabled: false, ...over });
const profile = (p: unknown) => [{ name: ANNOTATION_APP_SECCOMP_PROFILE, value: JSON.stringify(p) }];
const decide = (spec: ReturnType<typeof appSeccomp>, call: string) => evaluateSeccompFilter(compileSeccompFilter(spec!).insns, SYSCALLS_X86_64[call]!);

test('without isolators or annotation: the default whitelist', (t) => {
  const s = appSeccomp(input());
  t.like(s, { source: 'default', mode: 'whitelist' });
  t.is(decide(s, 'unshare'), SECCOMP_RET_ERRNO | 1);
});

test('--disable-seccomp: no filter, whatever the isolators and annotation say', (t) => {
  const s = appSeccomp(input({ disabled: true, isolators: [iso('os/linux/seccomp-remove-set', { set: ['mkdir'] })], annotations: profile({ defaultAction: 'SCMP_ACT_ERRNO' }) }));
  t.is(s, undefined);
});

test('the last seccomp isolator counts, retain or remove', (t) => {
  const s = appSeccomp(input({ isolators: [iso('os/linux/seccomp-retain-set', { set: ['read'] }), iso('os/linux/seccomp-remove-set', { set: ['mkdir'], errno: 'EACCES' })] }));
  t.like(s, { source: 'isolator', mode: 'blacklist', syscalls: ['mkdir'] });
  t.is(decide(s, 'mkdir'), SECCOMP_RET_ERRNO | 13);
  t.is(appSeccomp(input({ isolators: [iso('os/linux/seccomp-retain-set', { set: ['@appc.io/all'] })] })), undefined, 'unconfined');
});

test('the profile annotation replaces the isolators; its rules are selected by the capabilities and the kernel', (t) => {
  const p = profile({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [
      { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 28 },
      { names: ['chmod'], action: 'SCMP_ACT_ERRNO', excludes: { caps: ['CAP_FOWNER'] } },
      { names: ['rmdir'], action: 'SCMP_ACT_ERRNO', includes: { minKernel: '9.0' } },
    ],
  });
  const isolators = [iso('os/linux/seccomp-retain-set', { set: ['read'] })];
  const plain = appSeccomp(input({ isolators, annotations: p, kernel: '6.1.0' }));
  t.is(plain?.source, 'profile');
  t.is(decide(plain, 'mkdir'), SECCOMP_RET_ERRNO | 28);
  t.is(decide(plain, 'chmod'), SECCOMP_RET_ERRNO | 1);
  t.is(decide(plain, 'rmdir'), SECCOMP_RET_ALLOW, 'minKernel above the kernel the app runs on');
  t.is(decide(plain, 'openat'), SECCOMP_RET_ALLOW, 'the retain set is not applied');
  const fowner = appSeccomp(input({ isolators, annotations: p, caps: ['CAP_FOWNER'], kernel: '9.1' }));
  t.is(decide(fowner, 'chmod'), SECCOMP_RET_ALLOW);
  t.is(decide(fowner, 'rmdir'), SECCOMP_RET_ERRNO | 1);
});

test('a malformed profile, group or errno is a user error', (t) => {
  t.true(hasCode(t.throws(() => appSeccomp(input({ annotations: [{ name: ANNOTATION_APP_SECCOMP_PROFILE, value: '{' }] }))), 'stage1.seccomp.profile-invalid'));
  t.true(hasCode(t.throws(() => appSeccomp(input({ isolators: [iso('os/linux/seccomp-remove-set', { set: ['@nope/x'] })] }))), 'stage1.seccomp.unknown-group'));
  t.true(hasCode(t.throws(() => appSeccomp(input({ isolators: [iso('os/linux/seccomp-remove-set', { set: ['mkdir'], errno: 'ENOPE' })] }))), 'stage1.seccomp.invalid-errno'));
});

test('no_new_privs: the isolator when there is one, else set for a non-root app with a filter', (t) => {
  const yes = [iso('os/linux/no-new-privileges', true)];
  const no = [iso('os/linux/no-new-privileges', false)];
  t.false(appNoNewPrivileges(no, true, 1000), 'an explicit false wins over the rule');
  t.true(appNoNewPrivileges(yes, false, 0));
  t.true(appNoNewPrivileges([...no, ...yes], false, 0), 'the last isolator counts');
  t.true(appNoNewPrivileges([], true, 1000));
  t.false(appNoNewPrivileges([], true, 0), 'root keeps its privileges');
  t.false(appNoNewPrivileges([], false, 1000), 'no filter, no rule');
});
