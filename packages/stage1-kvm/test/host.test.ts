import test from 'ava';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FRAME,
  FrameDecoder,
  chooseInputStream,
  chooseOutputStream,
  cmdlineOf,
  debugRequested,
  encodeFrame,
  encodeUint32,
  entrypointOf,
  fdAccessMode,
  freeFds,
  isPodQemu,
  isShim,
  vmSize,
} from '@rktnetes/stage1-kvm';
import { tmpDir } from '@rktnetes/testkit';
// @ts-expect-error a build script in JavaScript, without types
import { cpioNewc } from '../scripts/cpio.mjs';

const UUID = 'abcdef01-2345-4678-9abc-def012345678';

test('entrypoints are chosen by the name the program runs as, or by the first argument', (t) => {
  t.deepEqual(entrypointOf('/pod/stage1/rootfs/run', ['--net=none', UUID]), { entrypoint: 'run', argv: ['--net=none', UUID] });
  t.deepEqual(entrypointOf('/x/stage1-kvm.mjs', ['gc', UUID]), { entrypoint: 'gc', argv: [UUID] });
  t.throws(() => entrypointOf('/x/stage1-kvm.mjs', ['launch']), { message: /unknown entrypoint "launch"/ });
  t.true(debugRequested(['--debug', UUID]));
  t.true(debugRequested(['-debug=true']));
  t.false(debugRequested(['--debug=false']));
  t.false(debugRequested(['--', '--debug']));
});

test('the VM is sized from memory and CPU limits: pod-level first, else the sum of the apps', (t) => {
  const mem = (v: string) => ({ name: 'resource/memory', value: { limit: v } });
  const cpu = (v: string) => ({ name: 'resource/cpu', value: { limit: v } });
  t.deepEqual(vmSize(undefined, [undefined], 8), { memoryMiB: 128, cpus: 1 });
  t.deepEqual(vmSize(undefined, [[mem('256Mi'), cpu('1500m')], [mem('64Mi'), cpu('1')]], 8), { memoryMiB: 128 + 320, cpus: 3 });
  t.deepEqual(vmSize([mem('1Gi'), cpu('2')], [[mem('256Mi'), cpu('500m')]], 8), { memoryMiB: 128 + 1024, cpus: 2 });
  t.deepEqual(vmSize(undefined, [[cpu('16')]], 2).cpus, 2, 'never more vCPUs than host CPUs');
  t.deepEqual(vmSize(undefined, [[mem('1')]], 2).memoryMiB, 129, 'rounded up to MiB');
});

test('output streams: pipes and terminals are reopened, write-only files shared, sockets used, closed ones nulled', (t) => {
  t.deepEqual(chooseOutputStream(1, 'other', 1, 70, 2), { kind: 'reopen', fd: 1 });
  t.deepEqual(chooseOutputStream(1, 'regular', 1, 70, 2), { kind: 'fdset', fd: 70, set: 2 });
  t.deepEqual(chooseOutputStream(1, 'regular', 2, 70, 2), { kind: 'reopen', fd: 1 }, 'qemu cannot take a read-write file from an fd set');
  t.deepEqual(chooseOutputStream(2, 'socket', 2, 71, 3), { kind: 'socket', fd: 71 });
  t.deepEqual(chooseOutputStream(2, 'closed', undefined, 71, 3), { kind: 'null' });
  t.deepEqual(chooseInputStream('socket'), { kind: 'stdio' });
  t.deepEqual(chooseInputStream('closed'), { kind: 'null' });
});

test('fdAccessMode reads the access mode from fdinfo', async (t) => {
  const dir = await tmpDir('kvm-fdinfo', t);
  writeFileSync(join(dir, '5'), 'pos:\t0\nflags:\t0100001\nmnt_id:\t20\n');
  writeFileSync(join(dir, '6'), 'pos:\t0\nflags:\t02\n');
  t.is(fdAccessMode(5, dir), 1);
  t.is(fdAccessMode(6, dir), 2);
  t.is(fdAccessMode(7, dir), undefined);
});

test('freeFds skips open and excluded descriptors from 64 up', (t) => {
  t.deepEqual(freeFds(3, [65], (fd) => fd === 64 || fd === 67), [66, 68, 69]);
});

