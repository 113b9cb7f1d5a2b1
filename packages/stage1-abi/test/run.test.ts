import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import {
  STAGE1_INTERFACE_VERSIONS,
  buildRunArgs,
  parseRunArgs,
  type OmittedOption,
  type RunArgs,
  type RunOptions,
} from '@rktnetes/stage1-abi';

const uuid = '076292e6-54c4-4cc8-9fa7-679c5f7dcfd3';

const everything: RunOptions = {
  uuid,
  debug: true,
  net: [{ name: 'default' }, { name: 'net1', args: 'IP=10.1.0.5' }],
  interactive: true,
  privateUsers: { shift: 65536, count: 65536 },
  mdsToken: 'tok',
  localConfig: '/etc/rkt',
  hostname: 'web',
  dnsConfMode: { resolv: 'host', hosts: 'stage0' },
  disableCapabilitiesRestriction: true,
  disablePaths: true,
  disableSeccomp: true,
  ipc: 'parent',
};

const v1 = ['--debug', '--net=default,net1:IP=10.1.0.5', '--interactive', '--private-users=65536:65536', '--mds-token=tok', '--local-config=/etc/rkt'];
const expected: Record<number, string[]> = {
  1: [...v1, uuid],
  2: [...v1, '--hostname=web', uuid],
  3: [...v1, '--hostname=web', '--disable-capabilities-restriction', '--disable-paths', '--disable-seccomp', uuid],
  4: [...v1, '--hostname=web', '--dns-conf-mode=resolv=host,hosts=stage0', '--disable-capabilities-restriction', '--disable-paths', '--disable-seccomp', uuid],
  5: [...v1, '--hostname=web', '--dns-conf-mode=resolv=host,hosts=stage0', '--disable-capabilities-restriction', '--disable-paths', '--disable-seccomp', uuid],
  6: [...v1, '--hostname=web', '--dns-conf-mode=resolv=host,hosts=stage0', '--disable-capabilities-restriction', '--disable-paths', '--disable-seccomp', '--ipc=parent', uuid],
};

for (const v of STAGE1_INTERFACE_VERSIONS) {
  test(`run argv for interface version ${v}: only what the version knows, rkt's order`, (t) => {
    const omitted: OmittedOption[] = [];
    const argv = buildRunArgs(everything, v, { onOmit: (o) => omitted.push(o) });
    t.deepEqual(argv, expected[v]);
    const omittedFlags = omitted.map((o) => o.flag);
    t.is(omittedFlags.includes('hostname'), v < 2);
    t.is(omittedFlags.includes('disable-seccomp'), v < 3);
    t.is(omittedFlags.includes('dns-conf-mode'), v < 4);
    t.is(omittedFlags.includes('ipc'), v < 6);
    for (const o of omitted) t.true(o.since > v && o.interfaceVersion === v && o.entrypoint === 'stage1 run');
  });

  test(`run argv round-trips through the stage1 parser at version ${v}`, (t) => {
    const parsed = parseRunArgs(buildRunArgs(everything, v));
    const want: RunArgs = {
      uuid,
      debug: true,
      net: everything.net!,
      interactive: true,
      privateUsers: everything.privateUsers!,
      mdsToken: 'tok',
      localConfig: '/etc/rkt',
      ...(v >= 2 ? { hostname: 'web' } : {}),
      ...(v >= 4 ? { dnsConfMode: everything.dnsConfMode! } : {}),
      disableCapabilitiesRestriction: v >= 3,
      disablePaths: v >= 3,
      disableSeccomp: v >= 3,
      mutable: false,
      ...(v >= 6 ? { ipc: 'parent' as const } : {}),
    };
    t.deepEqual(parsed, want);
  });

  test(`strict mode turns omissions into errors at version ${v}`, (t) => {
    if (v < 6) t.true(hasCode(t.throws(() => buildRunArgs(everything, v, { strict: true })), 'stage1.args.unsupported'));
    else t.notThrows(() => buildRunArgs(everything, v, { strict: true }));
  });
}

