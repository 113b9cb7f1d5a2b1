/**
 * Command line of rkt-api-service: argument parsing (pure) and the two modes. The services are
 * imported only once a mode runs, so `--help` loads neither gRPC nor sqlite.
 */
import { parseArgs } from 'node:util';
import { usageError } from '@rktnetes/errors';
import type { Logger } from '@rktnetes/log';
import { activationSpecs, parseListenAddress, type ListenSpec } from './listen';

export const USAGE = `Usage:
  rkt-api-service [options]            serve rkt's v1alpha gRPC API (read-only)
  rkt-api-service metadata [options]   serve the appc metadata service

API service options:
  --dir DIR                 rkt data directory (default $RKT_DIR or /var/lib/rkt)
  --listen ADDR             host:port, [ipv6]:port or unix:/path; repeatable
                            (default localhost:15441 and unix:/run/rkt/api-service.sock)
  --events-interval MS      ms between samples of pods and images for ListenEvents (default 1000)
  --local-config DIR, --system-config DIR, --user-config DIR, --insecure-options LIST,
  --trust-keys-from-https   reported by GetInfo, as rkt's global flags

Metadata service options:
  --listen-port PORT        port apps connect to, all interfaces (default 18112)
  --listen ADDR             instead of --listen-port; repeatable
  --registration-socket P   unix socket rkt registers pods on (default /run/rkt/metadata-svc.sock)

Common:
  --debug                   debug output
  --help                    this text

Under systemd socket activation (LISTEN_FDS) the passed sockets are used instead of --listen:
every one for the API service; for the metadata service the one named "public"
(FileDescriptorName=public) serves apps and the others registration (without names: the first
is registration, the second public).
`;

export interface ApiCli {
  mode: 'api';
  help: boolean;
  debug: boolean;
  dataDir: string;
  listen: ListenSpec[];
  /** listeners whose failure is only a warning (the default unix socket) */
  optionalListen: ListenSpec[];
  eventsIntervalMs: number;
  globalFlags: { local_config_dir: string; system_config_dir: string; user_config_dir: string; insecure_flags: string; trust_keys_from_https: boolean };
}

export interface MetadataCli {
  mode: 'metadata';
  help: boolean;
  debug: boolean;
  publicListen: ListenSpec[];
  registrationListen: ListenSpec[];
}

export type Cli = ApiCli | MetadataCli;

function intOption(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw usageError('api.usage', `--${name}: expected an integer from ${min} to ${max}, got "${v}"`);
  return n;
}

/** Parses argv (without node and the script). Socket activation is read from (and removed from) `env`. */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): Cli {
  const metadata = argv[0] === 'metadata';
  const args = metadata ? argv.slice(1) : argv;
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        dir: { type: 'string' },
        listen: { type: 'string', multiple: true },
        'listen-port': { type: 'string' },
        'registration-socket': { type: 'string' },
        'events-interval': { type: 'string' },
        'local-config': { type: 'string' },
        'system-config': { type: 'string' },
        'user-config': { type: 'string' },
        'insecure-options': { type: 'string' },
        'trust-keys-from-https': { type: 'boolean' },
        debug: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    const m = (e as Error).message;
    throw usageError('api.usage', m.charAt(0).toLowerCase() + m.slice(1), { cause: e });
  }
  const help = values.help ?? false;
  const debug = values.debug ?? false;
  const activated = activationSpecs(env, pid);
  const given = (values.listen ?? []).map(parseListenAddress);
  if (activated.length && (given.length || values['listen-port'] !== undefined)) {
    throw usageError('api.usage', 'started with sockets from systemd (LISTEN_FDS) and --listen: use one or the other');
  }

  if (metadata) {
    for (const f of ['dir', 'events-interval', 'local-config', 'system-config', 'user-config', 'insecure-options', 'trust-keys-from-https'] as const) {
      if (values[f] !== undefined) throw usageError('api.usage', `--${f} is an option of the API service, not of the metadata service`);
    }
    const port = intOption(values['listen-port'], 'listen-port', 0, 65535);
    if (port !== undefined && given.length) throw usageError('api.usage', '--listen-port and --listen cannot be combined');
    const registrationSocket = values['registration-socket'];
    if (registrationSocket !== undefined && !registrationSocket.startsWith('/')) throw usageError('api.usage', '--registration-socket must be an absolute path');
    if (activated.length) {
      const named = activated.some((s) => s.kind === 'fd' && s.name !== '' && !s.name.endsWith('.socket'));
      const isPublic = (s: ListenSpec, i: number) => (s.kind === 'fd' && named ? s.name === 'public' : i === 1);
      const publicListen = activated.filter(isPublic);
      return {
        mode: 'metadata',
        help,
        debug,
        registrationListen: activated.filter((s, i) => !isPublic(s, i)),
        publicListen: publicListen.length ? publicListen : [{ kind: 'tcp', host: '0.0.0.0', port: port ?? 18112 }],
      };
    }
    return {
      mode: 'metadata',
      help,
      debug,
      publicListen: given.length ? given : [{ kind: 'tcp', host: '0.0.0.0', port: port ?? 18112 }],
      registrationListen: [{ kind: 'unix', path: registrationSocket ?? '/run/rkt/metadata-svc.sock' }],
    };
  }

  for (const f of ['listen-port', 'registration-socket'] as const) {
    if (values[f] !== undefined) throw usageError('api.usage', `--${f} is an option of the metadata service (rkt-api-service metadata)`);
  }
  const dataDir = values.dir ?? env.RKT_DIR ?? '/var/lib/rkt';
  if (!dataDir) throw usageError('api.usage', '--dir cannot be empty');
  const defaults = !activated.length && !given.length;
  return {
    mode: 'api',
    help,
    debug,
    dataDir,
    listen: activated.length ? activated : given.length ? given : [parseListenAddress('localhost:15441')],
    optionalListen: defaults ? [{ kind: 'unix', path: '/run/rkt/api-service.sock' }] : [],
    eventsIntervalMs: intOption(values['events-interval'], 'events-interval', 10, 3_600_000) ?? 1000,
    globalFlags: {
      local_config_dir: values['local-config'] ?? '/etc/rkt',
      system_config_dir: values['system-config'] ?? '/usr/lib/rkt',
      user_config_dir: values['user-config'] ?? '',
      insecure_flags: values['insecure-options'] ?? 'none',
      trust_keys_from_https: values['trust-keys-from-https'] ?? false,
    },
  };
}

/** A started service, as the bin keeps it. */
export interface Running {
  close(): Promise<void>;
}

/** Starts the API service for parsed options and logs where it listens. */
export async function runApi(cli: ApiCli, log: Logger): Promise<Running> {
  const { startApiService } = await import('./api');
  const { resolve } = await import('node:path');
  const svc = await startApiService({
    dataDir: resolve(cli.dataDir),
    listen: cli.listen,
    optionalListen: cli.optionalListen,
    globalFlags: cli.globalFlags,
    eventsIntervalMs: cli.eventsIntervalMs,
    log,
  });
  for (const a of svc.addresses) log.info(`listening on ${a}`);
  return svc;
}

/** Starts the metadata service for parsed options and logs where it listens. */
export async function runMetadata(cli: MetadataCli, log: Logger): Promise<Running> {
  const { startMetadataService } = await import('./metadata/service');
  const svc = await startMetadataService({ publicListen: cli.publicListen, registrationListen: cli.registrationListen, log });
  for (const a of svc.registrationAddresses) log.info(`registration on ${a}`);
  for (const a of svc.publicAddresses) log.info(`listening on ${a}`);
  return svc;
}
