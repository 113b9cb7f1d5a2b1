/**
 * Pod sandboxes: each is a mutable rkt pod started with `rkt app sandbox` (which becomes the
 * pod's supervisor and lives as long as the pod, detached from this server), stopped with
 * `rkt stop` and removed with `rkt rm`. State comes from the pod directory (PodView): a sandbox
 * is READY while its pod runs and StopPodSandbox has not been called.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { SUPERVISOR_READY, supervisorStatusPathIn } from '@rktnetes/common';
import { systemError } from '@rktnetes/errors';
import type { PodRecord } from '../pods/view';
import { readPod, sandboxKey, type CriContext } from './context';
import { alreadyExists, invalidArgument } from './grpc';
import type { DNSConfig, NamespaceOption, PodSandboxConfig, PodSandboxMessage, PodSandboxState, PortMapping, StringMap } from './messages';
import { cgroupParentFlags, sandboxPidFlags, sysctlFlags } from './pod-settings';
import { killGroup } from './rkt';
import { newCriId, nowNs, type SandboxRecord } from './state';

/** Pod annotation linking an rkt pod to its CRI sandbox. */
export const ANNOTATION_SANDBOX_ID = 'rktnetes.io/cri/sandbox-id';

/** Whether the request asks for the host's network namespace. */
export function usesHostNetwork(config: Pick<PodSandboxConfig, 'linux'>): boolean {
  return config.linux?.security_context?.namespace_options?.network === 'NODE';
}

/** The `--port` value of a port mapping, or undefined when it maps no host port. */
export function portFlag(p: PortMapping): string | undefined {
  if (!p.host_port) return undefined;
  const proto = (p.protocol ?? 'TCP').toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp') throw invalidArgument(`port mapping ${p.container_port}: protocol ${p.protocol} is not supported`);
  const ok = (n: number) => Number.isInteger(n) && n > 0 && n <= 65535;
  if (!ok(p.container_port) || !ok(p.host_port)) throw invalidArgument(`port mapping ${p.container_port}:${p.host_port}: ports must be from 1 to 65535`);
  return `${proto}-${p.container_port}-${p.host_port}:${proto}:${p.container_port}:${p.host_ip || '0.0.0.0'}:${p.host_port}`;
}

/** The `--dns*` flags: the given servers, searches and options, else the host's resolv.conf. */
export function dnsFlags(dns: DNSConfig | null): string[] {
  if (!dns || (!dns.servers.length && !dns.searches.length && !dns.options.length)) return ['--dns=host'];
  const out: string[] = [];
  for (const s of dns.servers) out.push(`--dns=${s}`);
  if (!dns.servers.length) out.push('--dns=host');
  for (const s of dns.searches) out.push(`--dns-search=${s}`);
  for (const o of dns.options) out.push(`--dns-opt=${o}`);
  return out;
}

/**
 * The arguments of `rkt app sandbox` for a sandbox config (after `app sandbox`): the uuid file,
 * the sandbox id annotation, host network or the default one, hostname, DNS, host ports, IPC
 * namespace, sysctls, cgroup parent, pid namespace (pod-settings.ts), then the server's stage1
 * flags.
 */
export function sandboxArgs(config: PodSandboxConfig, id: string, uuidFile: string, stage1Args: readonly string[] = []): string[] {
  const args = [`--uuid-file-save=${uuidFile}`, `--annotation=${ANNOTATION_SANDBOX_ID}=${id}`];
  const host = usesHostNetwork(config);
  if (host) args.push('--net=host');
  if (config.hostname) args.push(`--hostname=${config.hostname}`);
  args.push(...dnsFlags(config.dns_config));
  if (!host) {
    for (const p of config.port_mappings ?? []) {
      const f = portFlag(p);
      if (f) args.push(`--port=${f}`);
    }
  }
  if (config.linux?.security_context?.namespace_options?.ipc === 'NODE') args.push('--ipc=parent');
  args.push(...sysctlFlags(config), ...cgroupParentFlags(config), ...sandboxPidFlags(config));
  args.push(...stage1Args);
  return args;
}

