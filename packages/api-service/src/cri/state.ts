/**
 * What the CRI server remembers about its sandboxes and containers: one JSON record each under
 * `<dataDir>/cri/`, written atomically (temp file + rename), loaded into memory at start.
 * The records map CRI ids to rkt pod uuids and app names and keep what rkt has no place for
 * (CRI metadata, labels, annotations, log paths, creation times). The server is their only
 * writer; its calls serialise per sandbox and per container (locks.ts), so each record has one
 * writer at a time.
 *
 * A sandbox record is written before its pod is started (without the pod uuid), so that a
 * server that dies while a sandbox starts finds it again: at load, such a record takes the pod
 * uuid `rkt app sandbox` saved in the sandbox's `uuid` file. A removed sandbox's directory is
 * first renamed into `tmp/` (a removal cut short never leaves a directory without its record),
 * and what such a removal or a cut-short write left behind is deleted at load.
 *
 *   <dataDir>/cri/sandboxes/<id>/sandbox.json   SandboxRecord
 *   <dataDir>/cri/sandboxes/<id>/uuid           the pod uuid (rkt app sandbox --uuid-file-save)
 *   <dataDir>/cri/sandboxes/<id>/supervisor.log stdout and stderr of rkt app sandbox
 *   <dataDir>/cri/containers/<id>.json          ContainerRecord
 *   <dataDir>/cri/runtime-config.json           what UpdateRuntimeConfig was told
 *   <dataDir>/cri/tmp/                          short-lived files (pull credentials)
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from '@rktnetes/common';
import { systemError } from '@rktnetes/errors';
import type { Logger } from '@rktnetes/log';
import { invalidArgument, notFound } from './grpc';
import type { LinuxResources } from './resources';
import type { ContainerMetadata, DNSConfig, ImageSpec, Mount, NamespaceMode, PodSandboxMetadata, PortMapping, StringMap } from './messages';

/** Version of the record format, written in every record. */
export const STATE_VERSION = 1;

/** A sandbox: a mutable rkt pod. */
export interface SandboxRecord {
  version: number;
  id: string;
  /** the rkt pod uuid */
  podUuid: string;
  metadata: PodSandboxMetadata;
  labels: StringMap;
  annotations: StringMap;
  runtimeHandler: string;
  /** ns since the epoch, decimal */
  createdAt: string;
  hostname: string;
  logDirectory: string;
  hostNetwork: boolean;
  /** the pid and IPC namespace options asked for (absent in records made before) */
  pidNamespace?: NamespaceMode;
  ipcNamespace?: NamespaceMode;
  portMappings: PortMapping[];
  dns: DNSConfig | null;
  /** set once StopPodSandbox stopped the pod */
  stoppedAt?: string;
}

/** A container: an app of a sandbox's pod. */
export interface ContainerRecord {
  version: number;
  id: string;
  sandboxId: string;
  podUuid: string;
  /** the app's name in the pod */
  appName: string;
  metadata: ContainerMetadata;
  /** the image as the request named it */
  image: ImageSpec;
  /** the CRI image id and the store key the app was created from */
  imageId: string;
  imageKey: string;
  /** a repo digest when the image has one, else the image id */
  imageRef: string;
  labels: StringMap;
  annotations: StringMap;
  createdAt: string;
  /** absolute path of the CRI log, empty without one */
  logPath: string;
  mounts: Mount[];
  /** the memory limit given, bytes (0: none) */
  memoryLimit: number;
  /** the Linux resources given at creation, merged with every UpdateContainerResources (absent in records made before) */
  resources?: LinuxResources;
  /** set when StopContainer (or a sandbox stop) asked it to stop */
  stopRequestedAt?: string;
}

/** A fresh CRI id: 64 hex digits, as every CRI runtime uses. */
export function newCriId(): string {
  return randomBytes(32).toString('hex');
}

/** Nanoseconds since the epoch now, as a decimal string. */
export function nowNs(): string {
  return (BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n).toString();
}

const ID_PATTERN = /^[0-9a-f]{1,64}$/;

