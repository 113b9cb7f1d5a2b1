/**
 * @rktnetes/pod-net: the CNI networking of a pod, shared by the stage1 flavors that give pods
 * their own network namespace (coreos, kvm): network definitions and their selection, plugins,
 * the pod's network namespace, port forwarding, DNS, `net-info.json`, and gc's teardown. See
 * setup.ts for the order of operations.
 */
export { NET_D, BUILTIN_NET_DIR, DEFAULT_SYSTEM_CONFIG, DEFAULT_LOCAL_CONFIG, netConfDirs, readNetDefinition, loadNetDefinitions, selectNetworks, type NetDefinition, type SelectedNet, type NetConfDirsOptions, type LoadLog } from './conf';
export { isDnsEmpty, formatResolvConf } from './dns';
export { runCommandSync, runCommandAsync, findTool, failureText, FALLBACK_TOOL_DIRS, DEFAULT_COMMAND_TIMEOUT_MS, type CommandRunner, type CommandResult, type CommandOptions, type AsyncCommandRunner, type AsyncCommandOptions } from './exec';
export { NETNS_RUN_DIR, podNetnsPath, ensureNetnsDir, isNetnsMount, createNetns, destroyNetns } from './netns';
export { BUILTIN_PLUGIN_DIR, EXTRA_PLUGIN_DIRS, pluginDirs, findPlugin, pluginEnv, runPlugin, runPluginAsync, type PluginCall, type PluginDirsOptions } from './plugin';
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
export { podNetDir, podRelative, fromPod, ifNameOf, prefixToMask, addressOf, setupPodNetwork, startPodNetwork, teardownPodNetwork, readNetnsFile, podNetworkContext, type PodNetworkContext, type PodNetworkOptions, type PodNetworkRequest, type PodNetwork } from './setup';
