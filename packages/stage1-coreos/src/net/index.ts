/**
 * The pod networking of stage1-coreos: CNI network definitions and plugins, the pod's network
 * namespace, port forwarding and DNS. See setup.ts for the order of operations.
 */
export { NET_D, BUILTIN_NET_DIR, DEFAULT_SYSTEM_CONFIG, DEFAULT_LOCAL_CONFIG, netConfDirs, readNetDefinition, loadNetDefinitions, selectNetworks, type NetDefinition, type SelectedNet, type NetConfDirsOptions, type LoadLog } from './conf';
export { isDnsEmpty, formatResolvConf } from './dns';
export { runCommandSync, findTool, failureText, FALLBACK_TOOL_DIRS, DEFAULT_COMMAND_TIMEOUT_MS, type CommandRunner, type CommandResult, type CommandOptions } from './exec';
export { NETNS_RUN_DIR, podNetnsPath, ensureNetnsDir, isNetnsMount, createNetns, destroyNetns } from './netns';
export { BUILTIN_PLUGIN_DIR, EXTRA_PLUGIN_DIRS, pluginDirs, findPlugin, pluginEnv, runPlugin, type PluginCall, type PluginDirsOptions } from './plugin';
export {
  forwardedPorts,
  portFwdChains,
  portFwdScript,
  portFwdTeardownScript,
  setupPortForwarding,
  teardownPortForwarding,
  interfacesWithAddress,
  enableRouteLocalnet,
  type ForwardedPort,
} from './portfwd';
export { podNetDir, podRelative, fromPod, ifNameOf, prefixToMask, addressOf, setupPodNetwork, teardownPodNetwork, type PodNetworkContext, type PodNetworkRequest, type PodNetwork } from './setup';