/** Names of removed sandbox directories in `tmp/`. */
const REMOVED_PREFIX = 'removed-sandbox-';

/** The in-memory index of the records, kept in sync with their files. */
export class CriState {
  readonly root: string;
  private readonly sandboxes = new Map<string, SandboxRecord>();
  private readonly containers = new Map<string, ContainerRecord>();

  /** Opens (creating) `<dataDir>/cri` and loads every record; unreadable records are skipped with a warning. */
  constructor(
    dataDir: string,
    private readonly log?: Logger,
  ) {
    this.root = join(dataDir, 'cri');
    for (const d of [this.root, join(this.root, 'sandboxes'), join(this.root, 'containers'), join(this.root, 'tmp')]) {
      try {
        mkdirSync(d, { recursive: true, mode: 0o700 });
      } catch (e) {
        throw systemError('cri.state', `cannot create ${d}`, { cause: e });
      }
    }
    for (const name of readdirSync(this.tmpDir())) {
      if (name.startsWith(REMOVED_PREFIX)) this.discard(join(this.tmpDir(), name));
    }
    for (const id of readdirSync(join(this.root, 'sandboxes'))) {
      const rec = this.load<SandboxRecord>(join(this.sandboxDir(id), 'sandbox.json'));
      if (rec && rec.id === id) this.sandboxes.set(id, this.recovered(rec));
      else if (!rec) this.strayDirectory(id);
      this.discardTemporaries(this.sandboxDir(id));
    }
    for (const name of readdirSync(join(this.root, 'containers'))) {
      if (!name.endsWith('.json')) continue;
      const rec = this.load<ContainerRecord>(join(this.root, 'containers', name));
      if (rec && `${rec.id}.json` === name) this.containers.set(rec.id, rec);
    }
    this.discardTemporaries(join(this.root, 'containers'));
  }

  /** A record of a sandbox whose start a previous server did not see through, with the uuid of its pod. */
  private recovered(rec: SandboxRecord): SandboxRecord {
    if (rec.podUuid) return rec;
    let uuid = '';
    try {
      uuid = readFileSync(join(this.sandboxDir(rec.id), 'uuid'), 'utf8').trim();
    } catch {
      // rkt app sandbox never got as far as making a pod
    }
    if (!uuid) return rec;
    const out = { ...rec, podUuid: uuid };
    try {
      writeFileAtomicSync(join(this.sandboxDir(rec.id), 'sandbox.json'), `${JSON.stringify(out, null, 2)}\n`, 0o600);
    } catch (e) {
      this.log?.warn(`cannot record pod ${uuid} of pod sandbox ${rec.id}: ${(e as Error).message}`);
    }
    this.log?.info(`pod sandbox ${rec.id} was being started by a previous server: its pod is ${uuid}`);
    return out;
  }

  /**
   * A sandbox directory without a record: the record write was cut short (nothing else there),
   * deleted; with a pod uuid in it (nothing writes that without a record first), kept and logged.
   */
  private strayDirectory(id: string): void {
    const dir = this.sandboxDir(id);
    if (existsSync(join(dir, 'uuid'))) this.log?.warn(`sandbox directory ${dir} has a pod uuid but no record: left alone`);
    else this.discard(dir);
  }

