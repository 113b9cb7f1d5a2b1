/**
 * Containers: each is an app of its sandbox's mutable pod, added with `rkt app add`, started,
 * stopped and removed with `rkt app start|stop|rm`, exec'd into with `rkt app exec`. Their
 * state is read from the pod directory (the app's created/started/exit status files, through
 * PodView).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { userError } from '@rktnetes/errors';
import { DEFAULT_CAPABILITIES, LINUX_CAPABILITIES } from '@rktnetes/schema';
import type { PodRecord } from '../pods/view';
import { containerKey, readPod, sandboxKey, type CriContext } from './context';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from './grpc';
import type { Capability, ContainerConfig, ContainerMessage, ContainerMetadata, ContainerState, KeyValue, LinuxContainerResources, Mount, NamespaceMode, StringMap } from './messages';
import { containerPidFlags, mountPropagation } from './pod-settings';
import { containerResources, recordedResources } from './resources';
import { rktFailure } from './rkt';
import { insecureOptionsFor, securityFlags } from './security';
import { matchesLabels, sandboxState } from './sandboxes';
import { newCriId, nowNs, type ContainerRecord, type SandboxRecord } from './state';

/**
 * The app name of a container: its CRI name made an AC name (lowercase letters, digits,
 * dashes), cut to 40 characters, plus the first 8 digits of its id (names repeat across
 * attempts).
 */
export function appNameFor(name: string, id: string): string {
  const base = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return `${base || 'container'}-${id.slice(0, 8)}`;
}

/** A capability name as rkt spells it (`NET_ADMIN` and `cap_net_admin` are `CAP_NET_ADMIN`); `ALL` stays. */
export function capabilityName(name: string): string {
  const u = name.trim().toUpperCase();
  if (u === 'ALL') return u;
  const full = u.startsWith('CAP_') ? u : `CAP_${u}`;
  if (!LINUX_CAPABILITIES.includes(full)) throw invalidArgument(`unknown capability ${JSON.stringify(name)}`);
  return full;
}

/**
 * The capability flag of a container: all capabilities when privileged; otherwise rkt's
 * default set (Docker's) with the added ones, without the dropped ones (`ALL` in drop starts
 * from nothing, `ALL` in add is every capability), as `--caps-retain`; only drops as
 * `--caps-remove`.
 */
export function capabilityFlags(caps: Capability | null | undefined, privileged: boolean): string[] {
  if (privileged) return [`--caps-retain=${LINUX_CAPABILITIES.join(',')}`];
  const add = (caps?.add_capabilities ?? []).map(capabilityName);
  const drop = (caps?.drop_capabilities ?? []).map(capabilityName);
  if (!add.length && !drop.length) return [];
  if (!add.length && !drop.includes('ALL')) return [`--caps-remove=${[...new Set(drop)].join(',')}`];
  let set = new Set<string>(drop.includes('ALL') ? [] : DEFAULT_CAPABILITIES);
  if (add.includes('ALL')) set = new Set(LINUX_CAPABILITIES);
  else for (const c of add) set.add(c);
  for (const c of drop) set.delete(c);
  if (set.size === 0) return [`--caps-remove=${DEFAULT_CAPABILITIES.join(',')}`];
  return [`--caps-retain=${[...set].join(',')}`];
}

/** The resource flags: memory limit, CPU quota as millicores, CPU shares, OOM score adjustment. */
export function resourceFlags(r: LinuxContainerResources | null | undefined): string[] {
  if (!r) return [];
  const out: string[] = [];
  const mem = Number(r.memory_limit_in_bytes ?? 0);
  if (mem > 0) out.push(`--memory=${mem}`);
  const quota = Number(r.cpu_quota ?? 0);
  const period = Number(r.cpu_period ?? 0);
  if (quota > 0 && period > 0) out.push(`--cpu=${Math.max(1, Math.ceil((quota * 1000) / period))}m`);
  const shares = Number(r.cpu_shares ?? 0);
  if (shares > 0) out.push(`--cpu-shares=${shares}`);
  const oom = Number(r.oom_score_adj ?? 0);
  if (oom !== 0) out.push(`--oom-score-adj=${oom}`);
  return out;
}

const envValue = (v: KeyValue['value']) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v ?? ''));

