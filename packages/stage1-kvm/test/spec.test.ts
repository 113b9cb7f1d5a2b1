import test from 'ava';
import { decodeTokens, encodeTokens, parseGuestSpec, serializeEnterRequest, serializeGuestSpec, SPEC_MAGIC, SPEC_VERSION, type GuestSpec } from '@rktnetes/stage1-kvm';

const spec: GuestSpec = {
  hostname: 'rkt-test',
  stopTimeoutMs: 5000,
  interactive: true,
  shares: [{ tag: 'v0', target: '/volumes/data', options: 'trans=virtio' }],
  nets: [
    {
      mac: '02:00:00:00:00:01',
      name: 'eth0',
      mtu: 1450,
      addresses: [{ cidr: '10.0.0.2/24' }, { cidr: '10.9.0.2/16', prefixRoute: false }],
      routes: [{ dst: '10.9.0.1/32' }, { dst: 'default', gateway: '10.0.0.1' }],
    },
    { mac: '02:00:00:00:00:02', addresses: [], routes: [] },
  ],
  apps: [
    {
      name: 'app',
      root: '/pod/stage1/rootfs/opt/stage2/app/rootfs',
      path: '/bin/sh',
      argv: ['sh', '-c', 'echo "two\nlines"'],
      env: [
        ['PATH', '/bin'],
        ['EMPTY', ''],
        ['EQ', 'a=b'],
      ],
      cwd: '/work',
      uid: 1000,
      gid: 100,
      groups: [100, 27],
      caps: 0x20000001n,
      noNewPrivileges: true,
      seccomp: '/pod/kvm/seccomp/app.bpf',
      stdin: true,
      statusPath: '/pod/stage1/rootfs/rkt/status/app',
      logPath: '/pod/stage1/rootfs/rkt/log/app',
      steps: [
        { kind: 'mount', fstype: 'proc', source: 'proc', target: '/r/proc', flags: ['nosuid', 'nodev'] },
        { kind: 'devnodes', dir: '/r/dev' },
        { kind: 'mount', source: '/volumes/data', target: '/r/data', flags: ['bind', 'rec', 'ro'] },
        { kind: 'mount', fstype: 'tmpfs', source: 'shm', target: '/r/dev/shm', data: 'mode=1777' },
      ],
      maskedPaths: ['/proc/kcore', '/sys/firmware'],
      readOnlyPaths: ['/proc/sys'],
    },
  ],
};

test('the guest spec round-trips through its NUL-separated encoding', (t) => {
  const bytes = serializeGuestSpec(spec);
  t.true(bytes.subarray(0, SPEC_MAGIC.length + 1).equals(Buffer.from(`${SPEC_MAGIC}\0`)));
  t.is(bytes[bytes.length - 1], 0);
  t.deepEqual(parseGuestSpec(bytes), spec);
});

test('the guest spec encodes fields in the order the guest init reads them', (t) => {
  const tokens = decodeTokens(serializeGuestSpec({ shares: [], nets: [], apps: [{ ...spec.apps[0]!, steps: [], caps: undefined, env: [], groups: [], argv: ['x'] }] }));
  t.deepEqual(tokens, [
    SPEC_MAGIC, '4',
    'app', 'app', 'root', '/pod/stage1/rootfs/opt/stage2/app/rootfs', 'path', '/bin/sh', 'arg', 'x',
    'cwd', '/work', 'uid', '1000', 'gid', '100', 'no-new-privs', 'seccomp', '/pod/kvm/seccomp/app.bpf', 'stdin',
    'status', '/pod/stage1/rootfs/rkt/status/app', 'log', '/pod/stage1/rootfs/rkt/log/app',
    'mask', '/proc/kcore', 'mask', '/sys/firmware', 'readonly', '/proc/sys', 'end',
  ]);
});

