/**
 * GetContainerEvents: CONTAINER_CREATED, STARTED, STOPPED and DELETED events for containers and
 * (as containerd reports them, with the sandbox id as `container_id`) for sandboxes.
 *
 * rkt records no events, so they are derived from state, as the v1alpha event watcher does
 * (src/events/watcher.ts), but from the CRI's own view: each container's state (created,
 * running, exited, as ContainerStatus reports it) and each sandbox's (being created, ready, not
 * ready). While someone listens, the states are sampled on a timer and right after every call
 * of the server that changes them (RunPodSandbox, StopPodSandbox, RemovePodSandbox and the
 * container calls), and each change becomes the events that lead to the new state, in order;
 * a record that disappeared is DELETED. So exits the server did not cause (the app ended, was
 * OOM-killed) are reported within one interval, and the server's own changes at once.
 *
 * Each event carries the sandbox's PodSandboxStatus and the ContainerStatus of each of its
 * containers, as the kubelet's evented PLEG expects; for a deleted sandbox, its last status.
 */
import { type CriContext, readPod } from './context';
import { appStatus, containerStatus } from './containers';
import type { StreamSink } from '../grpc/server';
import { podSandboxStatus, sandboxState } from './sandboxes';
import { nowNs, type SandboxRecord } from './state';

/** The event types of runtime.v1. */
export type ContainerEventType = 'CONTAINER_CREATED_EVENT' | 'CONTAINER_STARTED_EVENT' | 'CONTAINER_STOPPED_EVENT' | 'CONTAINER_DELETED_EVENT';

type SandboxStatusMessage = ReturnType<typeof podSandboxStatus>['status'];
type ContainerStatusMessage = ReturnType<typeof containerStatus>['status'];

/** One ContainerEventResponse. */
export interface ContainerEventMessage {
  container_id: string;
  container_event_type: ContainerEventType;
  created_at: string;
  pod_sandbox_status: SandboxStatusMessage | null;
  containers_statuses: ContainerStatusMessage[];
}

/** Where a container or sandbox is in its life. */
export type Phase = 'created' | 'running' | 'exited';

/** The observed state of one container or sandbox. */
export interface Observed {
  phase: Phase;
  kind: 'container' | 'sandbox';
  sandboxId: string;
  /** whether it ever ran (an exited container that never started gets no STARTED event) */
  started: boolean;
  /** ns since the epoch, to order the events of one sample */
  createdAt: string;
  /** a sandbox's record, for the status of its DELETED event */
  sandbox?: SandboxRecord;
}

const ORDER: readonly Phase[] = ['created', 'running', 'exited'];
const EVENT_OF: Record<Phase, ContainerEventType> = { created: 'CONTAINER_CREATED_EVENT', running: 'CONTAINER_STARTED_EVENT', exited: 'CONTAINER_STOPPED_EVENT' };

/**
 * The events that lead from `before` to `after` (both undefined: none): the phases after the
 * previous one up to the current one (STARTED left out for what never ran), DELETED when it is
 * gone. A phase never goes back.
 */
export function transitions(before: Phase | undefined, after: Observed | undefined): ContainerEventType[] {
  if (!after) return before === undefined ? [] : ['CONTAINER_DELETED_EVENT'];
  const from = before === undefined ? -1 : ORDER.indexOf(before);
  const out: ContainerEventType[] = [];
  for (let i = from + 1; i <= ORDER.indexOf(after.phase); i++) {
    const p = ORDER[i]!;
    if (p === 'running' && after.phase === 'exited' && !after.started) continue;
    out.push(EVENT_OF[p]);
  }
  return out;
}

/** The status of a sandbox already removed, from its record: not ready, no network. */
export function removedSandboxStatus(rec: SandboxRecord): SandboxStatusMessage {
  return {
    id: rec.id,
    metadata: rec.metadata,
    state: 'SANDBOX_NOTREADY',
    created_at: rec.createdAt,
    labels: rec.labels,
    annotations: rec.annotations,
    runtime_handler: rec.runtimeHandler,
    network: { ip: '', additional_ips: [] },
    linux: { namespaces: { options: { network: rec.hostNetwork ? 'NODE' : 'POD', pid: 'POD', ipc: 'POD' } } },
  };
}