function checkConfig(config: PodSandboxConfig | null): asserts config is PodSandboxConfig & { metadata: NonNullable<PodSandboxConfig['metadata']> } {
  if (!config) throw invalidArgument('config is required');
  const m = config.metadata;
  if (!m || !m.name) throw invalidArgument('config.metadata.name is required');
  if (!m.namespace) throw invalidArgument('config.metadata.namespace is required');
  if (config.hostname && !/^[a-zA-Z0-9](?:[a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?$/.test(config.hostname)) {
    throw invalidArgument(`invalid hostname ${JSON.stringify(config.hostname)}`);
  }
}

/** Whether a sandbox's supervisor is up and accepting apps. */
function supervisorReady(pod: PodRecord): boolean {
  try {
    return pod.state === 'running' && readlinkSync(supervisorStatusPathIn(pod.stage1Root)) === SUPERVISOR_READY;
  } catch {
    return false;
  }
}

function readUuid(path: string): string | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return text || undefined;
  } catch {
    return undefined;
  }
}

function logTail(path: string): string {
  try {
    const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() && !/^rkt: warning:/.test(l));
    return (lines.at(-1) ?? '').replace(/^rkt: /, '');
  } catch {
    return '';
  }
}

/** How often RunPodSandbox looks whether the new pod is ready (a few stat calls each time). */
const READY_POLL_MS = 10;

/** RunPodSandbox: starts the pod and waits until its supervisor is ready. */
export async function runPodSandbox(ctx: CriContext, req: { config: PodSandboxConfig | null; runtime_handler: string }): Promise<{ pod_sandbox_id: string }> {
  const config = req.config;
  checkConfig(config);
  if (req.runtime_handler) throw invalidArgument(`runtime handler ${JSON.stringify(req.runtime_handler)} is not configured (only the default handler is)`);
  const m = config.metadata;
  const taken = ctx.state
    .listSandboxes()
    .find((s) => s.metadata.name === m.name && s.metadata.namespace === m.namespace && s.metadata.uid === m.uid && s.metadata.attempt === m.attempt);
  const name = `${m.name}_${m.namespace}_${m.uid}_${m.attempt}`;
  if (taken || ctx.reserved.has(`sandbox/${name}`)) throw alreadyExists(`pod sandbox name ${name} is already in use${taken ? ` by ${taken.id}` : ''}`);
  ctx.reserved.add(`sandbox/${name}`);

  const id = newCriId();
  return ctx.locks.exclusive(sandboxKey(id), async () => {
    try {
      const dir = ctx.state.sandboxDir(id);
      const uuidFile = join(dir, 'uuid');
      const logFile = join(dir, 'supervisor.log');
      const createdAt = nowNs();
      const args = sandboxArgs(config, id, uuidFile, ctx.settings.stage1Args);
      const rec: SandboxRecord = {
        version: 1,
        id,
        podUuid: '',
        metadata: { name: m.name, uid: m.uid, namespace: m.namespace, attempt: m.attempt },
        labels: { ...config.labels },
        annotations: { ...config.annotations },
        runtimeHandler: req.runtime_handler,
        createdAt,
        hostname: config.hostname,
        logDirectory: config.log_directory,
        hostNetwork: usesHostNetwork(config),
        pidNamespace: config.linux?.security_context?.namespace_options?.pid ?? 'POD',
        ipcNamespace: config.linux?.security_context?.namespace_options?.ipc ?? 'POD',
        portMappings: config.port_mappings ?? [],
        dns: config.dns_config,
      };
      // the record first (without uuid): a crash while starting leaves something to remove
      await ctx.state.putSandbox(rec);
      const child = ctx.rkt.spawnDetached(['app', 'sandbox', ...args], logFile);
      let exited: string | undefined;
      child.once('exit', (code, signal) => (exited = signal ? `killed by ${signal}` : `exit status ${code}`));
      child.once('error', (e) => (exited = e.message));
      const deadline = Date.now() + ctx.settings.sandboxStartTimeoutMs;
      let uuid: string | undefined;
      try {
        for (;;) {
          uuid ??= readUuid(uuidFile);
          const pod = uuid ? readPod(ctx, uuid) : undefined;
          if (pod && supervisorReady(pod)) break;
          if (exited !== undefined) throw systemError('cri.sandbox-start', `rkt app sandbox failed: ${logTail(logFile) || exited}`);
          if (Date.now() > deadline) throw systemError('cri.sandbox-start', `pod sandbox ${id} did not become ready in ${ctx.settings.sandboxStartTimeoutMs / 1000}s`);
          await sleep(READY_POLL_MS);
        }
        rec.podUuid = uuid!;
        await ctx.state.putSandbox(rec);
      } catch (e) {
        killGroup(child);
        await abandonStart(ctx, rec, uuidFile);
        throw e;
      }
      ctx.log?.debug(`pod sandbox ${id} is pod ${uuid}`);
      return { pod_sandbox_id: id };
    } finally {
      ctx.reserved.delete(`sandbox/${name}`);
    }
  });
}

