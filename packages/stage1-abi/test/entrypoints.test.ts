import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import {
  STAGE1_INTERFACE_VERSIONS,
  buildAppAddArgs,
  buildAppArgs,
  buildAppRmArgs,
  buildAttachArgs,
  buildEnterArgs,
  buildGcArgs,
  buildStopArgs,
  parseAppAddArgs,
  parseAppRmArgs,
  parseAppStartArgs,
  parseAppStopArgs,
  parseAttachArgs,
  parseEnterArgs,
  parseGcArgs,
  parseStopArgs,
  type OmittedOption,
} from '@rktnetes/stage1-abi';

const uuid = '076292e6-54c4-4cc8-9fa7-679c5f7dcfd3';
const codeOf = (e: unknown) => (e as { code?: string }).code;

test('enter: --pid, --appname, --, command; never --debug', (t) => {
  for (const v of STAGE1_INTERFACE_VERSIONS) {
    t.deepEqual(buildEnterArgs({ pid: 42, appName: 'redis', command: ['/bin/sh', '-c', 'ls'], debug: true }, v), ['--pid=42', '--appname=redis', '--', '/bin/sh', '-c', 'ls']);
  }
  t.deepEqual(buildEnterArgs({ pid: 42, command: ['ps'] }, 1), ['--pid=42', '--', 'ps']);
  t.deepEqual(parseEnterArgs(['--pid=42', '--appname=redis', '--', '/bin/sh', '-c', 'ls']), { pid: 42, appName: 'redis', command: ['/bin/sh', '-c', 'ls'], debug: false });
  t.deepEqual(parseEnterArgs(['--debug', '--pid', '7', '--app=redis', 'env']), { pid: 7, appName: 'redis', command: ['env'], debug: true }, 'rkt crossing form --app= is accepted');
  t.deepEqual(parseEnterArgs(['--pid=7', '--', '--weird']), { pid: 7, command: ['--weird'], debug: false });
  t.is(codeOf(t.throws(() => parseEnterArgs(['--', 'ls']))), 'stage1.args.missing-argument');
  t.is(codeOf(t.throws(() => parseEnterArgs(['--pid=7', '--']))), 'stage1.args.missing-argument');
  t.is(codeOf(t.throws(() => parseEnterArgs(['--pid=x', '--', 'ls']))), 'stage1.args.invalid-value');
  t.is(codeOf(t.throws(() => parseEnterArgs(['--pid=7', '--uuid=x', '--', 'ls']))), 'stage1.args.unknown-flag');
  t.is(codeOf(t.throws(() => buildEnterArgs({ pid: 7, command: [] }, 1))), 'stage1.args.missing-argument');
  t.is(codeOf(t.throws(() => buildEnterArgs({ pid: 0, command: ['ls'] }, 1))), 'stage1.args.invalid-value');
});

test('gc: --local-config only from version 5', (t) => {
  const o = { uuid, debug: true, localConfig: '/etc/rkt' };
  for (const v of STAGE1_INTERFACE_VERSIONS) {
    const omitted: OmittedOption[] = [];
    const argv = buildGcArgs(o, v, { onOmit: (x) => omitted.push(x) });
    t.deepEqual(argv, v >= 5 ? ['--debug', '--local-config=/etc/rkt', uuid] : ['--debug', uuid], `v${v}`);
    t.is(omitted.length, v >= 5 ? 0 : 1);
    t.deepEqual(parseGcArgs(argv), v >= 5 ? { uuid, debug: true, localConfig: '/etc/rkt' } : { uuid, debug: true });
  }
  t.deepEqual(buildGcArgs({ uuid }, 6), [uuid]);
  t.true(hasCode(t.throws(() => buildGcArgs(o, 4, { strict: true })), 'stage1.args.unsupported'));
  t.deepEqual(parseGcArgs(['--local-config', '/etc/rkt', uuid]), { uuid, debug: false, localConfig: '/etc/rkt' }, 'rkt sends it as two arguments');
  t.is(codeOf(t.throws(() => parseGcArgs(['--force', uuid]))), 'stage1.args.unknown-flag');
  t.is(codeOf(t.throws(() => parseGcArgs([]))), 'stage1.args.missing-argument');
  t.is(codeOf(t.throws(() => parseGcArgs([uuid, uuid]))), 'stage1.args.unexpected-argument');
});

test('stop: [--force] uuid; never --debug', (t) => {
  t.deepEqual(buildStopArgs({ uuid, force: true, debug: true }, 1), ['--force', uuid]);
  t.deepEqual(buildStopArgs({ uuid }, 6), [uuid]);
  t.deepEqual(parseStopArgs(['--force', uuid]), { uuid, force: true, debug: false });
  t.deepEqual(parseStopArgs(['--debug', uuid]), { uuid, force: false, debug: true });
  t.is(codeOf(t.throws(() => parseStopArgs(['--net=host', uuid]))), 'stage1.args.unknown-flag');
  t.is(codeOf(t.throws(() => parseStopArgs(['--force']))), 'stage1.args.missing-argument');
});