/** Options of {@link CriEvents}. */
export interface CriEventsOptions {
  /** ms between samples while someone listens (default 1000) */
  intervalMs?: number;
  /** events queued for a subscriber that does not read before it is dropped (default 10000) */
  maxQueue?: number;
}

type Subscriber = (e: ContainerEventMessage) => void;

/** The event source of one server. */
export class CriEvents {
  private readonly subscribers = new Set<Subscriber>();
  /** the last sample; undefined while nobody listens */
  private known: Map<string, Observed> | undefined;
  private readonly lastSandboxStatus = new Map<string, SandboxStatusMessage>();
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;
  private readonly maxQueue: number;

  constructor(
    private readonly ctx: CriContext,
    opts: CriEventsOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 1000;
    this.maxQueue = opts.maxQueue ?? 10_000;
  }

  /** The state of every container and sandbox now. */
  observe(): Map<string, Observed> {
    const out = new Map<string, Observed>();
    const pods = new Map<string, ReturnType<typeof readPod>>();
    const pod = (uuid: string) => {
      if (!uuid) return undefined;
      if (!pods.has(uuid)) pods.set(uuid, readPod(this.ctx, uuid));
      return pods.get(uuid);
    };
    for (const s of this.ctx.state.listSandboxes()) {
      let phase: Phase;
      if (s.stoppedAt !== undefined) phase = 'exited';
      else if (!s.podUuid) phase = 'created';
      else phase = sandboxState(s, pod(s.podUuid)) === 'SANDBOX_READY' ? 'running' : 'exited';
      out.set(s.id, { phase, kind: 'sandbox', sandboxId: s.id, started: s.podUuid !== '', createdAt: s.createdAt, sandbox: s });
    }
    for (const c of this.ctx.state.listContainers()) {
      const st = appStatus(c, pod(c.podUuid));
      const phase: Phase = st.state === 'CONTAINER_CREATED' ? 'created' : st.state === 'CONTAINER_RUNNING' ? 'running' : 'exited';
      out.set(c.id, { phase, kind: 'container', sandboxId: c.sandboxId, started: st.startedAt !== '0', createdAt: c.createdAt });
    }
    return out;
  }

  /** Samples now and sends the events of what changed; nothing while nobody listens. */
  poll(): void {
    if (!this.known) return;
    const before = this.known;
    let now: Map<string, Observed>;
    try {
      now = this.observe();
    } catch (e) {
      this.ctx.log?.debug(`events: cannot sample the state: ${(e as Error).message}`);
      return;
    }
    this.known = now;
    const changed: Array<{ id: string; obs: Observed; types: ContainerEventType[] }> = [];
    for (const [id, obs] of now) {
      const types = transitions(before.get(id)?.phase, obs);
      if (types.length) changed.push({ id, obs, types });
    }
    for (const [id, obs] of before) if (!now.has(id)) changed.push({ id, obs, types: transitions(obs.phase, undefined) });
    // a sandbox starts before its containers and stops after them; then by creation
    const rank = (c: (typeof changed)[number]) => (c.obs.kind !== 'sandbox' ? 1 : c.types.includes('CONTAINER_STOPPED_EVENT') || c.types.includes('CONTAINER_DELETED_EVENT') ? 2 : 0);
    changed.sort((a, b) => rank(a) - rank(b) || (BigInt(a.obs.createdAt) < BigInt(b.obs.createdAt) ? -1 : BigInt(a.obs.createdAt) > BigInt(b.obs.createdAt) ? 1 : 0));
    for (const c of changed) for (const type of c.types) this.send(this.message(c.id, c.obs, type, before.get(c.obs.sandboxId)?.sandbox));
  }