/**
 * Cleans up after a RunPodSandbox that failed: removes the pod it made (if any) and forgets the
 * sandbox. When the pod cannot be removed, the record is kept, stopped and naming the pod, so
 * that the sandbox stays listed (NOTREADY) and RemovePodSandbox retries, as containerd keeps a
 * sandbox whose cleanup failed: a pod nobody knows about would never be removed.
 */
async function abandonStart(ctx: CriContext, rec: SandboxRecord, uuidFile: string): Promise<void> {
  // the supervisor was killed: what it wrote is final
  const uuid = rec.podUuid || readUuid(uuidFile);
  if (uuid) {
    try {
      await removePod(ctx, uuid);
    } catch (err) {
      ctx.log?.warn(`cannot clean up pod ${uuid} of the failed pod sandbox ${rec.id}, kept for RemovePodSandbox: ${(err as Error).message}`);
      await ctx.state.putSandbox({ ...rec, podUuid: uuid, stoppedAt: rec.stoppedAt ?? nowNs() });
      return;
    }
  }
  await ctx.state.deleteSandbox(rec.id);
}

/** Stops a running pod: `rkt stop`, then `--force` when it did not stop in time; waits until it is no longer running. */
async function stopPod(ctx: CriContext, uuid: string): Promise<void> {
  const running = () => readPod(ctx, uuid)?.state === 'running';
  if (!running()) return;
  const deadline = Date.now() + ctx.settings.sandboxStopTimeoutMs;
  const r = await ctx.rkt.run(['stop', uuid], { timeoutMs: ctx.settings.sandboxStopTimeoutMs });
  if (r.code !== 0) ctx.log?.debug(`rkt stop ${uuid}: ${r.stderr.toString().trim()}`);
  while (running() && Date.now() < deadline) await sleep(50);
  if (running()) {
    await ctx.rkt.runOk(['stop', '--force', uuid], `cannot stop pod ${uuid}`);
    const hard = Date.now() + 10_000;
    while (running()) {
      if (Date.now() > hard) throw systemError('cri.sandbox-stop', `pod ${uuid} is still running after rkt stop --force`);
      await sleep(50);
    }
  }
}

/** Removes an rkt pod if it still exists (stopping it first). */
async function removePod(ctx: CriContext, uuid: string): Promise<void> {
  await stopPod(ctx, uuid);
  if (!readPod(ctx, uuid)) return;
  const r = await ctx.rkt.run(['rm', uuid], { timeoutMs: 120_000 });
  if (r.code !== 0 && readPod(ctx, uuid)) {
    await ctx.rkt.runOk(['rm', uuid], `cannot remove pod ${uuid}`);
  }
}

/**
 * StopPodSandbox: stops the pod (its apps with it); idempotent. The record is read again once
 * the sandbox's lock is held: a RemovePodSandbox that ran meanwhile reclaimed everything (no
 * error, and nothing written back), a RunPodSandbox that ran meanwhile named the pod.
 */
export async function stopPodSandbox(ctx: CriContext, id: string): Promise<void> {
  const { id: full } = ctx.state.sandbox(id);
  await ctx.locks.exclusive(sandboxKey(full), async () => {
    const rec = ctx.state.findSandbox(full);
    if (rec?.id !== full) return;
    const now = nowNs();
    for (const c of ctx.state.containersOf(rec.id)) {
      if (c.stopRequestedAt === undefined) await ctx.state.putContainer({ ...c, stopRequestedAt: now });
    }
    if (rec.podUuid) await stopPod(ctx, rec.podUuid);
    if (rec.stoppedAt === undefined) await ctx.state.putSandbox({ ...rec, stoppedAt: now });
  });
}

