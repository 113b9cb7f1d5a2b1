/**
 * PullImage and RemoveImage: `rkt fetch` and `rkt image rm`. Credentials sent with a pull
 * become a `dockerAuth` configuration in a temporary user configuration directory that only
 * that `rkt fetch` sees (with the configured user directory's `registries.d` copied in, so
 * mirrors still apply); the directory is removed when the fetch ends.
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import type { CriContext } from './context';
import { invalidArgument } from './grpc';
import { pullReference } from './images';
import type { AuthConfig } from './messages';
import { parseImageReference, type ImageReference } from './reference';

/** Username and password of an AuthConfig (`auth` is base64 `user:password`), or undefined without any. */
export function basicCredentials(auth: AuthConfig | null | undefined): { user: string; password: string } | undefined {
  if (!auth) return undefined;
  if (auth.identity_token || auth.registry_token) throw invalidArgument('token authentication is not supported, only username and password');
  if (auth.username || auth.password) return { user: auth.username, password: auth.password };
  if (auth.auth) {
    const text = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon <= 0) throw invalidArgument('auth: expected base64 of username:password');
    return { user: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  return undefined;
}

/** The registry host credentials are for: the server address (scheme and path dropped), else the image's registry. */
export function authHost(auth: AuthConfig | null | undefined, ref: ImageReference): string {
  const addr = (auth?.server_address ?? '').replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  return addr || ref.domain;
}

/** The `dockerAuth` configuration document for one registry. */
export function dockerAuthConfig(host: string, creds: { user: string; password: string }): string {
  return `${JSON.stringify({ rktKind: 'dockerAuth', rktVersion: 'v1', registries: [host], credentials: creds }, null, 2)}\n`;
}

/** How long a pull may take. */
export const PULL_TIMEOUT_MS = 30 * 60_000;

/** PullImage: fetches a `docker://` image; returns the CRI image id. */
export async function pullImage(ctx: CriContext, req: { image: { image: string } | null; auth: AuthConfig | null }): Promise<{ image_ref: string }> {
  const text = req.image?.image;
  if (!text) throw invalidArgument('image.image is required');
  const ref = parseImageReference(text);
  const creds = basicCredentials(req.auth);
  let userConfig: string | undefined;
  try {
    if (creds) {
      userConfig = await fsp.mkdtemp(join(ctx.state.tmpDir(), 'pull-'));
      const configured = ctx.rkt.opts.userConfig;
      if (configured) {
        await fsp.cp(join(configured, 'registries.d'), join(userConfig, 'registries.d'), { recursive: true }).catch(() => undefined);
      }
      await fsp.mkdir(join(userConfig, 'auth.d'), { mode: 0o700 });
      await fsp.writeFile(join(userConfig, 'auth.d', 'cri-pull.json'), dockerAuthConfig(authHost(req.auth, ref), creds), { mode: 0o600 });
    }
    const insecure = [...(ctx.rkt.opts.insecureOptions ?? []), 'image'];
    const r = await ctx.rkt.runOk(['fetch', '--pull-policy=update', '--full', pullReference(ref)], `cannot pull image ${text}`, {
      timeoutMs: PULL_TIMEOUT_MS,
      insecureOptions: insecure,
      ...(userConfig ? { userConfig } : {}),
      kind: 'user',
    });
    const key = r.stdout.toString().trim().split('\n').reverse().find((l) => /^sha512-[0-9a-f]{128}$/.test(l.trim()))?.trim();
    const image = key ? ctx.images.byKey(key) : undefined;
    if (!image) throw invalidArgument(`rkt fetch of ${text} printed no image id`);
    return { image_ref: image.id };
  } finally {
    if (userConfig) await fsp.rm(userConfig, { recursive: true, force: true });
  }
}

/** RemoveImage: removes every store image behind the CRI image; fine when there is none. */
export async function removeImage(ctx: CriContext, req: { image: { image: string } | null }): Promise<void> {
  const text = req.image?.image;
  if (!text) throw invalidArgument('image.image is required');
  const image = ctx.images.find(text);
  if (!image) return;
  const r = await ctx.rkt.run(['image', 'rm', ...image.keys], { timeoutMs: 300_000 });
  if (r.code !== 0) {
    const left = ctx.images.list().find((i) => i.id === image.id);
    if (left) await ctx.rkt.runOk(['image', 'rm', ...left.keys], `cannot remove image ${text}`);
  }
}
