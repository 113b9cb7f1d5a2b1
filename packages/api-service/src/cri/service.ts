/**
 * The handler tables of runtime.v1's RuntimeService and ImageService. Every method of the
 * definition gets a handler: the implemented ones below, UNIMPLEMENTED for the others (named
 * in {@link NOT_YET}, listed in docs/kubernetes.md).
 */
import type * as GrpcModule from '@grpc/grpc-js';
import { rktVersion } from '../version';
import { createContainer, containerStatus, execSync, listContainers, removeContainer, startContainer, stopContainer } from './containers';
import type { CriContext } from './context';
import { withEvents } from './events';
import { criServerStream, criUnary, criUnimplemented, invalidArgument } from './grpc';
import { imageMessage } from './images';
import { monitorHandlers, type ServerStreamHandler } from './monitor';
import { pullImage, removeImage } from './pull';
import { listPodSandbox, podSandboxStatus, removePodSandbox, runPodSandbox, stopPodSandbox } from './sandboxes';
import { attachUrl, execUrl, portForwardUrl } from './streaming/requests';

/** The CRI version this server speaks (VersionResponse.version, the kubelet API version). */
export const CRI_VERSION = '0.1.0';
/** The runtime's name in VersionResponse. */
export const RUNTIME_NAME = 'rktnetes';
export const RUNTIME_API_VERSION = 'v1';

/** RPCs deliberately answered with UNIMPLEMENTED for now. */
export const NOT_YET = [
  'StreamContainerStats',
  'StreamPodSandboxStats',
  'StreamPodSandboxes',
  'StreamContainers',
  'StreamImages',
  'UpdatePodSandboxResources',
  'CheckpointContainer',
  'ListMetricDescriptors',
  'ListPodSandboxMetrics',
  'StreamPodSandboxMetrics',
] as const;

/** A unary handler (a function of the request) or a server-streaming one. */
type Handler = ((req: any) => unknown) | ServerStreamHandler;

/** A seconds field (int64 as text) as a number; INVALID_ARGUMENT when not an integer. */
function seconds(v: unknown, field: string): number {
  const n = Number(v ?? 0);
  if (!Number.isInteger(n) || n < 0) throw invalidArgument(`${field}: expected a non-negative number of seconds, got ${JSON.stringify(v)}`);
  return n;
}

/** RuntimeService handlers by method name. */
export function runtimeHandlers(ctx: CriContext): Record<string, Handler> {
  const monitor = monitorHandlers(ctx);
  const handlers: Record<string, Handler> = {
    ...monitor.unary,
    ...monitor.streaming,
    Version: () => ({ version: CRI_VERSION, runtime_name: RUNTIME_NAME, runtime_version: rktVersion(), runtime_api_version: RUNTIME_API_VERSION }),
    Status: (req: { verbose: boolean }) => ({
      status: {
        conditions: [
          { type: 'RuntimeReady', status: true, reason: '', message: '' },
          { type: 'NetworkReady', status: true, reason: '', message: '' },
        ],
      },
      info: req.verbose ? { config: JSON.stringify({ rkt: ctx.rkt.opts.rktPath, dataDir: ctx.rkt.opts.dataDir, podCidr: ctx.state.runtimeConfig()?.podCidr ?? '' }) } : {},
      runtime_handlers: [{ name: '', features: { recursive_read_only_mounts: false, user_namespaces: false } }],
      features: { supplemental_groups_policy: false, user_namespaces_host_network: false },
    }),
    RuntimeConfig: () => ({ linux: { cgroup_driver: 'CGROUPFS' } }),
    UpdateRuntimeConfig: async (req: { runtime_config: { network_config: { pod_cidr: string } | null } | null }) => {
      const cidr = req.runtime_config?.network_config?.pod_cidr ?? '';
      if (cidr) await ctx.state.putRuntimeConfig({ podCidr: cidr });
      return {};
    },
    RunPodSandbox: (req) => runPodSandbox(ctx, req),
    StopPodSandbox: async (req: { pod_sandbox_id: string }) => (await stopPodSandbox(ctx, req.pod_sandbox_id), {}),
    RemovePodSandbox: async (req: { pod_sandbox_id: string }) => (await removePodSandbox(ctx, req.pod_sandbox_id), {}),
    PodSandboxStatus: (req: { pod_sandbox_id: string; verbose: boolean }) => podSandboxStatus(ctx, req.pod_sandbox_id, req.verbose),
    ListPodSandbox: (req) => listPodSandbox(ctx, req.filter),
    CreateContainer: (req) => createContainer(ctx, req),
    StartContainer: async (req: { container_id: string }) => (await startContainer(ctx, req.container_id), {}),
    StopContainer: async (req: { container_id: string; timeout: string }) => (await stopContainer(ctx, req.container_id, seconds(req.timeout, 'timeout')), {}),
    RemoveContainer: async (req: { container_id: string }) => (await removeContainer(ctx, req.container_id), {}),
    ListContainers: (req) => listContainers(ctx, req.filter),
    ContainerStatus: (req: { container_id: string; verbose: boolean }) => containerStatus(ctx, req.container_id, req.verbose),
    ExecSync: (req) => execSync(ctx, req),
    Exec: (req) => execUrl(ctx, req),
    Attach: (req) => attachUrl(ctx, req),
    PortForward: (req) => portForwardUrl(ctx, req),
  };
  return withEvents(handlers, monitor.events);
}

/** ImageService handlers by method name. */
export function imageHandlers(ctx: CriContext): Record<string, Handler> {
  return {
    ListImages: (req: { filter: { image: { image: string } | null } | null }) => {
      const all = ctx.images.list();
      const want = req.filter?.image?.image;
      if (!want) return { images: all.map(imageMessage) };
      const one = ctx.images.find(want, all);
      return { images: one ? [imageMessage(one)] : [] };
    },
    ImageStatus: (req: { image: { image: string } | null; verbose: boolean }) => {
      const image = ctx.images.find(req.image?.image ?? '');
      const info: Record<string, string> = {};
      if (image && req.verbose) info.info = JSON.stringify({ storeKeys: image.keys });
      return { image: image ? imageMessage(image) : null, info };
    },
    PullImage: (req) => pullImage(ctx, req),
    RemoveImage: async (req) => (await removeImage(ctx, req), {}),
    ImageFsInfo: async () => {
      const u = await ctx.images.usage();
      return {
        image_filesystems: [
          { timestamp: u.timestamp.toString(), fs_id: { mountpoint: u.mountpoint }, used_bytes: { value: u.bytes.toString() }, inodes_used: { value: u.inodes.toString() } },
        ],
        container_filesystems: [],
      };
    },
  };
}

/**
 * An implementation for `definition`: the handlers given (unary ones for unary methods,
 * {@link ServerStreamHandler}s for server-streaming ones), UNIMPLEMENTED for every other method.
 */
export function implementation(definition: GrpcModule.ServiceDefinition, handlers: Record<string, Handler>): GrpcModule.UntypedServiceImplementation {
  const impl: GrpcModule.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    const h = handlers[name];
    if (typeof h === 'function' && !method.responseStream && !method.requestStream) impl[name] = criUnary(h);
    else if (h && typeof h === 'object' && method.responseStream && !method.requestStream) impl[name] = criServerStream(h.serverStream);
    else impl[name] = criUnimplemented(name);
  }
  return impl;
}
