/**
 * The metadata service: the public HTTP server apps reach (`AC_METADATA_URL`) and the
 * registration server on a unix socket, sharing one registry and one HMAC key.
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from '@rktnetes/log';
import { describeListener, openListeners, type ListenSpec } from '../listen';
import { PodIdentity } from './identity';
import { publicHandler, registrationHandler } from './http';
import { MetadataRegistry } from './registry';

/** rkt's metadata service port. */
export const METADATA_SERVICE_PORT = 18112;
/** rkt's registration socket; `rkt run --mds-register` connects here. */
export const METADATA_REGISTRATION_SOCKET = '/run/rkt/metadata-svc.sock';

export interface MetadataServiceOptions {
  /** where apps connect (default all interfaces, port 18112) */
  publicListen: readonly ListenSpec[];
  /** where rkt registers pods (default the unix socket {@link METADATA_REGISTRATION_SOCKET}) */
  registrationListen: readonly ListenSpec[];
  log?: Logger;
  /** the HMAC key (default: 64 random bytes) */
  hmacKey?: Buffer;
}

export interface RunningMetadataService {
  publicAddresses: string[];
  registrationAddresses: string[];
  registry: MetadataRegistry;
  close(): Promise<void>;
}

/** Starts both servers; resolves once every listener is open. */
export async function startMetadataService(opts: MetadataServiceOptions): Promise<RunningMetadataService> {
  const registry = new MetadataRegistry();
  const identity = new PodIdentity(opts.hmacKey);
  const onPublic = publicHandler(registry, identity, opts.log);
  const onRegistration = registrationHandler(registry, opts.log);
  const servers: Server[] = [];
  const pub: Server[] = [];
  const reg: Server[] = [];
  try {
    for (const spec of opts.registrationListen) reg.push(...((await openListeners(spec, () => createServer(onRegistration))) as Server[]));
    for (const spec of opts.publicListen) pub.push(...((await openListeners(spec, () => createServer(onPublic))) as Server[]));
  } catch (e) {
    for (const s of [...reg, ...pub]) s.close();
    throw e;
  }
  servers.push(...reg, ...pub);
  return {
    publicAddresses: pub.map(describeListener),
    registrationAddresses: reg.map(describeListener),
    registry,
    async close() {
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      );
    },
  };
}