test('a minimal run argv is what rkt sends for a default pod', (t) => {
  t.deepEqual(buildRunArgs({ uuid }, 6), ['--net=default', uuid]);
  t.deepEqual(buildRunArgs({ uuid, net: [{ name: 'host' }], dnsConfMode: { resolv: 'default', hosts: 'default' } }, 6), ['--net=host', uuid]);
  t.deepEqual(parseRunArgs(['--net=default', uuid]), {
    uuid,
    net: [{ name: 'default' }],
    debug: false,
    interactive: false,
    disableCapabilitiesRestriction: false,
    disablePaths: false,
    disableSeccomp: false,
    mutable: false,
  });
});

test('--mutable needs interface version 5 and is never silently dropped', (t) => {
  t.deepEqual(buildRunArgs({ uuid, mutable: true }, 5), ['--net=default', '--mutable', uuid]);
  const omitted: OmittedOption[] = [];
  const e = t.throws(() => buildRunArgs({ uuid, mutable: true }, 4, { onOmit: (o) => omitted.push(o) }));
  t.true(hasCode(e, 'stage1.args.unsupported'));
  t.regex((e as Error).message, /--mutable needs stage1 interface version 5/);
  t.deepEqual(omitted, []);
  t.true(parseRunArgs(['--mutable', uuid]).mutable);
});

test('interface versions newer than ours are accepted, invalid ones are not', (t) => {
  t.deepEqual(buildRunArgs({ uuid, ipc: 'auto' }, 9), ['--net=default', '--ipc=auto', uuid]);
  for (const bad of [0, -1, 1.5, NaN]) t.true(hasCode(t.throws(() => buildRunArgs({ uuid }, bad)), 'stage1.interface-version.invalid'), String(bad));
});

test('the parser takes every form rkt and Go flag produce', (t) => {
  const r = parseRunArgs(['-debug=true', '--net', 'default', '--net=net2', '--local-config', '/x', '--hostname=', '--private-users=', '--ipc=', '--interactive=false', uuid.toUpperCase()]);
  t.true(r.debug);
  t.deepEqual(r.net, [{ name: 'default' }, { name: 'net2' }]);
  t.is(r.localConfig, '/x');
  t.false('hostname' in r);
  t.false('privateUsers' in r);
  t.false('ipc' in r);
  t.false(r.interactive);
  t.is(r.uuid, uuid);
  t.deepEqual(parseRunArgs(['--dns-conf-mode=resolv=none', '--dns-conf-mode=hosts=host', uuid]).dnsConfMode, { resolv: 'none', hosts: 'host' });
});

test('the parser is strict', (t) => {
  const code = (argv: string[]) => {
    const e = t.throws(() => parseRunArgs(argv));
    t.is((e as { kind?: string }).kind, 'usage');
    return (e as { code?: string }).code;
  };
  t.is(code(['--nope', uuid]), 'stage1.args.unknown-flag');
  t.is(code(['--force', uuid]), 'stage1.args.unknown-flag');
  t.is(code([]), 'stage1.args.missing-argument');
  t.is(code(['--debug']), 'stage1.args.missing-argument');
  t.is(code([uuid, 'extra']), 'stage1.args.unexpected-argument');
  t.is(code([uuid, '--debug']), 'stage1.args.unexpected-argument', 'flags after the uuid are not flags');
  t.is(code(['not-a-uuid']), 'stage1.args.invalid-value');
  t.is(code(['--ipc=host', uuid]), 'stage1.args.invalid-value');
  t.is(code(['--net=a,a', uuid]), 'stage1.args.invalid-value');
  t.is(code(['--private-users=5', uuid]), 'stage1.args.invalid-value');
  t.is(code(['--dns-conf-mode=resolv=x', uuid]), 'stage1.args.invalid-value');
  t.is(code(['--hostname']), 'stage1.args.missing-value');
});

test('the builder validates what it sends', (t) => {
  t.true(hasCode(t.throws(() => buildRunArgs({ uuid: 'nope' }, 6)), 'stage1.args.invalid-value'));
  t.true(hasCode(t.throws(() => buildRunArgs({ uuid, ipc: 'host' as 'auto' }, 6)), 'stage1.args.invalid-value'));
  t.true(hasCode(t.throws(() => buildRunArgs({ uuid, privateUsers: { shift: 0, count: 0 } }, 6)), 'stage1.args.invalid-value'));
  t.true(hasCode(t.throws(() => buildRunArgs({ uuid, net: [{ name: '' }] }, 6)), 'stage1.args.invalid-value'));
});
