/**
 * An OCI/Docker image config turned into the appc image manifest stored with the image, so that
 * stage0 and stage1 treat a Docker image like any other: the rules of rkt's docker2aci, with
 * Docker's user semantics (names and supplementary groups resolved against the image's
 * /etc/passwd and /etc/group when it has them).
 */
import { userError } from '@rktnetes/errors';
import {
  APPC_VERSION,
  isEnvName,
  osArchProblem,
  parseImageManifest,
  serializeImageManifest,
  type App,
  type ImageManifest,
  type MountPoint,
  type NameValue,
  type Port,
} from '../deps';
import type { ImageConfig } from './media';

/** Annotations written on converted images (docker2aci's names). */
export const DOCKER_ANNOTATIONS = {
  originalName: 'appc.io/docker/originalname',
  registryURL: 'appc.io/docker/registryurl',
  repository: 'appc.io/docker/repository',
  imageID: 'appc.io/docker/imageid',
  entrypoint: 'appc.io/docker/entrypoint',
  cmd: 'appc.io/docker/cmd',
} as const;

/** What the conversion needs beyond the config. */
export interface ConvertOptions {
  /** the image name, e.g. `registry-1.docker.io/library/busybox` (sanitized into an AC identifier) */
  name: string;
  /** the tag, recorded as the `version` label */
  tag?: string;
  /** the config digest (the Docker image ID) */
  imageID?: string;
  /** more annotations (docker2aci's `appc.io/docker/*`), written before the image's own labels */
  annotations?: Record<string, string>;
  /** reads a regular file of the image by absolute path (for /etc/passwd and /etc/group) */
  readFile?: (path: string) => Buffer | undefined;
}

/** An AC identifier from any string: lowercased, other characters replaced by `-`, ends trimmed (docker2aci). */
export function sanitizeACIdentifier(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9\-._~/]/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
}

/** An AC name from any string: lowercased, other characters replaced by `-`, ends trimmed. */
export function sanitizeACName(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
}