/** The `--mnt-volume` flags of a container's mounts (host directories and files), with their propagation ({@link mountPropagation}). */
export function mountFlags(mounts: readonly Mount[], app: string): string[] {
  return mounts.map((m, i) => {
    if (m.image && m.image.image) throw invalidArgument(`mount ${m.container_path}: image volumes are not supported`);
    if (!isAbsolute(m.container_path ?? '')) throw invalidArgument(`mount container path ${JSON.stringify(m.container_path)} must be absolute`);
    if (!isAbsolute(m.host_path ?? '')) throw invalidArgument(`mount host path ${JSON.stringify(m.host_path)} must be absolute`);
    for (const p of [m.container_path, m.host_path]) if (p.includes(',')) throw invalidArgument(`mount path ${JSON.stringify(p)}: commas are not supported`);
    return `--mnt-volume=name=${app}-m${i},kind=host,source=${m.host_path},readOnly=${m.readonly ? 'true' : 'false'},propagation=${mountPropagation(m)},target=${m.container_path}`;
  });
}

/** The process: `--exec` and the arguments after `--`, from CRI command (entrypoint) and args (cmd). */
export function processArgs(command: readonly string[], args: readonly string[]): { flags: string[]; rest: string[] | undefined } {
  if (command.length) return { flags: [`--exec=${command[0]}`], rest: [...command.slice(1), ...args] };
  if (args.length) return { flags: [], rest: [...args] };
  return { flags: [], rest: undefined };
}

/** What {@link appAddArgs} needs besides the config. */
export interface AppAddInput {
  uuid: string;
  imageKey: string;
  app: string;
  logPath: string;
  /** resolved user, group and supplementary groups (see identity) */
  user?: string;
  group?: string;
  supplementaryGids?: readonly number[];
  /** the sandbox's pid namespace option (a container may use the node's only when it does) */
  sandboxPid?: NamespaceMode;
}

/** The arguments of `rkt app add` (after `app add`) for a container config. */
export function appAddArgs(config: ContainerConfig, input: AppAddInput): string[] {
  const sc = config.linux?.security_context;
  const args = [input.uuid, input.imageKey, `--name=${input.app}`];
  const proc = processArgs(config.command ?? [], config.args ?? []);
  args.push(...proc.flags);
  if (config.working_dir) args.push(`--working-dir=${config.working_dir}`);
  for (const e of config.envs ?? []) {
    if (!e.key) throw invalidArgument('environment variable without a name');
    args.push(`--environment=${e.key}=${envValue(e.value)}`);
  }
  args.push(...mountFlags(config.mounts ?? [], input.app));
  if (input.user !== undefined) args.push(`--user=${input.user}`);
  if (input.group !== undefined) args.push(`--group=${input.group}`);
  if (input.supplementaryGids?.length) args.push(`--supplementary-gids=${input.supplementaryGids.join(',')}`);
  if (sc?.readonly_rootfs) args.push('--readonly-rootfs=true');
  args.push(...capabilityFlags(sc?.capabilities, sc?.privileged ?? false));
  args.push(...securityFlags(sc));
  args.push(...containerPidFlags(sc?.namespace_options, input.sandboxPid));
  args.push(...resourceFlags(config.linux?.resources));
  if (config.tty) args.push('--stdin=tty', '--stdout=tty', '--stderr=tty');
  else if (config.stdin) args.push('--stdin=stream');
  if (config.stdin && config.stdin_once) args.push('--stdin-once');
  if (input.logPath) args.push(`--log-path=${input.logPath}`);
  if (proc.rest !== undefined) args.push('--', ...proc.rest);
  return args;
}

/** A container's state, exit code and times as read from its pod. */
export interface AppStatus {
  state: ContainerState;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  reason: string;
  message: string;
}

/** Exit status of a process killed by SIGKILL (what an OOM kill looks like). */
const SIGKILL_STATUS = 137;

/**
 * The status of a container from its pod record: created, running or exited (with exit code
 * and a reason: Completed, Error, OOMKilled), exited with 255 when its pod or app is gone.
 */
