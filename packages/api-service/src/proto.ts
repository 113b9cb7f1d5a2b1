/**
 * Where the package's .proto files are and how they are loaded. The files ship in `proto/` next
 * to `src/` and `dist/`, so the same relative URL works from the sources and from the bundle.
 * gRPC and the proto loader are imported on first use only.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { internalError } from '@rktnetes/errors';
import type * as GrpcModule from '@grpc/grpc-js';

export type Grpc = typeof GrpcModule;

/** The path of a .proto file of this package, e.g. `protoPath('v1alpha/api.proto')`. */
export function protoPath(name: string): string {
  const path = fileURLToPath(new URL(`../proto/${name}`, import.meta.url));
  if (!existsSync(path)) throw internalError('api.proto-missing', `protocol definition ${path} is missing from the installation`);
  return path;
}

/**
 * Options every loader of our .proto files uses: field names exactly as written (snake_case,
 * `KeyValue.Key`), 64-bit integers as decimal strings (nanosecond times exceed 2^53), enums by
 * name, defaults filled in.
 */
export const PROTO_LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true } as const;

let grpcModule: Grpc | undefined;

/** @grpc/grpc-js, loaded once. */
export async function loadGrpc(): Promise<Grpc> {
  grpcModule ??= (await import('@grpc/grpc-js')) as Grpc;
  return grpcModule;
}

/**
 * The service definition of `pkg.service` from a .proto file of this package, for
 * `server.addService` or to build a client (`makeGenericClientConstructor`).
 */
export async function loadServiceDefinition(file: string, pkg: string, service: string): Promise<GrpcModule.ServiceDefinition> {
  const grpc = await loadGrpc();
  const loader = await import('@grpc/proto-loader');
  const def = loader.loadSync(protoPath(file), PROTO_LOADER_OPTIONS);
  const ns = grpc.loadPackageDefinition(def)[pkg] as Record<string, unknown> | undefined;
  const ctor = ns?.[service] as { service?: GrpcModule.ServiceDefinition } | undefined;
  if (!ctor?.service) throw internalError('api.proto-service', `service ${pkg}.${service} is not defined in ${file}`);
  return ctor.service;
}
