import test from 'ava';
import { hasCode, isRktError } from '@rktnetes/errors';
import {
  DEFAULT_CAPABILITIES,
  capabilityNumber,
  findIsolator,
  isKnownIsolator,
  parseIsolator,
  parseIsolators,
} from '@rktnetes/schema';

test('resource/memory: bytes, request defaults to limit', (t) => {
  t.deepEqual(parseIsolator({ name: 'resource/memory', value: { request: '1G', limit: '2G' } }), {
    kind: 'resource/memory',
    request: 1e9,
    limit: 2e9,
  });
  t.deepEqual(parseIsolator({ name: 'resource/memory', value: { limit: '128Mi' } }), {
    kind: 'resource/memory',
    request: 134217728,
    limit: 134217728,
  });
  t.deepEqual(parseIsolator({ name: 'resource/memory', value: {} }), { kind: 'resource/memory' });
});

test('resource/cpu: millicores', (t) => {
  t.deepEqual(parseIsolator({ name: 'resource/cpu', value: { request: '250m', limit: '500m' } }), {
    kind: 'resource/cpu',
    request: 250,
    limit: 500,
  });
  t.deepEqual(parseIsolator({ name: 'resource/cpu', value: { limit: 2 } }), { kind: 'resource/cpu', request: 2000, limit: 2000 });
});

test('bandwidth isolators need default true and take no request', (t) => {
  t.deepEqual(parseIsolator({ name: 'resource/network-bandwidth', value: { default: true, limit: '1G' } }), {
    kind: 'resource/network-bandwidth',
    limit: 1e9,
  });
  t.deepEqual(parseIsolator({ name: 'resource/block-iops', value: { default: true, limit: '1000' } }), {
    kind: 'resource/block-iops',
    limit: 1000,
  });
  const e = t.throws(() => parseIsolator({ name: 'resource/block-bandwidth', value: { default: true, request: '1', limit: '2M' } }));
  t.is(e?.message, 'invalid isolator: value.request: is not supported by this isolator');
});

test('capability sets', (t) => {
  t.deepEqual(parseIsolator({ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE'] } }), {
    kind: 'os/linux/capabilities-retain-set',
    set: ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE'],
  });
  t.deepEqual(parseIsolator({ name: 'os/linux/capabilities-remove-set', value: { set: ['CAP_SYS_CHROOT', 'CAP_MKNOD'] } }), {
    kind: 'os/linux/capabilities-remove-set',
    set: ['CAP_SYS_CHROOT', 'CAP_MKNOD'],
  });
  t.is(DEFAULT_CAPABILITIES.length, 14);
  t.is(capabilityNumber('CAP_SYS_ADMIN'), 21);
  t.is(capabilityNumber('CAP_CHOWN'), 0);
  t.is(capabilityNumber('CAP_NOPE'), undefined);
  const e = t.throws(() => parseIsolator({ name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_ADMIN', 'cap_kill'] } }));
  t.is(e?.message.startsWith('invalid isolator: value.set[1]: unknown capability'), true);
});

test('seccomp sets with errno and wildcards', (t) => {
  t.deepEqual(
    parseIsolator({ name: 'os/linux/seccomp-remove-set', value: { errno: 'ENOTSUP', set: ['clock_adjtime', 'clock_settime', 'reboot'] } }),
    { kind: 'os/linux/seccomp-remove-set', set: ['clock_adjtime', 'clock_settime', 'reboot'], errno: 'ENOTSUP' },
  );
  t.deepEqual(parseIsolator({ name: 'os/linux/seccomp-retain-set', value: { errno: '', set: ['accept', 'bind', '@appc.io/all'] } }), {
    kind: 'os/linux/seccomp-retain-set',
    set: ['accept', 'bind', '@appc.io/all'],
  });
  t.throws(() => parseIsolator({ name: 'os/linux/seccomp-retain-set', value: { set: [] } }), { message: /value\.set: must not be empty/ });
});

test('scalar linux isolators', (t) => {
  t.deepEqual(parseIsolator({ name: 'os/linux/no-new-privileges', value: true }), { kind: 'os/linux/no-new-privileges', value: true });
  t.deepEqual(parseIsolator({ name: 'os/linux/oom-score-adj', value: -1000 }), { kind: 'os/linux/oom-score-adj', value: -1000 });
  t.deepEqual(parseIsolator({ name: 'os/linux/cpu-shares', value: 1024 }), { kind: 'os/linux/cpu-shares', value: 1024 });
  t.throws(() => parseIsolator({ name: 'os/linux/cpu-shares', value: 262145 }), { message: /^invalid isolator: value: must be between 2 and 262144/ });
  t.throws(() => parseIsolator({ name: 'os/linux/oom-score-adj', value: '5' }), { message: /must be an integer/ });
});

test('selinux, apparmor and sysctl', (t) => {
  t.deepEqual(
    parseIsolator({ name: 'os/linux/selinux-context', value: { user: 'system_u', role: 'system_r', type: 'dhcpc_t', level: 's0' } }),
    { kind: 'os/linux/selinux-context', user: 'system_u', role: 'system_r', type: 'dhcpc_t', level: 's0' },
  );
  t.throws(() => parseIsolator({ name: 'os/linux/selinux-context', value: { user: 'a:b', role: 'r', type: 't', level: 's0' } }), {
    message: /value\.user/,
  });
  t.deepEqual(parseIsolator({ name: 'os/linux/apparmor-profile', value: { profile: 'rkt-default' } }), {
    kind: 'os/linux/apparmor-profile',
    profile: 'rkt-default',
  });
  t.deepEqual(parseIsolator({ name: 'os/unix/sysctl', value: { 'net.ipv4.tcp_mtu_probing': '1' } }), {
    kind: 'os/unix/sysctl',
    values: { 'net.ipv4.tcp_mtu_probing': '1' },
  });
});

test('unknown isolators stay opaque', (t) => {
  const value = { anything: [1, 2, { x: null }] };
  t.deepEqual(parseIsolator({ name: 'example.com/custom', value }), { kind: 'unknown', name: 'example.com/custom', value });
  t.false(isKnownIsolator('example.com/custom'));
  t.true(isKnownIsolator('resource/memory'));
});

test('errors carry code, kind and every issue', (t) => {
  const e = t.throws(() => parseIsolator({ name: 'resource/memory', value: { request: 'x', limit: 'y' } }));
  t.true(isRktError(e));
  t.true(hasCode(e, 'schema.invalid'));
  if (!isRktError(e)) return;
  t.is(e.kind, 'user');
  t.deepEqual(
    (e.details?.['issues'] as Array<{ path: string }>).map((i) => i.path),
    ['value.request', 'value.limit'],
  );
});

test('lists: multiplicity and conflicts; findIsolator takes the last', (t) => {
  const list = [
    { name: 'resource/memory', value: { limit: '1G' } },
    { name: 'resource/memory', value: { limit: '2G' } },
    { name: 'os/linux/no-new-privileges', value: true },
  ];
  t.is(parseIsolators(list).length, 3);
  t.deepEqual(findIsolator(list, 'resource/memory'), { kind: 'resource/memory', request: 2e9, limit: 2e9 });
  t.is(findIsolator(list, 'resource/cpu'), undefined);
  t.throws(
    () =>
      parseIsolators([
        { name: 'os/linux/cpu-shares', value: 512 },
        { name: 'os/linux/cpu-shares', value: 1024 },
      ]),
    { message: 'invalid isolators: [1].name: only one "os/linux/cpu-shares" isolator is allowed' },
  );
});
