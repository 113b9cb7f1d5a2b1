/**
 * The CRI server: runtime.v1 RuntimeService and ImageService on a unix socket (or sockets from
 * systemd), driving rkt through its CLI over one data directory.
 */
import { existsSync } from 'node:fs';
import type * as GrpcModule from '@grpc/grpc-js';
import { internalError, systemError } from '@rktnetes/errors';
import type { Logger } from '@rktnetes/log';
import { layoutFor } from '@rktnetes/store';
import { createGrpcServer } from '../grpc/server';
import { describeListener, openListeners, type ListenSpec } from '../listen';
import { PodView } from '../pods/view';
import { PROTO_LOADER_OPTIONS, protoPath } from '../proto';
import type { CriContext, CriSettings } from './context';
import { CriImages } from './images';
import { KeyedLocks } from './locks';
import { Rkt, type RktOptions } from './rkt';
import { imageHandlers, implementation, runtimeHandlers } from './service';
import { CriState } from './state';
import { rktBackends } from './streaming/backends';
import { StreamingServer } from './streaming/server';

/** The kubelet's `--container-runtime-endpoint` for rktnetes is `unix://` + this. */
export const DEFAULT_CRI_SOCKET = '/run/rkt/cri.sock';

export interface CriServiceOptions extends RktOptions {
  /** where to listen: unix sockets or systemd-passed fds */
  listen: readonly ListenSpec[];
  settings?: Partial<CriSettings>;
  /** `HOST:PORT` of the streaming server (Exec, Attach, PortForward); default 127.0.0.1, any port */
  streamingAddress?: string;
}

export interface RunningCriService {
  addresses: string[];
  /** `host:port` of the streaming server */
  streamingAddress: string;
  close(): Promise<void>;
}

/** The runtime.v1 service definitions from proto/cri/api.proto. */
export async function criServiceDefinitions(): Promise<{ runtime: GrpcModule.ServiceDefinition; image: GrpcModule.ServiceDefinition }> {
  const loader = await import('@grpc/proto-loader');
  const def = loader.loadSync(protoPath('cri/api.proto'), PROTO_LOADER_OPTIONS);
  const runtime = def['runtime.v1.RuntimeService'] as GrpcModule.ServiceDefinition | undefined;
  const image = def['runtime.v1.ImageService'] as GrpcModule.ServiceDefinition | undefined;
  if (!runtime || !image) throw internalError('api.proto-service', 'runtime.v1 services are missing from cri/api.proto');
  return { runtime, image };
}

/**
 * Starts the CRI server: checks rkt, creates the store when the data directory has none (the
 * read-only image view needs its database), loads the records, listens. Throws `cri.rkt-missing`,
 * `cri.rkt-failed`, `api.listen`, `cri.streaming-listen`.
 */
export async function startCriService(opts: CriServiceOptions): Promise<RunningCriService> {
  if (!existsSync(opts.rktPath)) throw systemError('cri.rkt-missing', `rkt executable ${opts.rktPath} not found (use --rkt-path)`);
  const rkt = new Rkt(opts);
  if (!existsSync(layoutFor(opts.dataDir).db)) await rkt.runOk(['image', 'list', '--no-legend'], `cannot initialise the data directory ${opts.dataDir}`, { timeoutMs: 120_000 });
  const ctx: CriContext = {
    rkt,
    state: new CriState(opts.dataDir, opts.log),
    images: new CriImages(opts.dataDir, opts.log),
    pods: new PodView(opts.dataDir, opts.log ? { log: opts.log } : {}),
    locks: new KeyedLocks(),
    settings: { stage1Args: [], sandboxStartTimeoutMs: 120_000, sandboxStopTimeoutMs: 30_000, ...opts.settings },
    reserved: new Set(),
    ...(opts.log ? { log: opts.log } : {}),
  };
  ctx.streaming = await StreamingServer.start({
    ...(opts.streamingAddress !== undefined ? { address: opts.streamingAddress } : {}),
    backends: rktBackends(ctx),
    ...(opts.log ? { log: opts.log } : {}),
  });
  const defs = await criServiceDefinitions();
  const server = await createGrpcServer(
    [
      { definition: defs.runtime, implementation: implementation(defs.runtime, runtimeHandlers(ctx)) },
      { definition: defs.image, implementation: implementation(defs.image, imageHandlers(ctx)) },
    ],
    opts.log,
  );
  const listeners = [];
  try {
    for (const spec of opts.listen) listeners.push(...(await openListeners(spec)));
  } catch (e) {
    for (const l of listeners) l.close();
    ctx.images.close();
    await ctx.streaming.close();
    throw e;
  }
  for (const l of listeners) server.serve(l);
  return {
    addresses: listeners.map(describeListener),
    streamingAddress: ctx.streaming.address,
    async close() {
      await server.close();
      await ctx.streaming?.close();
      ctx.images.close();
    },
  };
}
