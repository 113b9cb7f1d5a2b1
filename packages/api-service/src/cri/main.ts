/**
 * `rkt-api-service cri`: the Kubernetes CRI server. Argument parsing (pure) and the glue the
 * bin calls: start, log where it listens, `ready`, stop on SIGTERM/SIGINT.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { exitCodeFor, usageError } from '@rktnetes/errors';
import type { Logger } from '@rktnetes/log';
import { activationSpecs, type ListenSpec } from '../listen';
import { defaultRktPath } from './rkt';
import { DEFAULT_CRI_SOCKET, type CriServiceOptions } from './server';
import { parseHostPort } from './streaming/server';

export const CRI_USAGE = `Usage:
  rkt-api-service cri [options]   serve the Kubernetes CRI (runtime.v1) on a unix socket

Options:
  --cri-socket PATH         unix socket to serve (default ${DEFAULT_CRI_SOCKET});
                            the kubelet's --container-runtime-endpoint=unix://PATH
  --dir DIR                 rkt data directory (default $RKT_DIR or /var/lib/rkt)
  --rkt-path PATH           the rkt executable (default: the rkt installed next to this bundle)
  --local-config DIR, --system-config DIR, --user-config DIR
                            rkt's configuration directories, passed to every rkt command
  --insecure-options LIST   passed to rkt for pulls and pods (pulls always add "image")
  --stage1-name NAME, --stage1-path PATH, --stage1-url URL, --stage1-hash HASH,
  --stage1-from-dir FILE    the stage1 of every pod sandbox (default rkt's)
  --sandbox-timeout SECONDS how long a new pod sandbox may take to become ready (default 120)
  --streaming-address HOST:PORT
                            where the streaming server (exec, attach, port-forward) listens
                            (default 127.0.0.1:0: loopback, a free port)
  --debug                   debug output (also passed to rkt)
  --help                    this text

Under systemd socket activation (LISTEN_FDS) the passed sockets are served instead.
`;

const STAGE1_FLAGS = ['stage1-name', 'stage1-path', 'stage1-url', 'stage1-hash', 'stage1-from-dir'] as const;

/** Parsed `cri` options. */
export interface CriCli {
  help: boolean;
  options: CriServiceOptions;
}

/** Parses the arguments after `cri`. Socket activation is read from (and removed from) `env`. */
export function parseCriCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): CriCli {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'cri-socket': { type: 'string' },
        dir: { type: 'string' },
        'rkt-path': { type: 'string' },
        'local-config': { type: 'string' },
        'system-config': { type: 'string' },
        'user-config': { type: 'string' },
        'insecure-options': { type: 'string' },
        'sandbox-timeout': { type: 'string' },
        'streaming-address': { type: 'string' },
        ...Object.fromEntries(STAGE1_FLAGS.map((f) => [f, { type: 'string' as const }])),
        debug: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    const m = (e as Error).message;
    throw usageError('cri.usage', `cri: ${m.charAt(0).toLowerCase()}${m.slice(1)}`, { cause: e });
  }
  const v = values as Record<string, string | boolean | undefined>;
  const str = (k: string) => v[k] as string | undefined;
  const socket = str('cri-socket');
  if (socket !== undefined && !socket.startsWith('/')) throw usageError('cri.usage', '--cri-socket must be an absolute path');
  const activated = activationSpecs(env, pid);
  if (activated.length && socket !== undefined) throw usageError('cri.usage', 'started with sockets from systemd (LISTEN_FDS) and --cri-socket: use one or the other');
  const listen: ListenSpec[] = activated.length ? activated : [{ kind: 'unix', path: socket ?? DEFAULT_CRI_SOCKET }];
  const dataDir = str('dir') ?? env.RKT_DIR ?? '/var/lib/rkt';
  if (!dataDir) throw usageError('cri.usage', '--dir cannot be empty');
  const stage1 = STAGE1_FLAGS.filter((f) => str(f) !== undefined);
  if (stage1.length > 1) throw usageError('cri.usage', `--${stage1[0]} and --${stage1[1]} cannot be combined`);
  let timeout: number | undefined;
  if (str('sandbox-timeout') !== undefined) {
    timeout = Number(str('sandbox-timeout'));
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > 3600) throw usageError('cri.usage', `--sandbox-timeout: expected seconds from 1 to 3600, got "${str('sandbox-timeout')}"`);
  }
  const streaming = str('streaming-address');
  if (streaming !== undefined) parseHostPort(streaming);
  const rktPath = str('rkt-path') ?? defaultRktPath(env);
  const options: CriServiceOptions = {
    listen,
    dataDir: resolve(dataDir),
    rktPath: rktPath ? resolve(rktPath) : '',
    insecureOptions: (str('insecure-options') ?? '').split(',').map((s) => s.trim()).filter((s) => s && s !== 'none'),
    debug: v.debug === true,
    ...(streaming !== undefined ? { streamingAddress: streaming } : {}),
    settings: {
      stage1Args: stage1.map((f) => `--${f}=${str(f)}`),
      ...(timeout !== undefined ? { sandboxStartTimeoutMs: timeout * 1000 } : {}),
    },
  };
  for (const [flag, key] of [
    ['local-config', 'localConfig'],
    ['system-config', 'systemConfig'],
    ['user-config', 'userConfig'],
  ] as const) {
    const val = str(flag);
    if (val !== undefined) options[key] = resolve(val);
  }
  return { help: v.help === true, options };
}

/**
 * Runs the CRI server until SIGTERM or SIGINT, then exits 0; prints the usage for `--help`;
 * logs an error and exits with its status otherwise. Never returns.
 */
export async function criMain(argv: readonly string[], log: Logger): Promise<never> {
  try {
    const cli = parseCriCli(argv);
    if (cli.help) {
      process.stdout.write(CRI_USAGE);
      process.exit(0);
    }
    if (!cli.options.rktPath) throw usageError('cri.usage', 'no rkt executable found next to this bundle or on PATH: use --rkt-path');
    const { startCriService } = await import('./server');
    const svc = await startCriService({ ...cli.options, log });
    for (const a of svc.addresses) log.info(`listening on ${a}`);
    log.info(`streaming on http://${svc.streamingAddress}`);
    let stopping = false;
    const stop = () => {
      if (stopping) process.exit(0);
      stopping = true;
      log.info('exiting');
      void svc.close().then(() => process.exit(0));
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    log.info('ready');
  } catch (e) {
    log.error(e);
    process.exit(exitCodeFor(e));
  }
  return new Promise<never>(() => undefined);
}