/**
 * RemovePodSandbox: stops and removes the pod and forgets it and its containers; idempotent.
 * The record is read again under the sandbox's lock (another removal may have run); its pod is
 * the one the record names, else the one `rkt app sandbox` saved in the sandbox's uuid file (a
 * server stopped while the sandbox started never recorded it).
 */
export async function removePodSandbox(ctx: CriContext, id: string): Promise<void> {
  const found = ctx.state.findSandbox(id);
  if (!found) return;
  await ctx.locks.exclusive(sandboxKey(found.id), async () => {
    const rec = ctx.state.findSandbox(found.id);
    if (rec?.id !== found.id) return;
    const uuid = rec.podUuid || readUuid(join(ctx.state.sandboxDir(rec.id), 'uuid'));
    if (uuid) await removePod(ctx, uuid);
    for (const c of ctx.state.containersOf(rec.id)) await ctx.state.deleteContainer(c.id);
    await ctx.state.deleteSandbox(rec.id);
  });
}

/** The CRI state of a sandbox given its pod. */
export function sandboxState(rec: SandboxRecord, pod: PodRecord | undefined): PodSandboxState {
  return rec.stoppedAt === undefined && rec.podUuid !== '' && pod?.state === 'running' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY';
}

/** The namespace options of a sandbox as asked for when it was created. */
export function namespaceOptions(rec: SandboxRecord): NamespaceOption {
  return { network: rec.hostNetwork ? 'NODE' : 'POD', pid: rec.pidNamespace ?? 'POD', ipc: rec.ipcNamespace ?? 'POD' };
}

function podSandboxMessage(rec: SandboxRecord, pod: PodRecord | undefined): PodSandboxMessage {
  return {
    id: rec.id,
    metadata: rec.metadata,
    state: sandboxState(rec, pod),
    created_at: rec.createdAt,
    labels: rec.labels,
    annotations: rec.annotations,
    runtime_handler: rec.runtimeHandler,
  };
}

/** PodSandboxStatus. */
export function podSandboxStatus(ctx: CriContext, id: string, verbose: boolean) {
  const rec = ctx.state.sandbox(id);
  const pod = rec.podUuid ? readPod(ctx, rec.podUuid) : undefined;
  const ips = rec.hostNetwork ? [] : (pod?.networks ?? []).map((n) => n.ip).filter(Boolean);
  const info: StringMap = {};
  if (verbose) info.info = JSON.stringify({ podUuid: rec.podUuid, podState: pod?.state ?? 'gone', pid: pod?.pid, networks: pod?.networks ?? [] });
  return {
    status: {
      ...podSandboxMessage(rec, pod),
      network: { ip: ips[0] ?? '', additional_ips: ips.slice(1).map((ip) => ({ ip })) },
      linux: { namespaces: { options: namespaceOptions(rec) } },
    },
    info,
    containers_statuses: [],
    timestamp: nowNs(),
  };
}

/** The filter of ListPodSandbox. */
export interface SandboxFilter {
  id?: string;
  state?: { state: PodSandboxState } | null;
  label_selector?: StringMap;
}

/** Whether every selector label is on the object with the same value. */
export function matchesLabels(labels: StringMap, selector: StringMap | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

/** ListPodSandbox. */
export function listPodSandbox(ctx: CriContext, filter: SandboxFilter | null): { items: PodSandboxMessage[] } {
  const items: PodSandboxMessage[] = [];
  for (const rec of ctx.state.listSandboxes()) {
    if (filter?.id && !rec.id.startsWith(filter.id)) continue;
    if (!matchesLabels(rec.labels, filter?.label_selector)) continue;
    const msg = podSandboxMessage(rec, rec.podUuid ? readPod(ctx, rec.podUuid) : undefined);
    if (filter?.state && msg.state !== filter.state.state) continue;
    items.push(msg);
  }
  items.sort((a, b) => (BigInt(a.created_at) < BigInt(b.created_at) ? -1 : 1));
  return { items };
}