test('app/add: rkt form first, documented extras only when asked', (t) => {
  t.deepEqual(buildAppAddArgs({ uuid, appName: 'redis' }, 5), ['--debug=false', `--uuid=${uuid}`, '--app=redis']);
  const full = { uuid, appName: 'redis', debug: true, disableCapabilitiesRestriction: true, disablePaths: true, disableSeccomp: true, privateUsers: { shift: 1000, count: 100 } };
  const argv = buildAppAddArgs(full, 6);
  t.deepEqual(argv, ['--debug=true', `--uuid=${uuid}`, '--app=redis', '--disable-capabilities-restriction', '--disable-paths', '--disable-seccomp', '--private-users=1000:100']);
  t.deepEqual(parseAppAddArgs(argv), full);
  t.deepEqual(parseAppAddArgs(['--debug=false', `--uuid=${uuid}`, '--app=redis']), {
    uuid,
    appName: 'redis',
    debug: false,
    disableCapabilitiesRestriction: false,
    disablePaths: false,
    disableSeccomp: false,
  });
  t.is(codeOf(t.throws(() => parseAppAddArgs(['--app=redis']))), 'stage1.args.missing-argument');
  t.is(codeOf(t.throws(() => parseAppAddArgs([`--uuid=${uuid}`]))), 'stage1.args.missing-argument');
  t.is(codeOf(t.throws(() => parseAppAddArgs([`--uuid=${uuid}`, '--app=redis', '--stage=1']))), 'stage1.args.unknown-flag');
  t.is(codeOf(t.throws(() => parseAppAddArgs([`--uuid=${uuid}`, '--app=redis', 'extra']))), 'stage1.args.unexpected-argument');
});

test('app/start, app/stop, app/rm: --debug=<bool> --app=<name>', (t) => {
  const argv = buildAppArgs({ appName: 'redis' }, 5);
  t.deepEqual(argv, ['--debug=false', '--app=redis']);
  t.deepEqual(buildAppRmArgs({ appName: 'redis', debug: true }, 6), ['--debug=true', '--app=redis']);
  for (const parse of [parseAppStartArgs, parseAppStopArgs, parseAppRmArgs]) {
    t.deepEqual(parse(argv), { appName: 'redis', debug: false });
    t.is(codeOf(t.throws(() => parse(['--debug']))), 'stage1.args.missing-argument');
    t.is(codeOf(t.throws(() => parse(['--app=redis', '--uuid=x']))), 'stage1.args.unknown-flag');
  }
  const e = t.throws(() => parseAppStopArgs(['--app=Bad']));
  t.is(codeOf(e), 'stage1.args.invalid-value');
  t.is(codeOf(t.throws(() => parseAppRmArgs(['--nope']))), 'stage1.args.unknown-flag');
  t.regex((t.throws(() => parseAppRmArgs(['--nope'])) as Error).message, /^stage1 app\/rm:/);
});

test('attach: actions and endpoints as rkt sends them', (t) => {
  t.deepEqual(buildAttachArgs({ appName: 'redis', action: 'list' }, 6), ['--action=list', '--app=redis', '--debug=false']);
  t.deepEqual(buildAttachArgs({ appName: 'redis', action: 'auto-attach', debug: true }, 6), ['--action=auto-attach', '--app=redis', '--debug=true']);
  const custom = buildAttachArgs({ appName: 'redis', action: 'custom-attach', stdin: true, stdout: true }, 6);
  t.deepEqual(custom, ['--action=custom-attach', '--tty-in=false', '--tty-out=false', '--stdin=true', '--stdout=true', '--stderr=false', '--app=redis', '--debug=false']);
  t.deepEqual(parseAttachArgs(custom), { appName: 'redis', action: 'custom-attach', debug: false, ttyIn: false, ttyOut: false, stdin: true, stdout: true, stderr: false });
  t.is(parseAttachArgs(['--app=redis']).action, 'list');
  t.is(codeOf(t.throws(() => buildAttachArgs({ appName: 'redis', action: 'custom-attach' }, 6))), 'stage1.args.invalid-value');
  t.is(codeOf(t.throws(() => buildAttachArgs({ appName: 'redis', action: 'custom-attach', ttyIn: true, stdout: true }, 6))), 'stage1.args.invalid-value');
  t.is(codeOf(t.throws(() => parseAttachArgs(['--action=custom-attach', '--tty-in', '--stdin', '--app=redis']))), 'stage1.args.invalid-value');
  t.is(codeOf(t.throws(() => parseAttachArgs(['--action=bogus', '--app=redis']))), 'stage1.args.invalid-value');
  t.is(codeOf(t.throws(() => parseAttachArgs(['--action=list']))), 'stage1.args.missing-argument');
});
