import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import {
  ANNOTATION_APP_MASKED_PATHS,
  ANNOTATION_APP_READONLY_PATHS,
  ANNOTATION_APP_SECCOMP_PROFILE,
  appPathLists,
  compactSeccompProfile,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  formatPathList,
  parsePathList,
  parseSeccompProfile,
} from '@rktnetes/stage1-abi';

test('the app annotations of the security extensions', (t) => {
  t.is(ANNOTATION_APP_SECCOMP_PROFILE, 'rktnetes.io/stage2/seccomp-profile');
  t.is(ANNOTATION_APP_MASKED_PATHS, 'rktnetes.io/stage2/masked-paths');
  t.is(ANNOTATION_APP_READONLY_PATHS, 'rktnetes.io/stage2/readonly-paths');
});

test('default masked and read-only paths: kernel internals hidden, kernel tunables read-only', (t) => {
  for (const p of ['/proc/kcore', '/proc/kallsyms', '/proc/keys', '/proc/timer_list', '/sys/firmware', '/sys/fs']) t.true(DEFAULT_MASKED_PATHS.includes(p), p);
  t.deepEqual([...DEFAULT_READONLY_PATHS], ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  for (const p of [...DEFAULT_MASKED_PATHS, ...DEFAULT_READONLY_PATHS]) t.deepEqual(parsePathList(formatPathList([p]), 'x'), [p], 'normalised absolute paths');
  t.true(Object.isFrozen(DEFAULT_MASKED_PATHS) && Object.isFrozen(DEFAULT_READONLY_PATHS));
});

test('appPathLists: an annotation replaces its defaults (even empty, even with --disable-paths); else the defaults unless disabled', (t) => {
  t.deepEqual(appPathLists(undefined, false), { masked: [...DEFAULT_MASKED_PATHS], readOnly: [...DEFAULT_READONLY_PATHS] });
  t.deepEqual(appPathLists([], true), { masked: [], readOnly: [] });
  const masked = { name: ANNOTATION_APP_MASKED_PATHS, value: '["/etc//secret/", "/proc/version"]' };
  t.deepEqual(appPathLists([masked], false), { masked: ['/etc/secret', '/proc/version'], readOnly: [...DEFAULT_READONLY_PATHS] });
  t.deepEqual(appPathLists([masked], true), { masked: ['/etc/secret', '/proc/version'], readOnly: [] });
  t.deepEqual(appPathLists([{ name: ANNOTATION_APP_READONLY_PATHS, value: '[]' }], false), { masked: [...DEFAULT_MASKED_PATHS], readOnly: [] });
  const lists = appPathLists(undefined, false);
  lists.masked.push('/x');
  t.false(DEFAULT_MASKED_PATHS.includes('/x'), 'the caller gets copies');
  const e = t.throws(() => appPathLists([{ name: ANNOTATION_APP_READONLY_PATHS, value: '["relative"]' }], false));
  t.true(hasCode(e, 'stage1.annotation.invalid'));
});

test('path lists: a JSON array of absolute paths, normalised, duplicates dropped, empty allowed', (t) => {
  t.is(formatPathList(['/proc/kcore', '/a b,c']), '["/proc/kcore","/a b,c"]');
  t.deepEqual(parsePathList(formatPathList(['/proc/kcore', '/a b,c']), 'x'), ['/proc/kcore', '/a b,c']);
  t.deepEqual(parsePathList('["/a//b/", "/a/b", "/c/./d"]', 'x'), ['/a/b', '/c/d']);
  t.deepEqual(parsePathList('[]', 'x'), []);
  for (const bad of ['', '"/a"', '{}', '["a"]', '[1]', '["/a\\u0000"]', '[null]']) {
    const e = t.throws(() => parsePathList(bad, ANNOTATION_APP_MASKED_PATHS), undefined, bad);
    t.true(hasCode(e, 'stage1.annotation.invalid'), bad);
    t.regex(e!.message, /^annotation rktnetes\.io\/stage2\/masked-paths: /);
  }
});

test('a seccomp profile in the OCI format, with Docker extensions', (t) => {
  const p = parseSeccompProfile(
    JSON.stringify({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 38,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: [] }],
      flags: ['SECCOMP_FILTER_FLAG_LOG'],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', comment: 'ignored' },
        { name: 'clone', action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }], excludes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['kill'], action: 'SCMP_ACT_KILL_PROCESS', errnoRet: null, args: null, includes: { arches: ['amd64'], minKernel: '4.8' } },
        { names: ['ptrace'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, includes: {} },
      ],
    }),
    'test.json',
  );
  t.is(p.defaultAction, 'SCMP_ACT_ERRNO');
  t.is(p.defaultErrnoRet, 38);
  t.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
  t.deepEqual(p.flags, ['SECCOMP_FILTER_FLAG_LOG']);
  t.deepEqual(p.syscalls[0], { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', args: [] });
  t.deepEqual(p.syscalls[1], {
    names: ['clone'],
    action: 'SCMP_ACT_ALLOW',
    args: [{ index: 0, value: 2114060288n, valueTwo: 0n, op: 'SCMP_CMP_MASKED_EQ' }],
    excludes: { caps: ['CAP_SYS_ADMIN'] },
  });
  t.deepEqual(p.syscalls[2], { names: ['kill'], action: 'SCMP_ACT_KILL_PROCESS', args: [], includes: { arches: ['amd64'], minKernel: '4.8' } });
  t.deepEqual(p.syscalls[3], { names: ['ptrace'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [] });
  t.deepEqual(parseSeccompProfile('{"defaultAction":"SCMP_ACT_ALLOW"}', 'x'), { defaultAction: 'SCMP_ACT_ALLOW', architectures: [], flags: [], syscalls: [] });
});

test('argument values are unsigned 64-bit, exact beyond 2^53', (t) => {
  const p = parseSeccompProfile('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ERRNO","args":[{"index":5,"value":18446744073709551615,"valueTwo":"42","op":"SCMP_CMP_NE"}]}]}', 'x');
  t.is(p.syscalls[0]!.args[0]!.value, 18446744073709551615n);
  t.is(p.syscalls[0]!.args[0]!.valueTwo, 42n);
  const compact = compactSeccompProfile('{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": [{"names": ["x"], "action": "SCMP_ACT_LOG", "args": [{"index": 0, "value": 18446744073709551615, "op": "SCMP_CMP_EQ"}]}]\n}', 'x');
  t.is(compact, '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_LOG","args":[{"index":0,"value":"18446744073709551615","op":"SCMP_CMP_EQ"}]}]}');
  t.is(parseSeccompProfile(compact, 'annotation').syscalls[0]!.args[0]!.value, 18446744073709551615n, 'the compact form parses to the same value');
});

test('malformed profiles are refused with the source and what is wrong', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['not json', /not JSON/],
    ['[]', /must be a JSON object/],
    ['{}', /defaultAction is required/],
    ['{"defaultAction":"SCMP_ACT_NOPE"}', /defaultAction: unknown action "SCMP_ACT_NOPE"/],
    ['{"defaultAction":"SCMP_ACT_NOTIFY"}', /SCMP_ACT_NOTIFY is not supported/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","defaultErrnoRet":-1}', /defaultErrnoRet must be an integer/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":{}}', /syscalls must be a list/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ERRNO"}]}', /syscalls\[0\] names no system call/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"]}]}', /syscalls\[0\]\.action: unknown action undefined/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}', /args\[0\]\.index must be 0 to 5/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"EQ"}]}]}', /unknown operator "EQ"/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":-1,"op":"SCMP_CMP_EQ"}]}]}', /value must be an unsigned 64-bit integer/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":"18446744073709551616","op":"SCMP_CMP_EQ"}]}]}', /unsigned 64-bit/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","includes":{"minKernel":"new"}}]}', /minKernel must be a version/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[1],"action":"SCMP_ACT_ERRNO"}]}', /names must be a list of strings/],
  ];
  for (const [text, why] of cases) {
    const e = t.throws(() => parseSeccompProfile(text, '/etc/p.json'), undefined, text);
    t.true(hasCode(e, 'stage1.seccomp.profile-invalid'), text);
    t.regex(e!.message, /^seccomp profile \/etc\/p\.json: /, text);
    t.regex(e!.message, why, text);
  }
});
