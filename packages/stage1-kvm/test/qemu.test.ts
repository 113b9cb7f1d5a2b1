import test from 'ava';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chooseAccel, findQemu, kernelCommandLine, kvmUsable, qemuArgs, qemuEscape, type QemuOptions } from '@rktnetes/stage1-kvm';
import { tmpDir } from '@rktnetes/testkit';

const base: QemuOptions = {
  qemu: '/usr/bin/qemu-system-x86_64',
  uuid: '11111111-2222-4333-8444-555555555555',
  accel: 'tcg',
  memoryMiB: 256,
  cpus: 2,
  kernel: '/s1/kvm/vmlinux',
  initrd: '/s1/kvm/initrd',
  append: 'console=ttyS0',
  firmware: '/usr/share/qemu/qboot.rom',
  podDir: '/data/pods/run/x,y',
  shares: [{ tag: 'v0', path: '/srv/data', readOnly: true }],
  nics: [{ tap: 'tap0123456789a0', mac: '02:aa:bb:cc:dd:ee' }],
  stdout: { kind: 'reopen', fd: 1 },
  stderr: { kind: 'fdset', fd: 66, set: 3 },
  stdin: { kind: 'stdio' },
  ctlFd: 64,
};

/** The value following `flag` each time it appears. */
const values = (argv: string[], flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]!] : []));

test('qemu runs a pc machine without defaults, display or reboot, from a PVH kernel and qboot', (t) => {
  const a = qemuArgs(base);
  t.is(a[0], base.qemu);
  t.deepEqual(values(a, '-name'), [`rkt-${base.uuid}`]);
  t.deepEqual(values(a, '-machine'), ['pc']);
  t.deepEqual(values(a, '-accel'), ['tcg']);
  t.deepEqual(values(a, '-cpu'), []);
  t.deepEqual(values(a, '-m'), ['256M']);
  t.deepEqual(values(a, '-smp'), ['2']);
  for (const f of ['-nodefaults', '-no-user-config', '-no-reboot']) t.true(a.includes(f), f);
  t.deepEqual(values(a, '-bios'), ['/usr/share/qemu/qboot.rom']);
  t.deepEqual(values(a, '-kernel'), ['/s1/kvm/vmlinux']);
  t.deepEqual(values(a, '-initrd'), ['/s1/kvm/initrd']);
  t.deepEqual(values(a, '-pidfile'), ['kvm/qemu.pid']);
  t.false(a.some((x) => x.includes('microvm')));
});

test('with KVM the host CPU is passed through; without firmware qemu uses its own', (t) => {
  const { firmware: _f, ...noFirmware } = base;
  const a = qemuArgs({ ...noFirmware, accel: 'kvm' });
  t.deepEqual(values(a, '-accel'), ['kvm']);
  t.deepEqual(values(a, '-cpu'), ['host']);
  t.deepEqual(values(a, '-bios'), []);
});

test('the pod directory and volumes are 9p shares; commas in paths are escaped', (t) => {
  const a = qemuArgs(base);
  t.deepEqual(values(a, '-fsdev'), [
    'local,id=fs0,path=/data/pods/run/x,,y,security_model=passthrough,multidevs=remap',
    'local,id=fs1,path=/srv/data,security_model=passthrough,multidevs=remap,readonly=on',
  ]);
  t.true(values(a, '-device').includes('virtio-9p-pci,fsdev=fs0,mount_tag=pod'));
  t.true(values(a, '-device').includes('virtio-9p-pci,fsdev=fs1,mount_tag=v0'));
  t.is(qemuEscape('a,b,,c'), 'a,,b,,,,c');
});

