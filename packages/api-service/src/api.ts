/**
 * The API service: the v1alpha PublicAPI (and, later, further gRPC services) over a read-only
 * view of one data directory, on TCP, unix sockets or systemd-passed sockets.
 */
import type { Server } from 'node:net';
import type { Logger } from '@rktnetes/log';
import { EventWatcher } from './events/watcher';
import { createGrpcServer, type ServiceRegistration } from './grpc/server';
import { ImageView } from './images/view';
import { describeListener, openListeners, parseListenAddress, type ListenSpec } from './listen';
import { PodView } from './pods/view';
import type { GlobalFlags } from './v1alpha/messages';
import { v1alphaService } from './v1alpha/service';

/** rkt's default API address. */
export const DEFAULT_API_LISTEN = 'localhost:15441';
/** The API's default unix socket (skipped with a warning when it cannot be created). */
export const DEFAULT_API_SOCKET = '/run/rkt/api-service.sock';

export interface ApiServiceOptions {
  dataDir: string;
  /** where to listen (required, may come from {@link defaultApiListeners} or socket activation) */
  listen: readonly ListenSpec[];
  /** listeners that may fail with only a warning */
  optionalListen?: readonly ListenSpec[];
  /** what GetInfo reports besides the data directory */
  globalFlags?: Partial<GlobalFlags>;
  /** ms between event samples (default 1000) */
  eventsIntervalMs?: number;
  /** ms between checks of followed logs (default 200) */
  logPollMs?: number;
  /** further gRPC services served on the same listeners (the CRI, …) */
  extraServices?: readonly ServiceRegistration[];
  log?: Logger;
}

/** A running service. */
export interface RunningService {
  /** the addresses actually listened on (ports resolved) */
  addresses: string[];
  close(): Promise<void>;
}

/** `localhost:15441` and the default unix socket, the latter optional. */
export function defaultApiListeners(): { listen: ListenSpec[]; optionalListen: ListenSpec[] } {
  return { listen: [parseListenAddress(DEFAULT_API_LISTEN)], optionalListen: [{ kind: 'unix', path: DEFAULT_API_SOCKET }] };
}

/** Starts the API service; resolves once every listener is open and the first event sample is taken. */
export async function startApiService(opts: ApiServiceOptions): Promise<RunningService> {
  const pods = new PodView(opts.dataDir, opts.log ? { log: opts.log } : {});
  const images = new ImageView(opts.dataDir, opts.log);
  const events = new EventWatcher(pods, images, { intervalMs: opts.eventsIntervalMs ?? 1000, ...(opts.log ? { log: opts.log } : {}) });
  const globalFlags: GlobalFlags = {
    dir: opts.dataDir,
    system_config_dir: '',
    local_config_dir: '',
    user_config_dir: '',
    insecure_flags: '',
    trust_keys_from_https: false,
    ...opts.globalFlags,
  };
  const services: ServiceRegistration[] = [
    await v1alphaService({ globalFlags, pods, images, events, ...(opts.log ? { log: opts.log } : {}), logPollMs: opts.logPollMs ?? 200 }),
    ...(opts.extraServices ?? []),
  ];
  const listeners: Server[] = [];
  try {
    for (const spec of opts.listen) listeners.push(...(await openListeners(spec)));
    for (const spec of opts.optionalListen ?? []) {
      try {
        listeners.push(...(await openListeners(spec)));
      } catch (e) {
        opts.log?.warn(`${(e as Error).message}${(e as Error).cause ? `: ${((e as Error).cause as Error).message}` : ''}`);
      }
    }
    await events.start();
  } catch (e) {
    for (const l of listeners) l.close();
    events.close();
    images.close();
    throw e;
  }
  const server = await createGrpcServer(services, opts.log);
  for (const l of listeners) server.serve(l);
  return {
    addresses: listeners.map(describeListener),
    async close() {
      events.close();
      await server.close();
      images.close();
    },
  };
}