/** The appc `os`/`arch` labels of an OCI platform, or undefined when appc has no name for it. */
export function appcPlatform(os: string, arch: string, variant?: string): { os: string; arch?: string } | undefined {
  if (!['linux', 'freebsd', 'darwin'].includes(os)) return undefined;
  const table: Record<string, string> = { amd64: 'amd64', '386': 'i386', arm64: 'aarch64', ppc64le: 'ppc64le', ppc64: 'ppc64', s390x: 's390x' };
  let a = table[arch];
  if (arch === 'arm') a = variant === 'v6' ? 'armv6l' : 'armv7l';
  if (os === 'darwin' && arch === 'amd64') a = 'x86_64';
  if (a && osArchProblem(os, a) === undefined) return { os, arch: a };
  return { os };
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function parseColonFile(text: string | undefined): string[][] {
  if (!text) return [];
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

const isNumericId = (s: string) => /^\d+$/.test(s) && Number(s) <= 0xfffffffe;

function readPasswd(read: ConvertOptions['readFile']): PasswdEntry[] {
  return parseColonFile(read?.('/etc/passwd')?.toString('utf8'))
    .filter((f) => f.length >= 4 && f[0] && isNumericId(f[2] ?? '') && isNumericId(f[3] ?? ''))
    .map((f) => ({ name: f[0] as string, uid: Number(f[2]), gid: Number(f[3]) }));
}

function readGroups(read: ConvertOptions['readFile']): GroupEntry[] {
  return parseColonFile(read?.('/etc/group')?.toString('utf8'))
    .filter((f) => f.length >= 3 && f[0] && isNumericId(f[2] ?? ''))
    .map((f) => ({ name: f[0] as string, gid: Number(f[2]), members: (f[3] ?? '').split(',').filter((m) => m !== '') }));
}

/**
 * The appc user, group and supplementary GIDs of a Docker `User` (`""`, `name`, `uid`,
 * `name:group`, `uid:gid`), as Docker runs it: names are looked up in the image's /etc/passwd
 * and /etc/group; without a group, the user's primary group from /etc/passwd (0 when the uid is
 * not listed); supplementary groups are those /etc/group lists the user as a member of. A name
 * the image does not list is kept as a name (stage1 resolves it, or fails), its group defaulting
 * to the same name (docker2aci).
 */
export function resolveUser(spec: string | undefined, readFile?: ConvertOptions['readFile']): { user: string; group: string; supplementaryGIDs?: number[] } {
  const raw = spec ?? '';
  const colon = raw.indexOf(':');
  const u = (colon < 0 ? raw : raw.slice(0, colon)) || '0';
  const g = colon < 0 ? undefined : raw.slice(colon + 1) || undefined;
  const passwd = readPasswd(readFile);
  const groups = readGroups(readFile);
  const entry = isNumericId(u) ? passwd.find((p) => p.uid === Number(u)) : passwd.find((p) => p.name === u);
  const user = isNumericId(u) ? String(Number(u)) : entry ? String(entry.uid) : u;
  let group: string;
  if (g !== undefined) {
    const ge = isNumericId(g) ? undefined : groups.find((x) => x.name === g);
    group = isNumericId(g) ? String(Number(g)) : ge ? String(ge.gid) : g;
  } else if (entry) group = String(entry.gid);
  else group = isNumericId(u) ? '0' : u;
  const out: { user: string; group: string; supplementaryGIDs?: number[] } = { user, group };
  if (entry) {
    const sgids = [...new Set(groups.filter((x) => x.members.includes(entry.name)).map((x) => x.gid))].filter((x) => String(x) !== group);
    if (sgids.length) out.supplementaryGIDs = sgids.sort((a, b) => a - b);
  }
  return out;
}

function portsOf(exposed: Record<string, unknown> | undefined, what: string): Port[] | undefined {
  if (!exposed) return undefined;
  const ports: Port[] = [];
  for (const key of Object.keys(exposed)) {
    const [range = '', proto = 'tcp'] = key.split('/');
    const m = /^(\d+)(?:-(\d+))?$/.exec(range);
    const lo = Number(m?.[1]);
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || lo < 1 || hi > 65535 || hi < lo) throw userError('image.invalid', `image ${what}: exposed port ${JSON.stringify(key)} is not a port or port range`);
    const p: Port = { name: sanitizeACName(key), protocol: proto.toLowerCase(), port: lo };
    if (hi > lo) p.count = hi - lo + 1;
    ports.push(p);
  }
  return ports.sort((a, b) => a.name.localeCompare(b.name));
}

function mountPointsOf(volumes: Record<string, unknown> | undefined): MountPoint[] | undefined {
  if (!volumes) return undefined;
  const seen = new Map<string, number>();
  const out: MountPoint[] = [];
  for (const raw of Object.keys(volumes).sort()) {
    const path = `/${raw.split('/').filter((c) => c !== '' && c !== '.').join('/')}`;
    let name = sanitizeACName(`volume${path}`);
    const n = seen.get(name);
    seen.set(name, (n ?? 0) + 1);
    if (n !== undefined) name = `${name}-${n}`;
    out.push({ name, path });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The appc image manifest of an image config: name, labels `version` (the tag), `os`, `arch`;
 * `app.exec` = Entrypoint + Cmd; Env, User, WorkingDir, ExposedPorts (`80-tcp`), Volumes
 * (mount points `volume-<path>`), Labels (annotations with sanitized names). Throws
 * `image.invalid` when the result is not a valid manifest.
 */
export function imageManifestFromConfig(cfg: ImageConfig, opts: ConvertOptions): ImageManifest {
  const what = JSON.stringify(opts.name);
  const name = sanitizeACIdentifier(opts.name);
  if (!name) throw userError('image.invalid', `image ${what}: no usable name`);
  const labels: NameValue[] = [];
  if (opts.tag) labels.push({ name: 'version', value: opts.tag });
  const plat = appcPlatform(cfg.os, cfg.architecture, cfg.variant);
  if (plat) {
    labels.push({ name: 'os', value: plat.os });
    if (plat.arch) labels.push({ name: 'arch', value: plat.arch });
  }
  const annotations = new Map<string, string>();
  const annotate = (k: string, v: string | undefined) => {
    if (v !== undefined && v !== '' && !annotations.has(k)) annotations.set(k, v);
  };
  if (cfg.author) annotate('author', cfg.author);
  if (cfg.created) annotate('created', cfg.created);
  for (const [k, v] of Object.entries(opts.annotations ?? {})) annotate(k, v);
  if (opts.imageID) annotate(DOCKER_ANNOTATIONS.imageID, opts.imageID);
  const c = cfg.config;
  if (c.Entrypoint?.length) annotate(DOCKER_ANNOTATIONS.entrypoint, JSON.stringify(c.Entrypoint));
  if (c.Cmd?.length) annotate(DOCKER_ANNOTATIONS.cmd, JSON.stringify(c.Cmd));
  for (const [k, v] of Object.entries(c.Labels ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    const n = sanitizeACIdentifier(k);
    if (n) annotate(n, v);
  }

  const { user, group, supplementaryGIDs } = resolveUser(c.User, opts.readFile);
  const app: App = { user, group };
  const exec = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  if (exec.length) app.exec = exec;
  if (supplementaryGIDs) app.supplementaryGIDs = supplementaryGIDs;
  if (c.WorkingDir) app.workingDirectory = c.WorkingDir.startsWith('/') ? c.WorkingDir : `/${c.WorkingDir}`;
  const env = (c.Env ?? [])
    .map((kv) => {
      const i = kv.indexOf('=');
      return i > 0 ? { name: kv.slice(0, i), value: kv.slice(i + 1) } : undefined;
    })
    .filter((e): e is { name: string; value: string } => e !== undefined && isEnvName(e.name));
  if (env.length) app.environment = env;
  const mountPoints = mountPointsOf(c.Volumes);
  if (mountPoints?.length) app.mountPoints = mountPoints;
  const ports = portsOf(c.ExposedPorts, what);
  if (ports?.length) app.ports = ports;

  const manifest: ImageManifest = { acKind: 'ImageManifest', acVersion: APPC_VERSION, name, labels, app };
  if (annotations.size) manifest.annotations = [...annotations].map(([n, value]) => ({ name: n, value }));
  try {
    return parseImageManifest(serializeImageManifest(manifest));
  } catch (e) {
    throw userError('image.invalid', `image ${what}: its config does not convert to a valid image manifest: ${(e as Error).message}`, { cause: e });
  }
}