export function appStatus(rec: ContainerRecord, pod: PodRecord | undefined, oomKilled: () => boolean = () => false): AppStatus {
  const base: AppStatus = { state: 'CONTAINER_CREATED', startedAt: '0', finishedAt: '0', exitCode: 0, reason: '', message: '' };
  const app = pod?.apps.find((a) => a.name === rec.appName);
  if (!pod || !app) return { ...base, state: 'CONTAINER_EXITED', exitCode: 255, reason: 'Unknown', message: pod ? 'the app is no longer in its pod' : 'the pod of the container is gone' };
  const running = pod.state === 'running';
  if (app.startedAt === undefined && app.exitedAt === undefined) {
    if (running) return base;
    return { ...base, state: 'CONTAINER_EXITED', exitCode: 255, reason: 'Unknown', message: 'the pod stopped before the container started' };
  }
  const startedAt = (app.startedAt ?? 0n).toString();
  if (app.exitedAt === undefined) {
    if (running) return { ...base, state: 'CONTAINER_RUNNING', startedAt };
    const finishedAt = (pod.gcMarkedAt ?? pod.dirChangedAt ?? 0n).toString();
    return { ...base, state: 'CONTAINER_EXITED', startedAt, finishedAt, exitCode: 255, reason: 'Unknown', message: 'the pod stopped without recording the exit status' };
  }
  const exitCode = app.exitCode ?? 255;
  let reason = exitCode === 0 ? 'Completed' : 'Error';
  if (exitCode === SIGKILL_STATUS && rec.stopRequestedAt === undefined && oomKilled()) reason = 'OOMKilled';
  return { ...base, state: 'CONTAINER_EXITED', startedAt, finishedAt: app.exitedAt.toString(), exitCode, reason };
}

/** Pod records read once per call, by uuid. */
function podReader(ctx: CriContext): (uuid: string) => PodRecord | undefined {
  const seen = new Map<string, PodRecord | undefined>();
  return (uuid) => {
    if (!seen.has(uuid)) seen.set(uuid, uuid ? readPod(ctx, uuid) : undefined);
    return seen.get(uuid);
  };
}

/** The memory cgroup of a process: its v1 `memory` hierarchy path, else its v2 path. */
function memoryCgroupOf(pid: number): { file: string; key: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes('memory'));
  if (v1) return { file: join('/sys/fs/cgroup/memory', v1.split(':').slice(2).join(':')), key: 'memory.oom_control' };
  const v2 = lines.find((l) => l.startsWith('0::'));
  return v2 ? { file: join('/sys/fs/cgroup', v2.slice(3)), key: 'memory.events' } : undefined;
}

/**
 * Whether the kernel OOM-killed something in the app's memory cgroup (stage1 makes one per app
 * below the pod's: cgroup v1 `memory.oom_control`, v2 `memory.events`, `oom_kill N`). When
 * that cannot be read (the pod is gone): whether the app had a memory limit, as a SIGKILL
 * nobody asked for is then the OOM killer's.
 */
function oomChecker(rec: ContainerRecord, pod: PodRecord | undefined): () => boolean {
  return () => {
    const cg = pod?.pid !== undefined && pod.pidKind === 'pid' ? memoryCgroupOf(pod.pid) : undefined;
    if (cg) {
      try {
        const m = /^oom_kill (\d+)$/m.exec(readFileSync(join(cg.file, rec.appName, cg.key), 'utf8'));
        if (m) return Number(m[1]) > 0;
      } catch {
        // no cgroup of the app
      }
    }
    return rec.memoryLimit > 0;
  };
}

function containerMessage(rec: ContainerRecord, state: ContainerState): ContainerMessage {
  return {
    id: rec.id,
    pod_sandbox_id: rec.sandboxId,
    metadata: rec.metadata,
    image: rec.image,
    image_ref: rec.imageRef,
    state,
    created_at: rec.createdAt,
    labels: rec.labels,
    annotations: rec.annotations,
    image_id: rec.imageId,
  };
}

/** The running sandbox of a container call: FAILED_PRECONDITION when it is not ready. */
function readySandbox(ctx: CriContext, id: string): { sandbox: SandboxRecord; pod: PodRecord } {
  const sandbox = ctx.state.sandbox(id);
  const pod = sandbox.podUuid ? readPod(ctx, sandbox.podUuid) : undefined;
  if (!pod || sandboxState(sandbox, pod) !== 'SANDBOX_READY') throw failedPrecondition(`pod sandbox ${sandbox.id} is not ready`);
  return { sandbox, pod };
}