  /** Deletes the temporary files a write cut short left in `dir` (see writeFileAtomic). */
  private discardTemporaries(dir: string): void {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) if (name.startsWith('.') && name.includes('.tmp-')) this.discard(join(dir, name));
  }

  private discard(path: string): void {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch (e) {
      this.log?.warn(`cannot remove ${path}: ${(e as Error).message}`);
    }
  }

  private load<T extends { version: number }>(path: string): T | undefined {
    try {
      const rec = JSON.parse(readFileSync(path, 'utf8')) as T;
      if (rec.version !== STATE_VERSION) throw new Error(`record version ${rec.version}`);
      return rec;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log?.warn(`ignoring CRI record ${path}: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** The directory of a sandbox's files. */
  sandboxDir(id: string): string {
    return join(this.root, 'sandboxes', id);
  }

  /** Where temporary files go (same file system as the data dir, not world-readable). */
  tmpDir(): string {
    return join(this.root, 'tmp');
  }

  listSandboxes(): SandboxRecord[] {
    return [...this.sandboxes.values()];
  }

  listContainers(): ContainerRecord[] {
    return [...this.containers.values()];
  }

  /** The containers of one sandbox. */
  containersOf(sandboxId: string): ContainerRecord[] {
    return this.listContainers().filter((c) => c.sandboxId === sandboxId);
  }

  /**
   * The sandbox an id names: the full id or a unique prefix. Throws `cri.invalid-argument` for
   * an empty or malformed id, `cri.not-found` when none matches.
   */
  sandbox(id: string): SandboxRecord {
    return this.lookup(this.sandboxes, id, 'pod sandbox');
  }

  /** Like {@link sandbox}, undefined instead of NOT_FOUND. */
  findSandbox(id: string): SandboxRecord | undefined {
    return this.tryLookup(this.sandboxes, id, 'pod sandbox');
  }

  container(id: string): ContainerRecord {
    return this.lookup(this.containers, id, 'container');
  }

  findContainer(id: string): ContainerRecord | undefined {
    return this.tryLookup(this.containers, id, 'container');
  }

  private tryLookup<T>(map: Map<string, T>, id: string, what: string): T | undefined {
    if (!id) throw invalidArgument(`${what} id is required`);
    if (!ID_PATTERN.test(id)) throw invalidArgument(`invalid ${what} id ${JSON.stringify(id)}: expected hex digits`);
    const exact = map.get(id);
    if (exact) return exact;
    const matches = [...map.keys()].filter((k) => k.startsWith(id));
    if (matches.length > 1) throw invalidArgument(`${what} id prefix ${id} is ambiguous`);
    return matches.length ? map.get(matches[0]!) : undefined;
  }

  private lookup<T>(map: Map<string, T>, id: string, what: string): T {
    const found = this.tryLookup(map, id, what);
    if (!found) throw notFound(`${what} ${id} not found`, { id });
    return found;
  }

  /** Writes (creates or replaces) a sandbox record. */
  async putSandbox(rec: SandboxRecord): Promise<void> {
    await fsp.mkdir(this.sandboxDir(rec.id), { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(this.sandboxDir(rec.id), 'sandbox.json'), `${JSON.stringify(rec, null, 2)}\n`, 0o600);
    this.sandboxes.set(rec.id, rec);
  }

  /** Forgets a sandbox: its record and its directory (renamed aside, then deleted). */
  async deleteSandbox(id: string): Promise<void> {
    this.sandboxes.delete(id);
    const aside = join(this.tmpDir(), `${REMOVED_PREFIX}${id}-${randomBytes(4).toString('hex')}`);
    try {
      await fsp.rename(this.sandboxDir(id), aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw systemError('cri.state', `cannot remove the directory of pod sandbox ${id}`, { cause: e });
    }
    await fsp.rm(aside, { recursive: true, force: true });
  }

  async putContainer(rec: ContainerRecord): Promise<void> {
    await writeFileAtomic(join(this.root, 'containers', `${rec.id}.json`), `${JSON.stringify(rec, null, 2)}\n`, 0o600);
    this.containers.set(rec.id, rec);
  }

  async deleteContainer(id: string): Promise<void> {
    this.containers.delete(id);
    await fsp.rm(join(this.root, 'containers', `${id}.json`), { force: true });
  }

  /** Records what UpdateRuntimeConfig was told. */
  async putRuntimeConfig(config: { podCidr: string }): Promise<void> {
    await writeFileAtomic(join(this.root, 'runtime-config.json'), `${JSON.stringify({ version: STATE_VERSION, ...config }, null, 2)}\n`, 0o644);
  }

  /** What UpdateRuntimeConfig was last told, if anything. */
  runtimeConfig(): { podCidr: string } | undefined {
    const rec = this.load<{ version: number; podCidr: string }>(join(this.root, 'runtime-config.json'));
    return rec ? { podCidr: rec.podCidr } : undefined;
  }
}
