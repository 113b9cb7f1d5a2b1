/**
 * @rktnetes/stage1-coreos: the coreos stage1 flavor. The executable is the bundled
 * `stage1-coreos.mjs` inside `dist/stage1-coreos.aci`; this module exports its building blocks
 * for tests and tools (the spec format, the cgroup plan). The seccomp compiler is
 * `@rktnetes/seccomp`.
 */
export { runPod, MASKED_PATHS, READONLY_PATHS, INIT_PATH, INIT_SPEC_PATH, STOP_TIMEOUT_SECONDS, METADATA_SERVICE_PORT, METADATA_URL_PATH, metadataServicePort, metadataHost, metadataUrlFor, setMetadataUrl, type RunContext } from './run/run';
export { prepareApp, type PreparedApp, type AppOptions } from './run/app';
export { appCapabilities, capMask, type AppCapabilities } from './run/caps';
export {
  detectHierarchies,
  withCgroupParent,
  isUnified,
  planPodCgroups,
  createPodCgroups,
  removeCgroups,
  findPodCgroups,
  cgroupProcs,
  cgroupTree,
  podCgroupName,
  sharesToWeight,
  ALLOWED_DEVICES,
  STAGE1_LEAF,
  CPU_PERIOD_US,
  type Hierarchy,
  type AppResources,
  type CgroupPlan,
} from './run/cgroups';
export { resolveExec, composeEnvironment } from './run/exec';
export { resolveIdentity, type AppIdentity } from './run/identity';
export { setupAppFs, enterPrivateMountNamespace, bindSelf, volumeBinds, checkBindPropagation, mountOf, APP_DEVICES, APP_DEV_LINKS, type AppFsSpec, type AppBind, type SharedBind } from './run/mounts';
export { graftShared, sharedGraftArgv, openMountNamespace } from './run/graft';
export { podSettings, type PodSettings } from './run/pod-settings';
export { planNetwork, networkMode, readNetnsFile, releaseNetwork, type NetworkPlan, type NetworkMode, type NetworkOptions, type ReleaseOptions } from './run/network';
export { resolveInRoot, ensureMountTarget } from './run/rootfs';
export { writeRuntimeConfig, readRuntimeConfig, type RuntimeConfig } from './run/runtime-config';
export { hostNotifySocket, podNotifyAddress, supportsSystemdNotify, setNotifySocket, ANNOTATION_SUPPORTS_SYSTEMD_NOTIFY, ENV_NOTIFY_SOCKET, NOTIFY_ADDRESS_PATH } from './run/notify';
export { podSelinux, selinuxOfSpec, withMountContext, isSelinuxLabel, type PodSelinux } from './run/selinux';
export { formatInitSpec, formatAppSpec, escapeSpecValue, unescapeSpecValue, INIT_SPEC_VERSION, type InitSpec, type InitApp, type StdioMode } from './run/spec';
export * from './mutable/index';
export { appMounts, volumeSource, prepareEmptyVolume, type AppMount } from './run/volumes';
export { gcPod, type GcContext } from './entrypoints/gc';
export { stopPod, belongsToPod, type StopContext } from './entrypoints/stop';
export { enterPod, appHostPid, nsenterArgv, initExecArgv, inOtherUserNamespace, type EnterContext } from './entrypoints/enter';
export { ENTRYPOINTS, runEntrypoint, type EntrypointName, type EntrypointContext } from './entrypoints/dispatch';
export {
  podUserNamespace,
  checkUsernsApps,
  checkUsernsPod,
  checkIdmap,
  appRootLayers,
  parseOverlayOptions,
  commonDir,
  idmapCheckOps,
  idmapMountOps,
  mountIdmappedRoots,
  delegateCgroups,
  prepareStage1Root,
  shiftPodOwners,
  setUpUsernsRoots,
  withPodFsIds,
  podFsOptions,
  TTY_GID,
  USERNS_STATE_DIRS,
  DELEGATED_CGROUP_FILES,
  type AppRootLayers,
  type UsernsApp,
  type HelperRunner,
  type Chown,
} from './run/userns';
