/**
 * Where stage1-kvm keeps its files: in its image (the kernel, the initramfs, the shim) and in
 * the pod directory (`<pod>/kvm/`, private to this flavor), and how the guest sees the pod.
 */
import { join } from 'node:path';

/** Directory of the stage1 image (relative to its rootfs) holding the VM's parts. */
export const IMAGE_KVM_DIR = 'kvm';
/** The uncompressed PVH-capable kernel, in the image. */
export const IMAGE_KERNEL = `${IMAGE_KVM_DIR}/vmlinux`;
/** The initramfs (cpio newc: the guest init and the virtio/9p modules), in the image. */
export const IMAGE_INITRD = `${IMAGE_KVM_DIR}/initrd`;
/** The host process between run and qemu (native/shim.c), in the image. */
export const IMAGE_SHIM = `${IMAGE_KVM_DIR}/pod-shim`;
/** The kernel release the image was built with, in the image. */
export const IMAGE_KERNEL_VERSION = `${IMAGE_KVM_DIR}/kernel-version`;

/** `<pod>/kvm`: this flavor's private directory in the pod. */
export const POD_KVM_DIR = 'kvm';

/** The pod-relative paths of the files in `<pod>/kvm/`. */
export const POD_KVM_FILES = {
  /** the guest spec run writes before boot (src/spec.ts) */
  spec: `${POD_KVM_DIR}/spec`,
  /** the pod's exit status, written by the guest init */
  exit: `${POD_KVM_DIR}/exit`,
  /** the guest's serial console: kernel messages and init diagnostics */
  console: `${POD_KVM_DIR}/console`,
  /** qemu's pid (qemu -pidfile) */
  qemuPid: `${POD_KVM_DIR}/qemu.pid`,
  /** unix socket qemu listens on for `enter` sessions (relative: socket paths are short) */
  enterSocket: `${POD_KVM_DIR}/enter.sock`,
} as const;

/** `<pod>/kvm/seccomp`: the apps' seccomp programs, `<app>.bpf` (`struct sock_filter[]`), written by run. */
export const POD_SECCOMP_DIR = `${POD_KVM_DIR}/seccomp`;
/** The pod-relative path of an app's seccomp program. */
export const relSeccompPath = (app: string) => `${POD_SECCOMP_DIR}/${app}.bpf`;

/** `<pod>/kvm`. */
export const podKvmDir = (pod: string) => join(pod, POD_KVM_DIR);
/** The host path of one of the {@link POD_KVM_FILES}. */
export const podKvmPath = (pod: string, file: keyof typeof POD_KVM_FILES) => join(pod, POD_KVM_FILES[file]);

/** Where the guest mounts the pod directory (9p tag {@link POD_SHARE_TAG}). */
export const GUEST_POD_DIR = '/pod';
/** The 9p tag of the pod directory share. */
export const POD_SHARE_TAG = 'pod';
/** Where the guest mounts the pod share a second time, with page caching, for the apps' roots. */
export const GUEST_APPS_DIR = '/apps';

/** The guest path of a pod-relative path, as seen through the pod share. */
export const guestPodPath = (rel: string) => `${GUEST_POD_DIR}/${rel.replace(/^\/+/, '')}`;
/** The guest path of a pod-relative path on the cached apps mount. */
export const guestAppsPath = (rel: string) => `${GUEST_APPS_DIR}/${rel.replace(/^\/+/, '')}`;

/** The names of the virtio-serial ports the guest init looks for. */
export const PORTS = {
  stdout: 'rkt.stdout',
  stderr: 'rkt.stderr',
  stdin: 'rkt.stdin',
  ctl: 'rkt.ctl',
  enter: 'rkt.enter',
} as const;