/** What a container runs as, for {@link appAddArgs}. */
interface Identity {
  user?: string;
  group?: string;
  supplementaryGids?: number[];
}

/**
 * The user, group and supplementary groups of a container, Docker's way: the requested user
 * (uid or name), its group the requested one, else the user's primary group in the image's
 * /etc/passwd, else 0; supplementary groups those of the image's /etc/group that list the user,
 * plus the requested ones (the Merge policy). A group without a user is INVALID_ARGUMENT.
 */
async function identity(ctx: CriContext, config: ContainerConfig, imageKey: string): Promise<Identity> {
  const sc = config.linux?.security_context;
  const user = sc?.run_as_username || (sc?.run_as_user ? String(sc.run_as_user.value) : undefined);
  if (sc?.run_as_group && user === undefined) throw invalidArgument('run_as_group is set without run_as_user or run_as_username');
  let group = sc?.run_as_group ? String(sc.run_as_group.value) : undefined;
  const requested = (sc?.supplemental_groups ?? []).map(Number);
  const out: Identity = {};
  if (user === undefined && !requested.length) return out;
  const effective = user ?? ctx.images.defaultUser(imageKey).split(':')[0] ?? '';
  const entry = effective ? await ctx.images.passwdEntry(imageKey, effective) : undefined;
  if (user !== undefined) {
    out.user = user;
    if (group === undefined) group = entry ? String(entry.gid) : /^\d+$/.test(user) ? '0' : undefined;
    if (group !== undefined) out.group = group;
  }
  const fromImage = entry ? await ctx.images.memberGroups(imageKey, entry.name) : [];
  const gids = [...new Set([...fromImage, ...requested])];
  if (gids.length) out.supplementaryGids = gids;
  return out;
}

/** Whether an image name is an id (`sha256:...`, 64 hex digits, a store key) rather than a reference. */
const isImageId = (text: string) => /^(?:sha256:)?[0-9a-f]{64}$/.test(text) || /^sha512-[0-9a-f]+$/.test(text);

/** CreateContainer: adds the app to the sandbox's pod (created, not started). */
export async function createContainer(ctx: CriContext, req: { pod_sandbox_id: string; config: ContainerConfig | null }): Promise<{ container_id: string }> {
  const config = req.config;
  if (!config) throw invalidArgument('config is required');
  if (!config.metadata?.name) throw invalidArgument('config.metadata.name is required');
  if (!config.image?.image) throw invalidArgument('config.image.image is required');
  if (config.devices?.length) throw invalidArgument('devices are not supported yet');
  const meta: ContainerMetadata = { name: config.metadata.name, attempt: config.metadata.attempt ?? 0 };
  const sb = ctx.state.sandbox(req.pod_sandbox_id);
  return ctx.locks.shared(sandboxKey(sb.id), async () => {
    const { sandbox } = readySandbox(ctx, sb.id);
    const name = `${sandbox.id}/${meta.name}/${meta.attempt}`;
    const taken = ctx.state.containersOf(sandbox.id).find((c) => c.metadata.name === meta.name && c.metadata.attempt === meta.attempt);
    if (taken || ctx.reserved.has(`container/${name}`)) throw alreadyExists(`container name ${meta.name} (attempt ${meta.attempt}) is already in use in pod sandbox ${sandbox.id}`);
    ctx.reserved.add(`container/${name}`);
    try {
      const image = ctx.images.find(config.image!.image);
      if (!image) throw notFound(`image ${JSON.stringify(config.image!.image)} not found (pull it first)`);
      const imageKey = image.keys[0]!;
      const id = newCriId();
      const app = appNameFor(meta.name, id);
      let logPath = '';
      if (config.log_path) {
        logPath = isAbsolute(config.log_path) ? config.log_path : join(sandbox.logDirectory, config.log_path);
        if (!isAbsolute(logPath)) throw invalidArgument(`log path ${JSON.stringify(config.log_path)} is relative and the sandbox has no log directory`);
      }
      const args = appAddArgs(config, { uuid: sandbox.podUuid, imageKey, app, logPath, sandboxPid: sandbox.pidNamespace ?? 'POD', ...(await identity(ctx, config, imageKey)) });
      if (logPath) mkdirSync(dirname(logPath), { recursive: true, mode: 0o755 });
      // as other runtimes do: a missing host directory is created
      for (const m of config.mounts ?? []) if (!existsSync(m.host_path)) mkdirSync(m.host_path, { recursive: true, mode: 0o755 });
      const createdAt = nowNs();
      const insecureOptions = insecureOptionsFor(config.linux?.security_context, ctx.rkt.opts.insecureOptions);
      await ctx.rkt.runOk(['app', 'add', ...args], `cannot create container ${meta.name}`, { timeoutMs: 300_000, ...(insecureOptions ? { insecureOptions } : {}) });
      const digest = image.repoDigests[0];
      await ctx.state.putContainer({
        version: 1,
        id,
        sandboxId: sandbox.id,
        podUuid: sandbox.podUuid,
        appName: app,
        metadata: meta,
        // as other runtimes report it: the reference asked for, or for an id the image's first tag
        image: {
          image: isImageId(config.image!.image) ? (image.repoTags[0] ?? config.image!.image) : config.image!.image,
          annotations: config.image!.annotations ?? {},
          user_specified_image: config.image!.user_specified_image ?? '',
        },
        imageId: image.id,
        imageKey,
        imageRef: digest ?? image.id,
        labels: { ...config.labels },
        annotations: { ...config.annotations },
        createdAt,
        logPath,
        mounts: (config.mounts ?? []).map((m) => ({ container_path: m.container_path, host_path: m.host_path, readonly: m.readonly, selinux_relabel: m.selinux_relabel ?? false, propagation: m.propagation ?? 'PROPAGATION_PRIVATE' })),
        memoryLimit: Number(config.linux?.resources?.memory_limit_in_bytes ?? 0),
        resources: recordedResources(config.linux?.resources),
      });
      return { container_id: id };
    } finally {
      ctx.reserved.delete(`container/${name}`);
    }
  });
}

