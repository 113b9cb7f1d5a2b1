/**
 * @rktnetes/stage1-kvm: the kvm stage1 flavor (each pod in its own qemu VM) as a library: the
 * pieces its entrypoints are made of, exported for tests and tools. The executable is
 * `src/bin/stage1-kvm.ts`, shipped with the guest kernel, initramfs and shim in
 * `dist/stage1-kvm.aci`.
 */
export { entrypointOf, debugRequested, kvmLogger, KVM_ENTRYPOINTS, KVM_PROGRAM, type KvmEntrypoint, type EntrypointContext } from './context';
export * from './layout';
export {
  SPEC_MAGIC,
  SPEC_VERSION,
  SPEC_VERSIONS_READ,
  encodeTokens,
  decodeTokens,
  serializeGuestSpec,
  parseGuestSpec,
  serializeEnterRequest,
  type GuestSpec,
  type GuestApp,
  type GuestStep,
  type GuestShare,
  type GuestNet,
  type GuestAddress,
  type GuestRoute,
  type GuestMountFlag,
  type EnterRequest,
} from './spec';
export {
  QEMU_BINARY,
  QBOOT_PATH,
  ACCEL_ENV,
  QEMU_ENV,
  kvmUsable,
  chooseAccel,
  findQemu,
  findFirmware,
  qemuEscape,
  qemuArgs,
  kernelCommandLine,
  type Accel,
  type HostStream,
  type QemuShare,
  type QemuNic,
  type QemuOptions,
  type KernelCmdlineOptions,
} from './qemu';
export { fdKind, fdAccessMode, chooseOutputStream, chooseInputStream, prepareHostStreams, type FdKind, type HostStreams } from './stdio';
export { GUEST_BASE_MEMORY_MIB, MIN_MEMORY_MIB, vmSize, type VmSize } from './resources';
export { resolveInRoot, hostPathInRoot, findExecutable } from './root-path';
export { resolveCredentials, idFromFile, type Credentials } from './credentials';
export { loadKvmPod, type KvmPod, type KvmApp } from './pod';
export { appVolumes, type AppVolume } from './volumes';
export { planPod, applyHostPrep, capabilityMask, retainedCapabilities, SHARE_OPTIONS, POD_VOLUMES_DIR, LOG_DIR, type PodPlan, type PlanOptions, type HostPath, type AppFilter } from './plan';
export {
  kvmNetworkMode,
  tapNameOf,
  networkOf,
  guestInterfaces,
  tapWiring,
  attachTaps,
  setupKvmNetwork,
  releaseKvmNetwork,
  type KvmNetMode,
  type KvmNetwork,
  type KvmNetworkOptions,
  type KvmReleaseOptions,
  type VmNic,
  type VmAddress,
  type VmRoute,
} from './net';
export { FRAME, MAX_FRAME_PAYLOAD, encodeFrame, encodeUint32, FrameDecoder, type Frame } from './channel';
export { cmdlineOf, isPodQemu, isShim, podProcesses, signalProcess, type PodProcesses } from './procs';
export { STOP_TIMEOUT_MS, findStage1Assets, freeFds, prepareKvmRun, kvmRun, type KvmExec, type Stage1Assets } from './run';
export { DEFAULT_ENTER_COMMAND, ENTER_CONNECT_WAIT_MS, enterRequest, runEnterSession, kvmEnter, type EnterIO } from './enter';
export { kvmStop, type KvmStopResult } from './stop';
export { kvmGc, type KvmGcResult } from './gc';
