/**
 * The qemu command line of a pod's virtual machine, and the host facts it depends on
 * (hypervisor acceleration, firmware, the qemu binary).
 */
import { accessSync, constants as fsConstants, existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { userError } from '@rktnetes/errors';
import { PORTS, POD_KVM_FILES, POD_SHARE_TAG } from './layout';

/** How the guest's CPU is run. */
export type Accel = 'kvm' | 'tcg';

/** The qemu binary's name, looked up in PATH. */
export const QEMU_BINARY = 'qemu-system-x86_64';
/** qboot, a minimal firmware that boots a PVH kernel about twice as fast as SeaBIOS. */
export const QBOOT_PATH = '/usr/share/qemu/qboot.rom';
/** Overrides the acceleration (`kvm` or `tcg`), for debugging. */
export const ACCEL_ENV = 'RKT_KVM_ACCEL';
/** Overrides the qemu binary, for debugging. */
export const QEMU_ENV = 'RKT_KVM_QEMU';

/**
 * Whether KVM can run this guest: `/dev/kvm` opens read-write and the CPU advertises hardware
 * virtualization (vmx or svm). A `/dev/kvm` alone is not enough: some VMs expose it without
 * nested virtualization and qemu then hangs instead of failing.
 */
export function kvmUsable(devKvm = '/dev/kvm', cpuinfo = '/proc/cpuinfo'): boolean {
  try {
    const flags = readFileSync(cpuinfo, 'utf8');
    if (!/^flags\s*:.*\b(vmx|svm)\b/m.test(flags)) return false;
    closeSync(openSync(devKvm, 'r+'));
    return true;
  } catch {
    return false;
  }
}

/** The acceleration to use: {@link ACCEL_ENV} when set, else KVM when usable, else TCG. */
export function chooseAccel(env: NodeJS.ProcessEnv, usable: () => boolean = kvmUsable): Accel {
  const forced = env[ACCEL_ENV];
  if (forced === 'kvm' || forced === 'tcg') return forced;
  return usable() ? 'kvm' : 'tcg';
}

/**
 * The qemu binary: {@link QEMU_ENV}, else `qemu-system-x86_64` in PATH (or /usr/bin).
 *
 * @throws RktError `stage1-kvm.qemu.missing` (user) when none is executable
 */
export function findQemu(env: NodeJS.ProcessEnv): string {
  const candidates = env[QEMU_ENV] ? [env[QEMU_ENV]!] : [...(env.PATH ?? '').split(':').filter((d) => d.startsWith('/')).map((d) => join(d, QEMU_BINARY)), `/usr/bin/${QEMU_BINARY}`];
  for (const c of candidates) {
    try {
      accessSync(c, fsConstants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw userError('stage1-kvm.qemu.missing', `cannot find ${env[QEMU_ENV] ?? QEMU_BINARY}: install the Debian package qemu-system-x86`);
}

/** qboot when installed; undefined means qemu's default firmware. */
export function findFirmware(path = QBOOT_PATH): string | undefined {
  return existsSync(path) ? path : undefined;
}

/** qemu option values escape commas by doubling them. */
export const qemuEscape = (s: string) => s.replace(/,/g, ',,');

/**
 * How one of the host's standard streams becomes a qemu character device (see src/stdio.ts,
 * which chooses): qemu must write through the same open file description as the caller when
 * it matters (a regular file: a reopened file would have its own offset and the caller's
 * later writes would overwrite the pod's output), and must never see a standard stream close
 * the output port (a chardev whose input ends disconnects its port).
 */
export type HostStream =
  /** reopen `/proc/self/fd/<fd>`: pipes, terminals and other character devices */
  | { kind: 'reopen'; fd: number }
  /** hand qemu the descriptor in fd set `set` (`-add-fd`, then `/dev/fdset/<set>`); fd > 2 */
  | { kind: 'fdset'; fd: number; set: number }
  /** a connected socket; fd > 2 */
  | { kind: 'socket'; fd: number }
  /** qemu's stdio backend: reads fd 0 (input only; qemu 7.2 has no input path for files) */
  | { kind: 'stdio' }
  /** nothing there (a closed descriptor) */
  | { kind: 'null' };

/** A 9p share of a host directory. */
export interface QemuShare {
  tag: string;
  path: string;
  readOnly?: boolean;
}

/** A tap network interface. */
export interface QemuNic {
  tap: string;
  mac: string;
}

/** Everything {@link qemuArgs} needs. */
export interface QemuOptions {
  qemu: string;
  uuid: string;
  accel: Accel;
  memoryMiB: number;
  cpus: number;
  kernel: string;
  initrd: string;
  /** the kernel command line */
  append: string;
  /** undefined: qemu's default firmware */
  firmware?: string;
  /** the pod directory (shared as tag `pod`) */
  podDir: string;
  /** more 9p shares (host volumes) */
  shares: QemuShare[];
  nics: QemuNic[];
  stdout: HostStream;
  stderr: HostStream;
  /** the host's stdin for the app (interactive pods: `stdio` or `null`); absent: no rkt.stdin port */
  stdin?: HostStream;
  /** fd of the control socket the shim hands to qemu */
  ctlFd: number;
}

function chardev(id: string, s: HostStream): string {
  switch (s.kind) {
    case 'null':
      return `null,id=${id}`;
    case 'stdio':
      return `stdio,id=${id},signal=off`;
    case 'socket':
      return `socket,id=${id},fd=${s.fd}`;
    case 'fdset':
      return `file,id=${id},path=/dev/fdset/${s.set},append=on`;
    case 'reopen':
      return `file,id=${id},path=/proc/self/fd/${s.fd},append=on`;
  }
}

/**
 * The qemu argv (argv[0] = the binary). qemu runs with cwd = the pod directory: the console
 * file, pid file and enter socket are given relative to it (unix socket paths are limited to
 * 107 bytes). Machine `pc` (`microvm` hangs in timer calibration under TCG), no default
 * devices, no display, `-no-reboot` so that the guest's reset ends qemu.
 */
export function qemuArgs(o: QemuOptions): string[] {
  const a = [o.qemu, '-name', `rkt-${o.uuid}`, '-machine', 'pc', '-accel', o.accel];
  if (o.accel === 'kvm') a.push('-cpu', 'host');
  a.push('-m', `${o.memoryMiB}M`, '-smp', String(o.cpus));
  a.push('-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot');
  if (o.firmware) a.push('-bios', o.firmware);
  a.push('-kernel', o.kernel, '-initrd', o.initrd, '-append', o.append);
  a.push('-chardev', `file,id=console,path=${POD_KVM_FILES.console}`, '-serial', 'chardev:console');
  a.push('-pidfile', POD_KVM_FILES.qemuPid);
  for (const s of [o.stdout, o.stderr, ...(o.stdin ? [o.stdin] : [])]) if (s.kind === 'fdset') a.push('-add-fd', `fd=${s.fd},set=${s.set}`);
  const shares: QemuShare[] = [{ tag: POD_SHARE_TAG, path: o.podDir }, ...o.shares];
  shares.forEach((s, i) => {
    a.push(
      '-fsdev',
      `local,id=fs${i},path=${qemuEscape(s.path)},security_model=passthrough,multidevs=remap${s.readOnly ? ',readonly=on' : ''}`,
      '-device',
      `virtio-9p-pci,fsdev=fs${i},mount_tag=${s.tag}`,
    );
  });
  a.push('-device', 'virtio-serial-pci,id=ser0');
  const port = (id: string, name: string) => a.push('-device', `virtserialport,bus=ser0.0,chardev=${id},name=${name}`);
  a.push('-chardev', chardev('out', o.stdout));
  port('out', PORTS.stdout);
  a.push('-chardev', chardev('err', o.stderr));
  port('err', PORTS.stderr);
  a.push('-chardev', `socket,id=ctl,fd=${o.ctlFd}`);
  port('ctl', PORTS.ctl);
  a.push('-chardev', `socket,id=enter,path=${POD_KVM_FILES.enterSocket},server=on,wait=off`);
  port('enter', PORTS.enter);
  if (o.stdin) {
    a.push('-chardev', chardev('in', o.stdin));
    port('in', PORTS.stdin);
  }
  o.nics.forEach((n, i) => {
    a.push('-netdev', `tap,id=net${i},ifname=${n.tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=net${i},mac=${n.mac}`);
  });
  return a;
}

/** Options of {@link kernelCommandLine}. */
export interface KernelCmdlineOptions {
  debug?: boolean;
  /** mount options of the pod share (passed to init as RKTKVM_POD_OPTS) */
  podShareOptions: string;
}

/**
 * The guest kernel's command line: console on the serial port (a file on the host), silent
 * unless debugging, no crypto self-tests (≈ 0.3 s under TCG), reboot at once on panic (qemu
 * then exits); the pod share's mount options for init as an environment variable.
 */
export function kernelCommandLine(o: KernelCmdlineOptions): string {
  const words = ['console=ttyS0', o.debug ? 'loglevel=7' : 'quiet loglevel=0', 'panic=-1', 'acpi=noirq', 'cryptomgr.notests', '8250.nr_uarts=1', 'i8042.noaux', 'i8042.nokbd', `RKTKVM_POD_OPTS=${o.podShareOptions}`];
  if (o.debug) words.push('RKTKVM_DEBUG=1');
  return words.join(' ');
}
