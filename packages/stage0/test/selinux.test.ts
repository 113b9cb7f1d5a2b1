/**
 * The pod's SELinux labels (src/pod/selinux.ts) decided against fake host trees: no selinuxfs,
 * a read-only one, an unlabelled kernel, permissive and enforcing modes, a missing policy or
 * lxc_contexts, malformed files; and what stage1 is given. Reads only temporary files.
 */
import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildRunEnv } from '@rktnetes/stage1-abi';
import {
  findSelinuxfs,
  parseSelinuxAssignments,
  parseSelinuxContext,
  podSelinuxLabels,
  selinuxRunEnv,
  uniqueMcsLevel,
  withMountContext,
} from '../src/pod/selinux';
import { overlayMountData } from '../src/pod/overlay';

const SELINUXFS = '24 22 0:21 / /sys/fs/selinux rw,relatime shared:6 - selinuxfs selinuxfs rw\n';
const ROOTFS = '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n';
const LXC = `# container contexts
process = "system_u:system_r:svirt_lxc_net_t:s0"
content = "system_u:object_r:virt_var_lib_t:s0"
file = "system_u:object_r:svirt_lxc_file_t:s0"
ro_file="system_u:object_r:svirt_lxc_file_t:s0"
`;

interface Tree {
  mountinfo?: string;
  current?: string;
  enforce?: string;
  config?: string;
  lxc?: string;
  policy?: string;
}

