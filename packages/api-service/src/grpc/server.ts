/**
 * A gRPC server that serves any number of services (v1alpha's PublicAPI, later the CRI) on
 * listeners we open ourselves (TCP, unix sockets, systemd-passed fds): each accepted
 * connection is handed to grpc-js through its connection injector. Handlers are written with
 * {@link unary} and {@link serverStream}, which map thrown errors with {@link grpcStatusOf}.
 */
import type { Server as NetServer, Socket } from 'node:net';
import type * as GrpcModule from '@grpc/grpc-js';
import type { Logger } from '@rktnetes/log';
import { loadGrpc } from '../proto';
import { grpcStatusOf } from './status';

/** One service to serve: its definition and its handlers by method name. */
export interface ServiceRegistration {
  definition: GrpcModule.ServiceDefinition;
  implementation: GrpcModule.UntypedServiceImplementation;
}

/** A running gRPC server. */
export interface GrpcServer {
  /** Serves every connection accepted by `listener` (already listening or about to). */
  serve(listener: NetServer): void;
  /** Stops accepting, cancels running calls (streams end) and closes connections. */
  close(): Promise<void>;
}

/** Creates a gRPC server for the given services (insecure credentials, as rkt's API). */
export async function createGrpcServer(services: readonly ServiceRegistration[], log?: Logger): Promise<GrpcServer> {
  const grpc = await loadGrpc();
  const server = new grpc.Server({ 'grpc.keepalive_permit_without_calls': 1 });
  for (const s of services) server.addService(s.definition, s.implementation);
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listeners: NetServer[] = [];
  const sockets = new Set<Socket>();
  return {
    serve(listener) {
      listeners.push(listener);
      listener.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        socket.on('error', (e) => log?.debug(`connection error: ${e.message}`));
        injector.injectConnection(socket);
      });
    },
    async close() {
      // stop accepting first; the listeners' close completes once every connection is gone
      const closed = Promise.all(listeners.map((l) => new Promise<void>((resolve) => l.close(() => resolve()))));
      server.forceShutdown();
      injector.destroy();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** Maps what a handler threw to the status the call ends with. */
export type StatusMapper = (e: unknown) => Partial<GrpcModule.StatusObject>;

/** A unary handler from an async function of the request; a throw ends it with `toStatus(e)`. */
export function unary<Req, Res>(fn: (request: Req) => Promise<Res> | Res, toStatus: StatusMapper = grpcStatusOf): GrpcModule.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request))
      .then(
        (res) => callback(null, res),
        (e: unknown) => callback(toStatus(e)),
      );
  };
}

/** What a streaming handler writes to. */
export interface StreamSink<Res> {
  /** Sends one message; resolves once the transport accepts more (backpressure). */
  write(message: Res): Promise<void>;
  /** Aborted when the client cancels or disconnects. */
  readonly signal: AbortSignal;
}

/**
 * A server-streaming handler from an async function: the call ends with OK when it resolves,
 * with `toStatus(e)` when it throws, and its signal is aborted when the client goes away.
 */
export function serverStream<Req, Res>(fn: (request: Req, sink: StreamSink<Res>) => Promise<void>, toStatus: StatusMapper = grpcStatusOf): GrpcModule.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const abort = new AbortController();
    const cancel = () => abort.abort();
    call.on('cancelled', cancel);
    call.on('close', cancel);
    const sink: StreamSink<Res> = {
      signal: abort.signal,
      write(message) {
        if (abort.signal.aborted) return Promise.resolve();
        if (call.write(message)) return Promise.resolve();
        return new Promise<void>((resolve) => {
          const done = () => {
            call.off('drain', done);
            abort.signal.removeEventListener('abort', done);
            resolve();
          };
          call.on('drain', done);
          abort.signal.addEventListener('abort', done);
        });
      },
    };
    Promise.resolve()
      .then(() => fn(call.request, sink))
      .then(
        () => {
          if (!abort.signal.aborted) call.end();
        },
        (e: unknown) => {
          if (!abort.signal.aborted) call.emit('error', toStatus(e));
        },
      )
      .finally(() => abort.abort());
  };
}
