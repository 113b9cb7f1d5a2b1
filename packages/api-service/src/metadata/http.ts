/**
 * The metadata service's two HTTP faces:
 *
 * - the public one, for apps (appc ace.md "App Container Metadata Service"), under
 *   `/<token>/acMetadata/v1/`: pod annotations, manifest and uuid; app annotations, image
 *   manifest and id; the HMAC sign and verify endpoints;
 * - the registration one, on a unix socket only root can reach, used by `rkt run
 *   --mds-register`: `PUT /pods/<uuid>?token=<token>` with the pod manifest, `PUT
 *   /pods/<uuid>/<app>` with each app's image manifest, `DELETE /pods/<uuid>`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isCanonicalUUID } from '@rktnetes/common';
import { isRktError, oneLine } from '@rktnetes/errors';
import type { Logger } from '@rktnetes/log';
import { isACIdentifier, isACName, type Annotation } from '@rktnetes/schema';
import type { PodIdentity } from './identity';
import type { MetadataRegistry, RegisteredPod } from './registry';

/** Content types the spec prescribes. */
export const JSON_TYPE = 'application/json';
export const TEXT_TYPE = 'text/plain; charset=us-ascii';

/** Largest request body accepted (manifests, forms). */
const MAX_BODY = 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, 'request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Form values as Go's FormValue reads them: the urlencoded body first, then the query. */
async function formValues(req: IncomingMessage, url: URL): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const out = new URLSearchParams(url.searchParams);
  if (type === 'application/x-www-form-urlencoded') {
    for (const [k, v] of new URLSearchParams(await readBody(req))) {
      out.delete(k);
      out.set(k, v);
    }
  }
  return out;
}

/** Image annotations overridden by the pod manifest's app annotations (rkt's merge). */
export function mergedAppAnnotations(pod: RegisteredPod, app: string): Annotation[] {
  const merged = new Map<string, string>();
  for (const a of pod.apps.get(app)?.manifest.annotations ?? []) merged.set(a.name, a.value);
  for (const a of pod.manifest.apps.find((x) => x.name === app)?.annotations ?? []) merged.set(a.name, a.value);
  return [...merged].map(([name, value]) => ({ name, value }));
}

function annotationValue(list: readonly Annotation[], name: string, what: string): string {
  if (!isACIdentifier(name)) throw new HttpError(400, `${what} annotation "${name}" is not a valid AC identifier`);
  const hit = list.find((a) => a.name === name);
  if (!hit) throw new HttpError(404, `${what} annotation "${name}" not found`);
  return hit.value;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, 'malformed path');
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

async function servePublic(req: IncomingMessage, res: ServerResponse, registry: MetadataRegistry, identity: PodIdentity): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://metadata');
  const parts = url.pathname.split('/').map(decode);
  // ['', token, 'acMetadata', 'v1', ...rest]
  if (parts.length < 5 || parts[2] !== 'acMetadata' || parts[3] !== 'v1') throw new HttpError(404, 'not found');
  const pod = registry.byToken(parts[1]!);
  if (!pod) throw new HttpError(401, 'pod not found');
  const rest = parts.slice(4);
  if (rest[rest.length - 1] === '' && rest.length > 1) rest.pop();
  const route = rest.join('/');

  if (route === 'pod/hmac/sign' || route === 'pod/hmac/verify') {
    if (req.method !== 'POST') throw new HttpError(405, 'method not allowed');
    const form = await formValues(req, url);
    const content = form.get('content') ?? '';
    if (route === 'pod/hmac/sign') {
      if (!content) throw new HttpError(400, 'content form value not found');
      return send(res, 200, TEXT_TYPE, identity.sign(pod.uuid, content));
    }
    const uuid = (form.get('uuid') ?? '').toLowerCase();
    if (!isCanonicalUUID(uuid)) throw new HttpError(400, 'uuid field missing or malformed');
    if (!content) throw new HttpError(400, 'content field missing');
    const sig = form.get('signature') ?? '';
    if (!sig || !BASE64.test(sig)) throw new HttpError(400, 'signature field missing or corrupt');
    return send(res, identity.verify(uuid, content, sig) ? 200 : 403, TEXT_TYPE, '');
  }

  if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'method not allowed');
  if (rest[0] === 'pod') {
    if (route === 'pod/annotations') return send(res, 200, JSON_TYPE, JSON.stringify(pod.manifest.annotations ?? []));
    if (rest[1] === 'annotations' && rest.length === 3) return send(res, 200, TEXT_TYPE, annotationValue(pod.manifest.annotations ?? [], rest[2]!, 'pod'));
    if (route === 'pod/manifest') return send(res, 200, JSON_TYPE, pod.manifestText);
    if (route === 'pod/uuid') return send(res, 200, TEXT_TYPE, pod.uuid);
  }
  if (rest[0] === 'apps' && rest.length >= 3) {
    const app = rest[1]!;
    if (!isACName(app)) throw new HttpError(400, `app name "${app}" is not a valid AC name`);
    const im = pod.apps.get(app);
    const runtimeApp = pod.manifest.apps.find((a) => a.name === app);
    if (!im || !runtimeApp) throw new HttpError(404, 'app not found');
    const entry = rest.slice(2).join('/');
    if (entry === 'annotations') return send(res, 200, JSON_TYPE, JSON.stringify(mergedAppAnnotations(pod, app)));
    if (rest[2] === 'annotations' && rest.length === 4) return send(res, 200, TEXT_TYPE, annotationValue(mergedAppAnnotations(pod, app), rest[3]!, 'app'));
    if (entry === 'image/manifest') return send(res, 200, JSON_TYPE, im.text);
    if (entry === 'image/id') return send(res, 200, TEXT_TYPE, runtimeApp.image.id);
  }
  throw new HttpError(404, 'not found');
}