test('frames: type, big-endian length, payload; the decoder handles split chunks', (t) => {
  const a = encodeFrame(FRAME.stdout, Buffer.from('hello'));
  t.deepEqual([...a.subarray(0, 5)], [0x4f, 0, 0, 0, 5]);
  const b = encodeFrame(FRAME.exit, encodeUint32(7));
  const d = new FrameDecoder();
  const all = Buffer.concat([a, b]);
  t.deepEqual(d.push(all.subarray(0, 3)), []);
  t.is(d.pending, 3);
  const frames = d.push(all.subarray(3));
  t.deepEqual(frames.map((f) => [f.type, f.payload.toString('hex')]), [
    ['O', Buffer.from('hello').toString('hex')],
    ['X', '00000007'],
  ]);
  t.is(d.pending, 0);
  t.deepEqual(d.push(encodeFrame(FRAME.stdinClosed)).map((f) => [f.type, f.payload.length]), [['C', 0]]);
  t.throws(() => encodeFrame('XY'));
});

test('the pod processes are recognised by their command lines', async (t) => {
  const proc = await tmpDir('kvm-proc', t);
  const cmd = (pid: number, argv: string[]) => {
    mkdirSync(join(proc, String(pid)));
    writeFileSync(join(proc, String(pid), 'cmdline'), `${argv.join('\0')}\0`);
  };
  cmd(10, ['/var/lib/rkt/pods/run/x/stage1/rootfs/kvm/pod-shim', '--ctl-fd=64']);
  cmd(11, ['/usr/bin/qemu-system-x86_64', '-name', `rkt-${UUID}`, '-m', '128M']);
  cmd(12, ['/usr/bin/qemu-system-x86_64', '-name', 'rkt-other']);
  t.deepEqual(cmdlineOf(11, proc)?.slice(0, 3), ['/usr/bin/qemu-system-x86_64', '-name', `rkt-${UUID}`]);
  t.is(cmdlineOf(99, proc), undefined);
  t.true(isShim(10, proc));
  t.false(isShim(11, proc));
  t.true(isPodQemu(11, UUID, proc));
  t.false(isPodQemu(12, UUID, proc));
});

/** Parses a cpio newc archive back into entries. */
function parseCpio(buf: Buffer): Array<{ name: string; mode: number; data: Buffer; rdev: [number, number] }> {
  const out = [];
  let at = 0;
  const pad = (n: number) => (4 - (n % 4)) % 4;
  for (;;) {
    const h = buf.toString('ascii', at, at + 110);
    if (!h.startsWith('070701')) throw new Error(`bad magic at ${at}`);
    const field = (i: number) => parseInt(h.slice(6 + i * 8, 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const name = buf.toString('utf8', at + 110, at + 110 + nameSize - 1);
    at += 110 + nameSize;
    at += pad(110 + nameSize);
    const data = buf.subarray(at, at + size);
    at += size + pad(size);
    if (name === 'TRAILER!!!') return out;
    out.push({ name, mode, data, rdev: [field(9), field(10)] as [number, number] });
  }
}

test('the initramfs writer produces cpio newc the kernel unpacks', (t) => {
  const buf: Buffer = cpioNewc([
    { path: 'dev', type: 'dir' },
    { path: 'dev/console', type: 'char', major: 5, minor: 1, mode: 0o600 },
    { path: 'init', content: Buffer.from('#!/bin/sh\n'), mode: 0o755 },
    { path: 'lib', type: 'symlink', target: 'usr/lib' },
  ]);
  t.is(buf.length % 4, 0);
  const e = parseCpio(buf);
  t.deepEqual(e.map((x) => x.name), ['dev', 'dev/console', 'init', 'lib']);
  t.is(e[0]!.mode, 0o40755);
  t.is(e[1]!.mode, 0o20600);
  t.deepEqual(e[1]!.rdev, [5, 1]);
  t.is(e[2]!.mode, 0o100755);
  t.is(e[2]!.data.toString(), '#!/bin/sh\n');
  t.is(e[3]!.mode, 0o120777);
  t.is(e[3]!.data.toString(), 'usr/lib');
  t.throws(() => cpioNewc([{ path: '/abs' }]), { message: /relative/ });
});

test('scripts/kvm-assets.sh loads every module after its dependencies', (t) => {
  const script = readFileSync(new URL('../../../scripts/kvm-assets.sh', import.meta.url), 'utf8');
  const list = (name: string) => /(?:^|\n)NAME=\(([^)]*)\)/.exec(script.replace(name, 'NAME'))?.[1]?.trim().split(/\s+/) ?? [];
  const base = list('BASE_MODULES');
  t.deepEqual(base.slice(0, 5), ['virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci']);
  for (const m of ['virtio_console', 'netfs', 'fscache', '9pnet', '9pnet_virtio', '9p']) t.true(base.includes(m), m);
  t.true(base.indexOf('9p') > base.indexOf('9pnet_virtio'));
  t.deepEqual(list('NET_MODULES'), ['failover', 'net_failover', 'virtio_net']);
});