test('a network interface: MAC, name, MTU, then its addresses and routes up to end', (t) => {
  const tokens = decodeTokens(serializeGuestSpec({ shares: [], nets: spec.nets, apps: [] }));
  t.deepEqual(tokens.slice(2), [
    'net', '02:00:00:00:00:01', 'eth0', '1450', 'addr', '10.0.0.2/24', 'route', 'addr', '10.9.0.2/16', 'noroute',
    'route', '10.9.0.1/32', '-', 'route', 'default', '10.0.0.1', 'end',
    'net', '02:00:00:00:00:02', '-', '0', 'end',
  ]);
  t.throws(() => parseGuestSpec(encodeTokens([SPEC_MAGIC, '2', 'net', 'm', '-', '0', 'addr', '1.2.3.4/8', 'maybe', 'end'])), { message: /unknown address flag/ });
  t.throws(() => parseGuestSpec(encodeTokens([SPEC_MAGIC, '2', 'net', 'm', '-', '0', 'bogus'])), { message: /unknown net field/ });
});

test('strings with NUL bytes cannot be sent to the guest', (t) => {
  t.throws(() => encodeTokens(['a\0b']), { message: /NUL/ });
  t.throws(() => decodeTokens(Buffer.from('a\0b')), { message: /does not end with NUL/ });
  t.deepEqual(decodeTokens(Buffer.alloc(0)), []);
});

test('parseGuestSpec rejects other formats and unknown fields', (t) => {
  t.throws(() => parseGuestSpec(encodeTokens(['something', '3'])), { message: /not a version 2 or 3 or 4 spec/ });
  t.throws(() => parseGuestSpec(encodeTokens([SPEC_MAGIC, '1'])), { message: /not a version 2 or 3 or 4 spec/ });
  t.throws(() => parseGuestSpec(encodeTokens([SPEC_MAGIC, '2', 'bogus'])), { message: /unknown field bogus/ });
  t.throws(() => parseGuestSpec(encodeTokens([SPEC_MAGIC, '2', 'stop-timeout', 'x'])), { message: /not a number/ });
  t.throws(() => parseGuestSpec(encodeTokens([SPEC_MAGIC, '2', 'app', 'a', 'root'])), { message: /missing root/ });
});

test('version 2 and 3 specs (without seccomp programs, without path lists) are still read', (t) => {
  const app = ['app', 'a', 'root', '/r', 'path', '/bin/sh', 'arg', 'sh', 'status', '/s', 'end'];
  const v2 = parseGuestSpec(encodeTokens([SPEC_MAGIC, '2', ...app]));
  t.is(v2.apps[0]!.seccomp, undefined);
  const v3 = parseGuestSpec(encodeTokens([SPEC_MAGIC, '3', ...app]));
  t.deepEqual([v3.apps[0]!.maskedPaths, v3.apps[0]!.readOnlyPaths], [undefined, undefined]);
  t.is(SPEC_VERSION, '4');
});

test('masked and read-only paths follow the mounts, each path after its keyword, in order', (t) => {
  const tokens = decodeTokens(serializeGuestSpec({ shares: [], nets: [], apps: [spec.apps[0]!] }));
  const tail = tokens.slice(tokens.lastIndexOf('mount'));
  t.deepEqual(tail.slice(6), ['mask', '/proc/kcore', 'mask', '/sys/firmware', 'readonly', '/proc/sys', 'end']);
  const none = decodeTokens(serializeGuestSpec({ shares: [], nets: [], apps: [{ ...spec.apps[0]!, maskedPaths: [], readOnlyPaths: [] }] }));
  t.false(none.includes('mask') || none.includes('readonly'), 'empty lists write nothing');
  t.throws(() => parseGuestSpec(encodeTokens([SPEC_MAGIC, '4', 'app', 'a', 'mask'])), { message: /missing mask/ });
});

test('an enter request lists root, cwd, program, argv, env and the app as which the command runs', (t) => {
  const tokens = decodeTokens(serializeEnterRequest({ root: '/r', cwd: '/', path: '/bin/sh', argv: ['sh', '-c', 'id'], env: [['A', '1']], app: 'web' }));
  t.deepEqual(tokens, ['root', '/r', 'cwd', '/', 'path', '/bin/sh', 'arg', 'sh', 'arg', '-c', 'arg', 'id', 'env', 'A=1', 'app', 'web']);
  // ids only for a request without an app
  t.deepEqual(decodeTokens(serializeEnterRequest({ root: '/', cwd: '/', path: '/x', argv: ['x'], env: [], uid: 5, gid: 6 })).slice(-4), ['uid', '5', 'gid', '6']);
});