/** A fake `/` with the files SELinux detection reads; removed after the test. */
function fakeRoot(t: { teardown(fn: () => void): void }, tree: Tree): string {
  const root = mkdtempSync(join(tmpdir(), 'selinux-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const put = (p: string, text: string | undefined) => {
    if (text === undefined) return;
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  };
  put('proc/self/mountinfo', tree.mountinfo);
  put('proc/self/attr/current', tree.current);
  put('sys/fs/selinux/enforce', tree.enforce);
  put('etc/selinux/config', tree.config);
  put(`etc/selinux/${tree.policy ?? 'targeted'}/contexts/lxc_contexts`, tree.lxc);
  return root;
}

const enabled: Tree = {
  mountinfo: ROOTFS + SELINUXFS,
  current: 'unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023\0',
  enforce: '1',
  config: '# This file controls the state of SELinux\nSELINUX=enforcing\nSELINUXTYPE=targeted\n',
  lxc: LXC,
};

/** a random source that returns the given values in turn */
const seq = (...v: number[]) => {
  let i = 0;
  return (n: number) => {
    const x = v[i++ % v.length]!;
    if (x >= n) throw new Error(`random ${x} out of range ${n}`);
    return x;
  };
};

test('enforcing: the lxc_contexts labels with a level of the pod\'s own', (t) => {
  const root = fakeRoot(t, enabled);
  t.deepEqual(podSelinuxLabels({ root, random: seq(700, 12) }), {
    processLabel: 'system_u:system_r:svirt_lxc_net_t:s0:c12,c700',
    mountLabel: 'system_u:object_r:svirt_lxc_file_t:s0:c12,c700',
    level: 's0:c12,c700',
    mode: 'enforcing',
    policy: 'targeted',
  });
});

test('permissive counts as enabled (rkt labels whenever SELinux is on)', (t) => {
  const root = fakeRoot(t, { ...enabled, enforce: '0\n' });
  const l = podSelinuxLabels({ root, random: seq(1, 2) });
  t.is(l?.mode, 'permissive');
  t.is(l?.processLabel, 'system_u:system_r:svirt_lxc_net_t:s0:c1,c2');
  t.is(l?.mountLabel, 'system_u:object_r:svirt_lxc_file_t:s0:c1,c2');
});

test('disabled: no selinuxfs, a read-only one, or an unlabelled kernel give no labels', (t) => {
  t.is(podSelinuxLabels({ root: fakeRoot(t, { ...enabled, mountinfo: ROOTFS }) }), undefined);
  t.is(podSelinuxLabels({ root: fakeRoot(t, { ...enabled, mountinfo: undefined }) }), undefined);
  t.is(podSelinuxLabels({ root: fakeRoot(t, { ...enabled, mountinfo: ROOTFS + SELINUXFS.replace('rw,relatime', 'ro,relatime') }) }), undefined);
  t.is(podSelinuxLabels({ root: fakeRoot(t, { ...enabled, current: 'kernel\0' }) }), undefined);
  // an empty tree: a host without SELinux at all
  t.is(podSelinuxLabels({ root: fakeRoot(t, {}) }), undefined);
});

test('no policy name or no lxc_contexts: no labels, as rkt', (t) => {
  t.is(podSelinuxLabels({ root: fakeRoot(t, { ...enabled, config: undefined }) }), undefined);
  t.is(podSelinuxLabels({ root: fakeRoot(t, { ...enabled, config: 'SELINUX=enforcing\n' }) }), undefined);
  t.is(podSelinuxLabels({ root: fakeRoot(t, { ...enabled, lxc: undefined }) }), undefined);
  // lxc_contexts of another policy than the configured one
  t.is(podSelinuxLabels({ root: fakeRoot(t, { ...enabled, policy: 'mls' }) }), undefined);
});

test('the policy of /etc/selinux/config is the one read, quotes and comments allowed', (t) => {
  const root = fakeRoot(t, { ...enabled, config: '; old\n# c\nSELINUXTYPE = "mcs"\n', policy: 'mcs' });
  t.is(podSelinuxLabels({ root, random: seq(3, 4) })?.policy, 'mcs');
});

test('a malformed lxc_contexts is an error naming the file, not a pod without labels', (t) => {
  const missing = fakeRoot(t, { ...enabled, lxc: 'process = "system_u:system_r:svirt_lxc_net_t:s0"\n' });
  const e1 = t.throws(() => podSelinuxLabels({ root: missing }));
  t.is((e1 as { code?: string }).code, 'pod.selinux.lxc-contexts');
  t.is(e1?.message, `${join(missing, 'etc/selinux/targeted/contexts/lxc_contexts')}: no file label`);

  const garbage = fakeRoot(t, { ...enabled, lxc: 'this is not a contexts file\n\0\0' });
  t.is((t.throws(() => podSelinuxLabels({ root: garbage })) as { code?: string }).code, 'pod.selinux.lxc-contexts');

  const short = fakeRoot(t, { ...enabled, lxc: 'process = "system_r:svirt_lxc_net_t"\nfile = "system_u:object_r:svirt_lxc_file_t:s0"\n' });
  const e3 = t.throws(() => podSelinuxLabels({ root: short, random: seq(1, 2) }));
  t.is(e3?.message, `${join(short, 'etc/selinux/targeted/contexts/lxc_contexts')}: process label "system_r:svirt_lxc_net_t" is not user:role:type:level`);

  const quoted = fakeRoot(t, { ...enabled, lxc: 'process = "system_u:system_r:a b_t:s0"\nfile = "system_u:object_r:svirt_lxc_file_t:s0"\n' });
  t.is((t.throws(() => podSelinuxLabels({ root: quoted, random: seq(1, 2) })) as { code?: string }).code, 'pod.selinux.lxc-contexts');
});

test('levels: two different categories, smaller first, never one in use', (t) => {
  t.is(uniqueMcsLevel(seq(5, 5, 9, 3)), 's0:c3,c9');
  t.is(uniqueMcsLevel(seq(1, 2, 2, 1, 4, 8), new Set(['s0:c1,c2'])), 's0:c4,c8');
  for (let i = 0; i < 200; i++) t.regex(uniqueMcsLevel(), /^s0:c(\d+),c(\d+)$/);
  const levels = new Set(Array.from({ length: 200 }, () => uniqueMcsLevel()));
  t.true(levels.size > 190, 'random levels');
  for (const l of levels) {
    const [, a, b] = /^s0:c(\d+),c(\d+)$/.exec(l)!;
    t.true(Number(a) < Number(b) && Number(b) < 1024, l);
  }
  t.is(uniqueMcsLevel(seq(0, 1, 1, 2, 0, 2), new Set(['s0:c0,c1', 's0:c1,c2']), 3), 's0:c0,c2');
  t.is((t.throws(() => uniqueMcsLevel(seq(0, 1), new Set(['s0:c0,c1']), 2)) as { code?: string }).code, 'pod.selinux.levels');
});

test('parsers: contexts, assignments, mountinfo', (t) => {
  t.deepEqual(parseSelinuxContext('system_u:system_r:svirt_lxc_net_t:s0-s0:c0.c1023'), { user: 'system_u', role: 'system_r', type: 'svirt_lxc_net_t', level: 's0-s0:c0.c1023' });
  t.is(parseSelinuxContext('a:b:c'), undefined);
  t.is(parseSelinuxContext('a:b:c:'), undefined);
  t.is(parseSelinuxContext('a:b:c:s0"'), undefined);
  t.is(parseSelinuxContext('a,x:b:c:s0'), undefined);
  t.deepEqual([...parseSelinuxAssignments('a=1\n  b = "two"  \n#c=3\n;d=4\nnoequals\n=x\na=again\n')], [
    ['a', '1'],
    ['b', 'two'],
  ]);
  t.deepEqual(findSelinuxfs(ROOTFS + SELINUXFS), { mountPoint: '/sys/fs/selinux', readOnly: false });
  t.deepEqual(findSelinuxfs('30 22 0:21 / /se\\040linux ro - selinuxfs selinuxfs rw\n'), { mountPoint: '/se linux', readOnly: true });
  t.is(findSelinuxfs(ROOTFS), undefined);
});

test('what stage1 is given: both variables, empty without labels', (t) => {
  const root = fakeRoot(t, enabled);
  const labels = podSelinuxLabels({ root, random: seq(1, 2) });
  t.deepEqual(buildRunEnv({ lockFd: 3, ...selinuxRunEnv(labels) }), {
    RKT_LOCK_FD: '3',
    RKT_SELINUX_CONTEXT: 'system_u:system_r:svirt_lxc_net_t:s0:c1,c2',
    RKT_SELINUX_MOUNT_CONTEXT: 'system_u:object_r:svirt_lxc_file_t:s0:c1,c2',
  });
  t.deepEqual(buildRunEnv({ lockFd: 3, ...selinuxRunEnv(undefined) }), { RKT_LOCK_FD: '3', RKT_SELINUX_CONTEXT: '', RKT_SELINUX_MOUNT_CONTEXT: '' });
});

test('overlay mount data gains a quoted context option only with a label', (t) => {
  t.is(withMountContext('lowerdir=/a,upperdir=/b,workdir=/c', undefined), 'lowerdir=/a,upperdir=/b,workdir=/c');
  t.is(withMountContext('lowerdir=/a', 'system_u:object_r:svirt_lxc_file_t:s0:c1,c2'), 'lowerdir=/a,context="system_u:object_r:svirt_lxc_file_t:s0:c1,c2"');
  t.is(withMountContext('', 'u:r:t:s0'), 'context="u:r:t:s0"');
});

test('the overlays stage0 mounts carry the mount label, counted in the mount data size', (t) => {
  const label = 'system_u:object_r:svirt_lxc_file_t:s0:c1,c2';
  t.deepEqual(overlayMountData(['/x/l1'], '/u', '/w', label), { data: `lowerdir=/x/l1,upperdir=/u,workdir=/w,context="${label}"` });
  t.deepEqual(overlayMountData(['/x/l1'], '/u', '/w'), { data: 'lowerdir=/x/l1,upperdir=/u,workdir=/w' });
  // many layers: the relative form is chosen when the label pushes the absolute one over the limit
  const many = Array.from({ length: 70 }, (_, i) => `/var/lib/rkt/cas/tree/layer-directory-with-a-long-name-${i}`);
  const fitted = overlayMountData(many, '/u', '/w', label);
  t.true(fitted.data.endsWith(`context="${label}"`));
  t.is(fitted.cwd, '/var/lib/rkt/cas/tree');
});

test('this host: the real decision', (t) => {
  const labels = podSelinuxLabels();
  if (/\sselinuxfs\s/.test(readText('/proc/self/mountinfo'))) t.pass('SELinux host: labels decided by its policy');
  else t.is(labels, undefined, 'no selinuxfs mounted: no labels');
});

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
