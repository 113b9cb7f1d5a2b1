/**
 * The RuntimeService handlers for stats, events, log reopening and resource updates (stats.ts,
 * events.ts, control.ts, resources.ts), with the per-server state they share: the cgroup
 * locator, the CPU samples and measured sizes, the event source.
 */
import type { StreamSink } from '../grpc/server';
import { PodCgroupLocator } from './cgroups';
import type { CriContext } from './context';
import { reopenContainerLog } from './control';
import { CriEvents, type ContainerEventMessage } from './events';
import { updateContainerResources, type ResourcesRequest } from './resources';
import { CriStats, type ContainerStatsFilter, type PodSandboxStatsFilter } from './stats';

/** A server-streaming handler: writes the responses to `sink` until it is done or the client leaves. */
export interface ServerStreamHandler {
  serverStream: (request: any, sink: StreamSink<any>) => Promise<void>;
}

/** What {@link monitorHandlers} makes. */
export interface MonitorHandlers {
  /** unary handlers by method name */
  unary: Record<string, (req: any) => unknown>;
  /** server-streaming handlers by method name */
  streaming: Record<string, ServerStreamHandler>;
  /** the event source (its mutating calls are wrapped with {@link withEvents} by the caller) */
  events: CriEvents;
}

/** The handlers of ContainerStats, ListContainerStats, PodSandboxStats, ListPodSandboxStats, ReopenContainerLog, UpdateContainerResources and GetContainerEvents. */
export function monitorHandlers(ctx: CriContext): MonitorHandlers {
  const locator = new PodCgroupLocator();
  const stats = new CriStats(ctx, { locator });
  const events = new CriEvents(ctx);
  return {
    unary: {
      ContainerStats: (req: { container_id: string }) => stats.containerStats(req.container_id),
      ListContainerStats: (req: { filter: ContainerStatsFilter | null }) => stats.listContainerStats(req.filter),
      PodSandboxStats: (req: { pod_sandbox_id: string }) => stats.podSandboxStats(req.pod_sandbox_id),
      ListPodSandboxStats: (req: { filter: PodSandboxStatsFilter | null }) => stats.listPodSandboxStats(req.filter),
      ReopenContainerLog: async (req: { container_id: string }) => (await reopenContainerLog(ctx, req.container_id), {}),
      UpdateContainerResources: async (req: { container_id: string; linux: ResourcesRequest | null }) => (await updateContainerResources(ctx, locator, req), {}),
    },
    streaming: {
      GetContainerEvents: { serverStream: (_req: unknown, sink: StreamSink<ContainerEventMessage>) => events.serve(sink) },
    },
    events,
  };
}