async function serveRegistration(req: IncomingMessage, res: ServerResponse, registry: MetadataRegistry): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://unixsock');
  const parts = url.pathname.split('/').filter(Boolean).map(decode);
  if (parts[0] !== 'pods' || parts.length < 2 || parts.length > 3) throw new HttpError(404, 'not found');
  const uuid = parts[1]!.toLowerCase();
  if (!isCanonicalUUID(uuid)) throw new HttpError(400, `uuid "${parts[1]}" is missing or malformed`);
  if (parts.length === 2 && req.method === 'PUT') {
    const token = url.searchParams.get('token') ?? '';
    if (!token) throw new HttpError(400, 'token missing');
    registry.registerPod(uuid, token, await readBody(req));
    return send(res, 200, TEXT_TYPE, '');
  }
  if (parts.length === 2 && req.method === 'DELETE') {
    if (!registry.unregister(uuid)) throw new HttpError(404, `pod ${uuid} is not registered`);
    return send(res, 200, TEXT_TYPE, '');
  }
  if (parts.length === 3 && req.method === 'PUT') {
    registry.registerApp(uuid, parts[2]!, await readBody(req));
    return send(res, 200, TEXT_TYPE, '');
  }
  throw new HttpError(405, 'method not allowed');
}

/** HTTP status of an error from a handler: HttpErrors carry theirs; usage and schema errors are 400, unknown pods 404. */
function statusOf(e: unknown): number {
  if (e instanceof HttpError) return e.status;
  if (isRktError(e)) {
    if (e.code === 'mds.pod-not-found') return 404;
    if (e.code === 'mds.token-in-use') return 409;
    if (e.kind === 'usage' || e.kind === 'user') return 400;
  }
  return 500;
}

function handler(name: string, serve: (req: IncomingMessage, res: ServerResponse) => Promise<void>, log?: Logger) {
  return (req: IncomingMessage, res: ServerResponse) => {
    serve(req, res)
      .catch((e: unknown) => {
        const status = statusOf(e);
        if (status === 500) log?.error(e, `${name}: ${req.method} request failed`);
        if (!res.headersSent) send(res, status, TEXT_TYPE, `${oneLine(e)}\n`);
        else res.destroy();
      })
      .finally(() => {
        // never log tokens: they are the pods' credentials
        const path = name === 'public' ? (req.url ?? '').replace(/^\/[^/]*/, '/<token>') : (req.url ?? '').replace(/token=[^&]*/, 'token=<token>');
        log?.debug(`${name}: ${req.method} ${path} - ${res.statusCode}`);
      });
  };
}

/** The request handler of the public (app-facing) server. */
export const publicHandler = (registry: MetadataRegistry, identity: PodIdentity, log?: Logger) =>
  handler('public', (req, res) => servePublic(req, res, registry, identity), log);

/** The request handler of the registration server. */
export const registrationHandler = (registry: MetadataRegistry, log?: Logger) => handler('registration', (req, res) => serveRegistration(req, res, registry), log);