test('stdio, control and enter channels are virtio-serial ports named for the guest init', (t) => {
  const a = qemuArgs(base);
  t.deepEqual(values(a, '-chardev'), [
    'file,id=console,path=kvm/console',
    'file,id=out,path=/proc/self/fd/1,append=on',
    'file,id=err,path=/dev/fdset/3,append=on',
    'socket,id=ctl,fd=64',
    'socket,id=enter,path=kvm/enter.sock,server=on,wait=off',
    'stdio,id=in,signal=off',
  ]);
  t.deepEqual(values(a, '-add-fd'), ['fd=66,set=3']);
  const ports = values(a, '-device').filter((d) => d.startsWith('virtserialport'));
  t.deepEqual(ports, [
    'virtserialport,bus=ser0.0,chardev=out,name=rkt.stdout',
    'virtserialport,bus=ser0.0,chardev=err,name=rkt.stderr',
    'virtserialport,bus=ser0.0,chardev=ctl,name=rkt.ctl',
    'virtserialport,bus=ser0.0,chardev=enter,name=rkt.enter',
    'virtserialport,bus=ser0.0,chardev=in,name=rkt.stdin',
  ]);
  t.deepEqual(values(a, '-serial'), ['chardev:console']);
});

test('sockets and closed descriptors get socket and null chardevs; no stdin port unless interactive', (t) => {
  const { stdin: _s, ...rest } = base;
  const a = qemuArgs({ ...rest, stdout: { kind: 'socket', fd: 65 }, stderr: { kind: 'null' } });
  t.true(a.includes('socket,id=out,fd=65'));
  t.true(a.includes('null,id=err'));
  t.false(a.some((x) => x.includes('rkt.stdin')));
});

test('each NIC is a tap netdev with a virtio-net device and its MAC', (t) => {
  const a = qemuArgs(base);
  t.deepEqual(values(a, '-netdev'), ['tap,id=net0,ifname=tap0123456789a0,script=no,downscript=no']);
  t.true(values(a, '-device').includes('virtio-net-pci,netdev=net0,mac=02:aa:bb:cc:dd:ee'));
});

test('the kernel command line is quiet, skips slow probes and carries the share options for init', (t) => {
  const quiet = kernelCommandLine({ podShareOptions: 'trans=virtio,cache=mmap' }).split(' ');
  for (const w of ['console=ttyS0', 'quiet', 'loglevel=0', 'panic=-1', 'acpi=noirq', 'cryptomgr.notests', 'RKTKVM_POD_OPTS=trans=virtio,cache=mmap']) t.true(quiet.includes(w), w);
  t.false(quiet.includes('RKTKVM_DEBUG=1'));
  const debug = kernelCommandLine({ debug: true, podShareOptions: 'x' }).split(' ');
  t.false(debug.includes('quiet'));
  t.true(debug.includes('loglevel=7'));
  t.true(debug.includes('RKTKVM_DEBUG=1'));
});

test('KVM is used only when /dev/kvm opens and the CPU has vmx or svm; the environment can force either', async (t) => {
  const dir = await tmpDir('kvm-accel', t);
  const dev = join(dir, 'kvm');
  writeFileSync(dev, '');
  writeFileSync(join(dir, 'svm'), 'processor\t: 0\nflags\t\t: fpu sse svm lm\n');
  writeFileSync(join(dir, 'plain'), 'processor\t: 0\nflags\t\t: fpu sse lm hypervisor\n');
  t.true(kvmUsable(dev, join(dir, 'svm')));
  t.false(kvmUsable(dev, join(dir, 'plain')));
  t.false(kvmUsable(join(dir, 'missing'), join(dir, 'svm')));
  t.is(chooseAccel({}, () => true), 'kvm');
  t.is(chooseAccel({}, () => false), 'tcg');
  t.is(chooseAccel({ RKT_KVM_ACCEL: 'tcg' }, () => true), 'tcg');
  t.is(chooseAccel({ RKT_KVM_ACCEL: 'kvm' }, () => false), 'kvm');
});

test('findQemu looks in PATH, honours the override and says what to install', async (t) => {
  const dir = await tmpDir('kvm-qemu', t);
  const fake = join(dir, 'qemu-system-x86_64');
  writeFileSync(fake, '#!/bin/sh\n');
  chmodSync(fake, 0o755);
  t.is(findQemu({ PATH: `/nonexistent:${dir}` }), fake);
  t.is(findQemu({ RKT_KVM_QEMU: fake }), fake);
  t.throws(() => findQemu({ RKT_KVM_QEMU: join(dir, 'nope') }), { message: /qemu-system-x86/ });
});
