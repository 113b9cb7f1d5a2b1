/**
 * @rktnetes/cni-bridge: a CNI bridge plugin (bin `cni-bridge`) and the pieces it is made of,
 * exported for tests and for runtimes that want the same address math, IPAM store or rule names.
 */
export { runPlugin, cmdAdd, cmdDel, cmdCheck, cmdGc, cmdStatus, validAttachments, calcGateways, checkNetns, deleteContainerLink, deleteContainerLinkAsync, versionResult } from './plugin';
export type { PluginInput, PluginOutput, PluginOptions, GatewayCalc } from './plugin';
export { loadBridgeConfig, checkVersion, decodeStdin, SUPPORTED_VERSIONS, DEFAULT_BRIDGE, type BridgeConfig } from './config';
export { parseCniEnv, parseCniArgs, isSafeIfName, restoreCaCertsEnv, CA_CERTS_STASH, type CniEnv, type CniCommand } from './env';
export { cniError, cniCodeOf, toCniErrorResult, CNI_INTERNAL_ERROR, PLUGIN_ERROR_CODES, type CniErrorOptions } from './errors';
export { findTool, runTool, runToolAsync, lastLine, type ToolRunner, type AsyncToolRunner, type ToolResult, type ToolOptions } from './exec';
export * from './addr';
export {
  masqChainName,
  masqComment,
  masqRules,
  chainState,
  jumpSource,
  masqSetupScript,
  masqTeardownScript,
  setupMasq,
  teardownMasq,
  checkMasq,
  listNat,
  masqChainsOf,
  gcMasq,
  type ChainState,
} from './masq';
export {
  randomMac,
  randomVethName,
  ensureBridge,
  planGatewayAddrs,
  vethAddCommand,
  containerConfigCommands,
  hostPortCommands,
  enableForwarding,
  type BridgeState,
  type GatewayPlan,
  type VethSpec,
} from './link';
export { lockFile, type HeldLock, type LockOptions } from './lock';
export { AllocationStore, DEFAULT_DATA_DIR, type Allocation } from './ipam/store';
export { rangeSetsOf, canonicalRange, candidates, rangeContains, rangeFor, describeSet, type Range, type RangeSet } from './ipam/ranges';
export {
  hostLocalAdd,
  hostLocalDel,
  hostLocalCheck,
  hostLocalGc,
  hostLocalStatus,
  isBuiltinHostLocal,
  parseResolvConf,
  HOST_LOCAL_KEYS,
  type HostLocalRequest,
  type HostLocalNetwork,
  type Attachment,
  type IpamResult,
} from './ipam/host-local';
export { ipamAdd, ipamDel, ipamCheck, ipamGc, ipamStatus, execDelegate, findPlugin, usesBuiltinIpam, type IpamContext } from './ipam/index';