/** StartContainer: starts a created container. */
export async function startContainer(ctx: CriContext, id: string): Promise<void> {
  const rec = ctx.state.container(id);
  await ctx.locks.shared(sandboxKey(rec.sandboxId), () =>
    ctx.locks.exclusive(containerKey(rec.id), async () => {
      const pod = readPod(ctx, rec.podUuid);
      const st = appStatus(rec, pod);
      if (st.state !== 'CONTAINER_CREATED') throw failedPrecondition(`container ${rec.id} is ${st.state.slice('CONTAINER_'.length).toLowerCase()}, not created`);
      await ctx.rkt.runOk(['app', 'start', rec.podUuid, `--app=${rec.appName}`], `cannot start container ${rec.id}`, { timeoutMs: 120_000 });
    }),
  );
}

/** StopContainer: SIGTERM, SIGKILL after `timeout` seconds; fine for a container that is not running. */
export async function stopContainer(ctx: CriContext, id: string, timeout: number): Promise<void> {
  const rec = ctx.state.container(id);
  if (!Number.isFinite(timeout) || timeout < 0) throw invalidArgument(`invalid timeout ${timeout}`);
  await ctx.locks.shared(sandboxKey(rec.sandboxId), () =>
    ctx.locks.exclusive(containerKey(rec.id), async () => {
      const pod = readPod(ctx, rec.podUuid);
      if (appStatus(rec, pod).state !== 'CONTAINER_RUNNING') return;
      const current = ctx.state.findContainer(rec.id);
      if (current && current.stopRequestedAt === undefined) await ctx.state.putContainer({ ...current, stopRequestedAt: nowNs() });
      const r = await ctx.rkt.run(['app', 'stop', rec.podUuid, `--app=${rec.appName}`, `--timeout=${Math.ceil(timeout)}s`], { timeoutMs: (timeout + 60) * 1000 });
      if (r.code !== 0 && appStatus(rec, readPod(ctx, rec.podUuid)).state === 'CONTAINER_RUNNING') throw rktFailure(r, `cannot stop container ${rec.id}`);
    }),
  );
}