  /** The event; `gone` is the record of its sandbox when that was removed (for its last status). */
  private message(id: string, obs: Observed, type: ContainerEventType, gone: SandboxRecord | undefined): ContainerEventMessage {
    let sandbox: SandboxStatusMessage | null = null;
    if (this.ctx.state.findSandbox(obs.sandboxId)?.id === obs.sandboxId) {
      sandbox = podSandboxStatus(this.ctx, obs.sandboxId, false).status;
      this.lastSandboxStatus.set(obs.sandboxId, sandbox);
    } else {
      const last = this.lastSandboxStatus.get(obs.sandboxId);
      sandbox = last ? { ...last, state: 'SANDBOX_NOTREADY' } : gone ? removedSandboxStatus(gone) : null;
    }
    if (obs.kind === 'sandbox' && type === 'CONTAINER_DELETED_EVENT') this.lastSandboxStatus.delete(obs.sandboxId);
    const statuses: ContainerStatusMessage[] = [];
    for (const c of this.ctx.state.containersOf(obs.sandboxId)) {
      try {
        statuses.push(containerStatus(this.ctx, c.id, false).status);
      } catch {
        // removed meanwhile
      }
    }
    return { container_id: id, container_event_type: type, created_at: nowNs(), pod_sandbox_status: sandbox, containers_statuses: statuses };
  }

  private send(e: ContainerEventMessage): void {
    for (const s of this.subscribers) s(e);
  }

  /**
   * Adds a subscriber; the first one takes the current state as known (no events for what
   * already is) and starts the timer. Returns the function that removes it.
   */
  subscribe(fn: Subscriber): () => void {
    if (this.subscribers.size === 0) {
      this.known = this.observe();
      this.timer = setInterval(() => this.poll(), this.intervalMs);
      this.timer.unref();
    }
    this.subscribers.add(fn);
    return () => {
      if (!this.subscribers.delete(fn) || this.subscribers.size > 0) return;
      if (this.timer) clearInterval(this.timer);
      this.timer = undefined;
      this.known = undefined;
      this.lastSandboxStatus.clear();
    };
  }

  /**
   * Serves one GetContainerEvents call: writes every event until the client goes away. A client
   * that lets {@link CriEventsOptions.maxQueue} events pile up is dropped (the call ends).
   */
  async serve(sink: StreamSink<ContainerEventMessage>): Promise<void> {
    const queue: ContainerEventMessage[] = [];
    let wake: (() => void) | undefined;
    let overflow = false;
    const unsubscribe = this.subscribe((e) => {
      if (queue.length >= this.maxQueue) overflow = true;
      else queue.push(e);
      wake?.();
    });
    const onAbort = () => wake?.();
    sink.signal.addEventListener('abort', onAbort);
    try {
      while (!sink.signal.aborted && !overflow) {
        const e = queue.shift();
        if (e) {
          await sink.write(e);
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      if (overflow) this.ctx.log?.warn('events: dropping a GetContainerEvents client that does not keep up');
    } finally {
      sink.signal.removeEventListener('abort', onAbort);
      unsubscribe();
    }
  }
}

/** The calls after which the state is sampled at once. */
export const MUTATING_CALLS = ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox', 'CreateContainer', 'StartContainer', 'StopContainer', 'RemoveContainer'] as const;

/**
 * The handlers with the mutating ones ({@link MUTATING_CALLS}) wrapped so that the events of what
 * they changed are sent as soon as they return (or fail: they may have changed something).
 */
export function withEvents<T>(handlers: Record<string, T>, events: CriEvents): Record<string, T> {
  const out: Record<string, T> = { ...handlers };
  for (const name of MUTATING_CALLS) {
    const h = handlers[name];
    if (typeof h !== 'function') continue;
    out[name] = (async (req: unknown) => {
      try {
        return await (h as (r: unknown) => unknown)(req);
      } finally {
        events.poll();
      }
    }) as T;
  }
  return out;
}
