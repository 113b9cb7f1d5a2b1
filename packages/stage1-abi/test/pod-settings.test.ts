import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import {
  ANNOTATION_APP_PID_NAMESPACE,
  ANNOTATION_POD_CGROUP_PARENT,
  ANNOTATION_POD_PID_NAMESPACE,
  appPidNamespace,
  checkSysctls,
  isMountPropagation,
  parseCgroupParent,
  podPidNamespace,
  sysctlNamespace,
  sysctlPath,
  volumePropagation,
} from '@rktnetes/stage1-abi';

test('the extension names', (t) => {
  t.is(ANNOTATION_POD_CGROUP_PARENT, 'rktnetes.io/stage1/cgroup-parent');
  t.is(ANNOTATION_POD_PID_NAMESPACE, 'rktnetes.io/stage1/pid-namespace');
  t.is(ANNOTATION_APP_PID_NAMESPACE, 'rktnetes.io/stage2/pid-namespace');
});

test('sysctls are classified by namespace', (t) => {
  for (const n of ['kernel.shm_rmid_forced', 'kernel.shmmax', 'kernel.msgmnb', 'kernel.sem', 'fs.mqueue.msg_max', 'fs/mqueue/queues_max']) t.is(sysctlNamespace(n), 'ipc', n);
  for (const n of ['net.ipv4.ip_forward', 'net.ipv4.conf.all.rp_filter', 'net/ipv4/conf/eth0.100/rp_filter']) t.is(sysctlNamespace(n), 'net', n);
  for (const n of ['kernel.hostname', 'kernel.domainname']) t.is(sysctlNamespace(n), 'uts', n);
  for (const n of ['kernel.panic', 'vm.swappiness', 'fs.file-max', 'kernel.shm', 'kernel', '', 'net..x', 'net.../x', '/net/ipv4']) t.is(sysctlNamespace(n), undefined, n);
});

test('sysctl paths below /proc/sys, in both spellings', (t) => {
  t.is(sysctlPath('net.ipv4.ip_forward'), 'net/ipv4/ip_forward');
  t.is(sysctlPath('net/ipv4/conf/eth0.100/rp_filter'), 'net/ipv4/conf/eth0.100/rp_filter');
  t.is(sysctlPath('net.ipv4.conf.eth0/100.rp_filter'), 'net/ipv4/conf/eth0.100/rp_filter');
  t.is(sysctlPath('fs.mqueue.msg_max'), 'fs/mqueue/msg_max');
  t.true(hasCode(t.throws(() => sysctlPath('../../etc/passwd')), 'stage1.sysctl.invalid'));
  t.true(hasCode(t.throws(() => sysctlPath('net.ipv4/../../x')), 'stage1.sysctl.invalid'));
});

test('checkSysctls refuses host-wide sysctls and those of namespaces shared with the host', (t) => {
  const own = { hostNetwork: false, hostIpc: false };
  t.deepEqual(checkSysctls({ 'kernel.shm_rmid_forced': '1', 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.sem': '250 32000 32 128' }, own), [
    { path: 'kernel/shm_rmid_forced', value: '1' },
    { path: 'net/ipv4/ip_unprivileged_port_start', value: '0' },
    { path: 'kernel/sem', value: '250 32000 32 128' },
  ]);
  const err = (v: Record<string, string>, ctx = own) => {
    const e = t.throws(() => checkSysctls(v, ctx));
    t.true(hasCode(e, 'stage1.sysctl.invalid'), e?.message);
    return e?.message ?? '';
  };
  t.regex(err({ 'kernel.panic': '1' }), /kernel\.panic: not a namespaced sysctl/);
  t.regex(err({ 'net.ipv4.ip_forward': '1' }, { hostNetwork: true, hostIpc: false }), /host network namespace/);
  t.regex(err({ 'fs.mqueue.msg_max': '100' }, { hostNetwork: false, hostIpc: true }), /host IPC namespace/);
  t.regex(err({ 'kernel.shmmax': '1\n2' }), /one line/);
  t.deepEqual(checkSysctls({ 'kernel.hostname': 'x' }, { hostNetwork: true, hostIpc: true }), [{ path: 'kernel/hostname', value: 'x' }]);
});

test('cgroup parents are absolute, normalised paths without ..', (t) => {
  t.is(parseCgroupParent('/kubepods/burstable/pod1'), '/kubepods/burstable/pod1');
  t.is(parseCgroupParent('kubepods//pod1/'), '/kubepods/pod1');
  t.is(parseCgroupParent('/'), '');
  t.is(parseCgroupParent(''), '');
  t.is(parseCgroupParent('a.slice'), '/a.slice');
  for (const bad of ['/a/../b', '..', 'a\nb', 'a\0b']) t.true(hasCode(t.throws(() => parseCgroupParent(bad)), 'stage1.cgroup-parent.invalid'), bad);
});

test('pid namespace annotation values', (t) => {
  t.is(podPidNamespace(undefined), 'private');
  t.is(podPidNamespace('host'), 'host');
  t.is(podPidNamespace('private'), 'private');
  t.true(hasCode(t.throws(() => podPidNamespace('parent')), 'stage1.annotation.invalid'));
  t.is(appPidNamespace(undefined), 'pod');
  t.is(appPidNamespace('private'), 'private');
  t.is(appPidNamespace('pod'), 'pod');
  t.true(hasCode(t.throws(() => appPidNamespace('host')), 'stage1.annotation.invalid'));
});

test('volume propagation', (t) => {
  t.is(volumePropagation({ name: 'v', kind: 'host' }), undefined);
  t.is(volumePropagation({ name: 'v', kind: 'host', propagation: 'rshared' } as never), 'rshared');
  t.true(hasCode(t.throws(() => volumePropagation({ name: 'v', kind: 'host', propagation: 'shared' } as never)), 'stage1.volume.invalid'));
  t.true(hasCode(t.throws(() => volumePropagation({ name: 'v', kind: 'empty', propagation: 'rslave' } as never)), 'stage1.volume.invalid'));
  t.true(isMountPropagation('rslave'));
  t.false(isMountPropagation('slave'));
});
