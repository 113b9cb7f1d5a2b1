/**
 * Registration with the metadata service (`rkt run --mds-register`), speaking the service's
 * protocol over its registration unix socket (docs/api-service.md): a fresh token, `PUT
 * /pods/<uuid>?token=<token>` with the pod manifest, `PUT /pods/<uuid>/<app>` with each app's
 * image manifest. The `mds-registered` file in the pod directory records the registration (it
 * holds the token, mode 0600; pods registered by older versions have it empty), so that deleting
 * the pod sends `DELETE /pods/<uuid>` only for registered pods, and `rkt app add`/`rm` on a
 * mutable pod can register it again with its new apps ({@link refreshPodRegistration}).
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { appInfoManifestPath, podManifestPath } from '@rktnetes/common';
import { systemError, userError } from '@rktnetes/errors';
import { parsePodManifest } from '@rktnetes/schema';

/** The service's registration socket unless `RKT_METADATA_SOCKET` names another. */
export const DEFAULT_METADATA_SOCKET = '/run/rkt/metadata-svc.sock';

/** Name of the marker file in the pod directory. */
export const MDS_REGISTERED_FILE = 'mds-registered';

/** The marker's path in pod directory `pod`. */
export const mdsRegisteredPath = (pod: string): string => join(pod, MDS_REGISTERED_FILE);

/** The registration socket to use: `RKT_METADATA_SOCKET` or the default. */
export function metadataSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  return env['RKT_METADATA_SOCKET'] || DEFAULT_METADATA_SOCKET;
}

/** A new token: 128 random bits in hex. */
export function newMdsToken(): string {
  return randomBytes(16).toString('hex');
}

/** One request on the registration socket; resolves on 200, rejects with a RktError otherwise. */
async function call(socketPath: string, method: string, path: string, body?: string): Promise<void> {
  // node:http is loaded here, not at start-up: most pods are not registered
  const { request } = await import('node:http');
  const shown = `${method} ${path.replace(/token=[^&]*/, 'token=…')}`;
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) };
    const req = request({ socketPath, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode === 200) return resolve();
        const text = Buffer.concat(chunks).toString('utf8').trim();
        reject(userError('mds.register', `metadata service refused ${shown}: ${res.statusCode}${text ? ` ${text}` : ''}`));
      });
      res.on('error', (e) => reject(systemError('mds.unreachable', `cannot reach the metadata service at ${socketPath}`, { cause: e })));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
    req.on('error', (e) => reject(systemError('mds.unreachable', `cannot reach the metadata service at ${socketPath}: ${e.message}`, { cause: e })));
    req.end(body);
  });
}

/** PUTs the pod manifest of the pod in directory `pod` under `token`, then each app's image manifest. */
async function putPod(pod: string, uuid: string, socketPath: string, token: string): Promise<void> {
  const text = await fsp.readFile(podManifestPath(pod), 'utf8');
  const manifest = parsePodManifest(text, { source: podManifestPath(pod) });
  await call(socketPath, 'PUT', `/pods/${uuid}?token=${token}`, text);
  for (const app of manifest.apps) {
    const im = await fsp.readFile(appInfoManifestPath(pod, app.name), 'utf8');
    await call(socketPath, 'PUT', `/pods/${uuid}/${encodeURIComponent(app.name)}`, im);
  }
}

/**
 * Registers the prepared pod in directory `pod` and its apps, then writes the marker. Returns
 * the token for stage1 (`--mds-token`). On failure nothing stays registered and the error
 * (`mds.unreachable`, `mds.register`, `mds.marker`) is thrown.
 */
export async function registerPod(pod: string, uuid: string, socketPath = metadataSocketPath()): Promise<string> {
  const token = newMdsToken();
  try {
    await putPod(pod, uuid, socketPath, token);
    try {
      await fsp.writeFile(mdsRegisteredPath(pod), token, { mode: 0o600 });
      await fsp.chmod(mdsRegisteredPath(pod), 0o600);
    } catch (e) {
      throw systemError('mds.marker', `cannot record the metadata service registration of pod ${uuid}`, { cause: e });
    }
  } catch (e) {
    await call(socketPath, 'DELETE', `/pods/${uuid}`).catch(() => undefined);
    throw e;
  }
  return token;
}

/**
 * Unregisters the pod in directory `pod` when its marker says it registered. Best effort: the
 * service may be gone or restarted (404); returns the failure's message, or undefined.
 */
export async function unregisterPod(pod: string, uuid: string, socketPath = metadataSocketPath()): Promise<string | undefined> {
  try {
    await fsp.access(mdsRegisteredPath(pod));
  } catch {
    return undefined;
  }
  try {
    await call(socketPath, 'DELETE', `/pods/${uuid}`);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/**
 * Registers a mutable pod again after `rkt app add` or `rkt app rm` changed its apps: the pod
 * manifest as it is now and every app's image manifest, under the token the marker holds (the
 * one its stage1 serves as `AC_METADATA_URL`). Nothing happens for a pod that is not registered
 * or whose marker predates tokens. Best effort like {@link unregisterPod}: returns the failure's
 * message, or undefined.
 */
export async function refreshPodRegistration(pod: string, uuid: string, socketPath = metadataSocketPath()): Promise<string | undefined> {
  let token: string;
  try {
    token = (await fsp.readFile(mdsRegisteredPath(pod), 'utf8')).trim();
  } catch {
    return undefined;
  }
  if (!token) return undefined;
  try {
    await putPod(pod, uuid, socketPath, token);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}
