/**
 * The pods registered with the metadata service: their tokens, pod manifests and the image
 * manifests of their apps, as `rkt run --mds-register` hands them over. Held in memory only; a
 * restarted service knows no pods until they register again (as rkt's).
 */
import { isCanonicalUUID } from '@rktnetes/common';
import { userError, usageError } from '@rktnetes/errors';
import { isACName, parseImageManifest, parsePodManifest, type ImageManifest, type PodManifest } from '@rktnetes/schema';

/** One registered pod. */
export interface RegisteredPod {
  uuid: string;
  token: string;
  manifest: PodManifest;
  /** the pod manifest as registered */
  manifestText: string;
  apps: Map<string, { manifest: ImageManifest; text: string }>;
}

/** Tokens: 1 to 256 characters that stay one URL path segment. */
export const TOKEN_PATTERN = /^[A-Za-z0-9._~-]{1,256}$/;

/** Registered pods by uuid and by token. */
export class MetadataRegistry {
  private readonly byUUID = new Map<string, RegisteredPod>();
  private readonly tokens = new Map<string, RegisteredPod>();

  /**
   * Registers (or re-registers) a pod. Throws usage errors `mds.invalid-uuid`,
   * `mds.invalid-token`, `mds.token-in-use` and the schema errors of an invalid manifest.
   */
  registerPod(uuid: string, token: string, manifestText: string): RegisteredPod {
    if (!isCanonicalUUID(uuid)) throw usageError('mds.invalid-uuid', `invalid pod uuid "${uuid}"`);
    if (!TOKEN_PATTERN.test(token)) throw usageError('mds.invalid-token', 'token missing or malformed');
    const holder = this.tokens.get(token);
    if (holder && holder.uuid !== uuid) throw usageError('mds.token-in-use', 'token already registered for another pod');
    const manifest = parsePodManifest(manifestText, { source: `pod manifest of ${uuid}` });
    this.unregister(uuid);
    const pod: RegisteredPod = { uuid, token, manifest, manifestText, apps: new Map() };
    this.byUUID.set(uuid, pod);
    this.tokens.set(token, pod);
    return pod;
  }

  /** Adds an app's image manifest. Throws `mds.pod-not-found`, `mds.invalid-app` and schema errors. */
  registerApp(uuid: string, app: string, manifestText: string): void {
    const pod = this.byUUID.get(uuid);
    if (!pod) throw userError('mds.pod-not-found', `pod ${uuid} is not registered`);
    if (!isACName(app)) throw usageError('mds.invalid-app', `invalid app name "${app}"`);
    pod.apps.set(app, { manifest: parseImageManifest(manifestText, { source: `image manifest of app ${app}` }), text: manifestText });
  }

  /** Forgets a pod; false when it was not registered. */
  unregister(uuid: string): boolean {
    const pod = this.byUUID.get(uuid);
    if (!pod) return false;
    this.byUUID.delete(uuid);
    this.tokens.delete(pod.token);
    return true;
  }

  byToken(token: string): RegisteredPod | undefined {
    return this.tokens.get(token);
  }

  get size(): number {
    return this.byUUID.size;
  }
}