/** RemoveContainer: removes the app from its pod (stopping it first) and forgets it; idempotent. */
export async function removeContainer(ctx: CriContext, id: string): Promise<void> {
  const rec = ctx.state.findContainer(id);
  if (!rec) return;
  await ctx.locks.shared(sandboxKey(rec.sandboxId), () =>
    ctx.locks.exclusive(containerKey(rec.id), async () => {
      const pod = readPod(ctx, rec.podUuid);
      if (pod?.apps.some((a) => a.name === rec.appName)) {
        const r = await ctx.rkt.run(['app', 'rm', rec.podUuid, `--app=${rec.appName}`], { timeoutMs: 120_000 });
        if (r.code !== 0 && readPod(ctx, rec.podUuid)?.apps.some((a) => a.name === rec.appName)) throw rktFailure(r, `cannot remove container ${rec.id}`);
      }
      await ctx.state.deleteContainer(rec.id);
    }),
  );
}

/** The filter of ListContainers. */
export interface ContainerFilter {
  id?: string;
  state?: { state: ContainerState } | null;
  pod_sandbox_id?: string;
  label_selector?: StringMap;
}

/** ListContainers. */
export function listContainers(ctx: CriContext, filter: ContainerFilter | null): { containers: ContainerMessage[] } {
  const pods = podReader(ctx);
  const out: ContainerMessage[] = [];
  for (const rec of ctx.state.listContainers()) {
    if (filter?.id && !rec.id.startsWith(filter.id)) continue;
    if (filter?.pod_sandbox_id && !rec.sandboxId.startsWith(filter.pod_sandbox_id)) continue;
    if (!matchesLabels(rec.labels, filter?.label_selector)) continue;
    const pod = pods(rec.podUuid);
    const state = appStatus(rec, pod, oomChecker(rec, pod)).state;
    if (filter?.state && filter.state.state !== state) continue;
    out.push(containerMessage(rec, state));
  }
  out.sort((a, b) => (BigInt(a.created_at) < BigInt(b.created_at) ? -1 : 1));
  return { containers: out };
}

/** ContainerStatus. */
export function containerStatus(ctx: CriContext, id: string, verbose: boolean) {
  const rec = ctx.state.container(id);
  const pod = readPod(ctx, rec.podUuid);
  const st = appStatus(rec, pod, oomChecker(rec, pod));
  const info: StringMap = {};
  if (verbose) info.info = JSON.stringify({ podUuid: rec.podUuid, app: rec.appName, imageKey: rec.imageKey });
  return {
    status: {
      ...containerMessage(rec, st.state),
      started_at: st.startedAt,
      finished_at: st.finishedAt,
      exit_code: st.exitCode,
      reason: st.reason,
      message: st.message,
      mounts: rec.mounts,
      log_path: rec.logPath,
      resources: containerResources(rec),
    },
    info,
  };
}

/** ExecSync: runs a command in a running container and returns its output and exit status. */
export async function execSync(ctx: CriContext, req: { container_id: string; cmd: string[]; timeout: string }): Promise<{ stdout: Buffer; stderr: Buffer; exit_code: number }> {
  const rec = ctx.state.container(req.container_id);
  if (!req.cmd?.length) throw invalidArgument('cmd is required');
  const timeout = Number(req.timeout ?? 0);
  if (!Number.isFinite(timeout) || timeout < 0) throw invalidArgument(`invalid timeout ${req.timeout}`);
  const st = appStatus(rec, readPod(ctx, rec.podUuid));
  if (st.state !== 'CONTAINER_RUNNING') throw failedPrecondition(`container ${rec.id} is not running`);
  const r = await ctx.rkt.run(['app', 'exec', `--app=${rec.appName}`, rec.podUuid, '--', ...req.cmd], {
    ...(timeout > 0 ? { timeoutMs: timeout * 1000 } : {}),
    insecureOptions: [],
  });
  if (r.timedOut) {
    throw userError('cri.deadline-exceeded', `command ${JSON.stringify(req.cmd.join(' '))} in container ${rec.id} timed out after ${timeout}s`);
  }
  const exitCode = r.code ?? 128 + signalNumber(r.signal);
  return { stdout: r.stdout, stderr: r.stderr, exit_code: exitCode };
}

function signalNumber(signal: NodeJS.Signals | null): number {
  if (!signal) return 0;
  return constants.signals[signal] ?? 0;
}
