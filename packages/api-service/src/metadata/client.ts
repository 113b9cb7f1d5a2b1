/**
 * The registration client, as `rkt run --mds-register` uses the service (rkt's protocol): a
 * random token, `PUT /pods/<uuid>?token=<token>` with the pod manifest, `PUT /pods/<uuid>/<app>`
 * with each app's image manifest, and `DELETE /pods/<uuid>` when the pod is done; all over the
 * registration unix socket. The pod's apps then find the service at
 * `http://<host ip>:18112/<token>` (`AC_METADATA_URL`).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { basename } from 'node:path';
import { appInfoManifestPath, appImageManifestPath, podManifestPath } from '@rktnetes/common';
import { systemError, userError } from '@rktnetes/errors';
import { parsePodManifest } from '@rktnetes/schema';
import { METADATA_REGISTRATION_SOCKET } from './service';

/** A new token: 128 random bits in hex, as rkt makes them. */
export function newMdsToken(): string {
  return randomBytes(16).toString('hex');
}

/** The URL apps of a registered pod use (`AC_METADATA_URL`). */
export function metadataUrl(host: string, token: string, port = 18112): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/${token}`;
}

function call(socketPath: string, method: string, path: string, body?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode === 200) return resolve();
        const text = Buffer.concat(chunks).toString('utf8').trim();
        reject(userError('mds.register', `metadata service refused ${method} ${path.replace(/token=[^&]*/, 'token=…')}: ${res.statusCode} ${text}`));
      });
    });
    req.on('error', (e) => reject(systemError('mds.unreachable', `cannot reach the metadata service at ${socketPath}`, { cause: e })));
    req.end(body);
  });
}

/** Registers a pod with its manifest text. */
export const registerPod = (uuid: string, token: string, manifestText: string, socketPath = METADATA_REGISTRATION_SOCKET) =>
  call(socketPath, 'PUT', `/pods/${uuid}?token=${encodeURIComponent(token)}`, manifestText);

/** Registers one app of a registered pod with its image manifest text. */
export const registerApp = (uuid: string, app: string, manifestText: string, socketPath = METADATA_REGISTRATION_SOCKET) =>
  call(socketPath, 'PUT', `/pods/${uuid}/${encodeURIComponent(app)}`, manifestText);

/** Forgets a pod. */
export const unregisterPod = (uuid: string, socketPath = METADATA_REGISTRATION_SOCKET) => call(socketPath, 'DELETE', `/pods/${uuid}`);

/**
 * Registers a prepared pod directory: its `pod` manifest and, for each app, the image manifest
 * from `appsinfo/<app>/manifest` (or the app's stage2 directory). The uuid is the directory's
 * name unless given; returns the token (a new one unless given). On failure the pod is
 * unregistered again.
 */
export async function registerPodDir(podDir: string, opts: { uuid?: string; token?: string; socketPath?: string } = {}): Promise<{ uuid: string; token: string }> {
  const uuid = opts.uuid ?? basename(podDir);
  const token = opts.token ?? newMdsToken();
  const socketPath = opts.socketPath ?? METADATA_REGISTRATION_SOCKET;
  const text = await readFile(podManifestPath(podDir), 'utf8');
  const manifest = parsePodManifest(text, { source: podManifestPath(podDir) });
  await registerPod(uuid, token, text, socketPath);
  try {
    for (const app of manifest.apps) {
      const im = await readFile(appInfoManifestPath(podDir, app.name), 'utf8').catch(() => readFile(appImageManifestPath(podDir, app.name), 'utf8'));
      await registerApp(uuid, app.name, im, socketPath);
    }
  } catch (e) {
    await unregisterPod(uuid, socketPath).catch(() => undefined);
    throw e;
  }
  return { uuid, token };
}
