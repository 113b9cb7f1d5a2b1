/**
 * Builders of valid manifests for tests and for code that writes manifests: fill in what a
 * partial object leaves out, then validate (a builder never returns an invalid manifest).
 */
import { createHash } from 'node:crypto';
import type { App, ImageManifest, Label, PodManifest, RuntimeApp } from './types';
import { APPC_VERSION, appcArch, appcOS } from './names';
import { parseImageManifest } from './image';
import { parsePodManifest } from './pod';

/**
 * A deterministic image ID for `seed` in the store-key form rkt writes into pod manifests
 * (`sha512-` and the first 64 hex digits of sha512(seed)).
 */
export function fakeImageID(seed = 'image'): string {
  return `sha512-${createHash('sha512').update(seed).digest('hex').slice(0, 64)}`;
}

/** The `os` and `arch` labels of the machine this runs on (omitting what appc cannot name). */
export function hostLabels(): Label[] {
  const out: Label[] = [];
  const os = appcOS();
  const arch = appcArch();
  if (os) out.push({ name: 'os', value: os });
  if (os && arch) out.push({ name: 'arch', value: arch });
  return out;
}

/** The app a built image gets by default: `/bin/true` as root. */
export const DEFAULT_APP: Readonly<App> = Object.freeze({ exec: ['/bin/true'], user: '0', group: '0' });

/** What {@link imageManifest} accepts: any part of a manifest; `app: null` for an image without app. */
export type ImageManifestInput = Omit<Partial<ImageManifest>, 'app'> & { app?: Partial<App> | null };

/**
 * A valid image manifest: acKind `ImageManifest`, acVersion 0.8.11, name
 * `example.com/test`, the host's os/arch labels, and an app ({@link DEFAULT_APP} merged with
 * `partial.app`) unless `app` is null. Throws `schema.invalid` if the result is invalid.
 */
export function imageManifest(partial: ImageManifestInput = {}): ImageManifest {
  const { app, ...rest } = partial;
  const m: Record<string, unknown> = {
    acKind: 'ImageManifest',
    acVersion: APPC_VERSION,
    name: 'example.com/test',
    labels: hostLabels(),
    ...rest,
  };
  if (app !== null) m['app'] = { ...DEFAULT_APP, exec: [...(DEFAULT_APP.exec ?? [])], ...app };
  return parseImageManifest(m);
}

/** What {@link runtimeApp} accepts. */
export type RuntimeAppInput = Omit<Partial<RuntimeApp>, 'image'> & { image?: Partial<RuntimeApp['image']> };

/**
 * A pod app: name `app`, image `example.com/<name>` with `fakeImageID(name)`, no app override
 * unless given. Not validated on its own (the pod builder does that).
 */
export function runtimeApp(partial: RuntimeAppInput = {}): RuntimeApp {
  const name = partial.name ?? 'app';
  const { image, ...rest } = partial;
  return {
    ...rest,
    name,
    image: { name: `example.com/${name}`, id: fakeImageID(name), ...image },
  };
}

/** What {@link podManifest} accepts: apps may be partial. */
export type PodManifestInput = Omit<Partial<PodManifest>, 'apps'> & { apps?: RuntimeAppInput[] };

/**
 * A valid pod manifest: acKind `PodManifest`, acVersion 0.8.11 and the given apps completed by
 * {@link runtimeApp} (default: one app named `app`; apps left unnamed get `app`, `app-2`, ...).
 * Throws `schema.invalid` if the result is invalid.
 */
export function podManifest(partial: PodManifestInput = {}): PodManifest {
  const { apps, ...rest } = partial;
  const m: Record<string, unknown> = {
    acKind: 'PodManifest',
    acVersion: APPC_VERSION,
    ...rest,
    apps: (apps ?? [{}]).map((a, i) => runtimeApp({ name: i === 0 ? 'app' : `app-${i + 1}`, ...a })),
  };
  return parsePodManifest(m);
}

/**
 * The image manifest example of spec/aci.md as a value (its `sha512-...` placeholder replaced
 * by a real-looking ID). Valid.
 */
export function exampleImageManifest(): ImageManifest {
  return parseImageManifest({
    acKind: 'ImageManifest',
    acVersion: '0.8.11',
    name: 'example.com/reduce-worker',
    labels: [
      { name: 'version', value: '1.0.0' },
      { name: 'arch', value: 'amd64' },
      { name: 'os', value: 'linux' },
    ],
    app: {
      exec: ['/usr/bin/reduce-worker', '--quiet'],
      user: '100',
      group: '300',
      supplementaryGIDs: [400, 500],
      eventHandlers: [
        { exec: ['/usr/bin/data-downloader'], name: 'pre-start' },
        { exec: ['/usr/bin/deregister-worker', '--verbose'], name: 'post-stop' },
      ],
      workingDirectory: '/opt/work',
      environment: [{ name: 'REDUCE_WORKER_DEBUG', value: 'true' }],
      isolators: [
        { name: 'resource/cpu', value: { request: '250m', limit: '500m' } },
        { name: 'resource/memory', value: { request: '1G', limit: '2G' } },
        { name: 'os/linux/capabilities-retain-set', value: { set: ['CAP_NET_BIND_SERVICE'] } },
      ],
      mountPoints: [{ name: 'work', path: '/var/lib/work', readOnly: false }],
      ports: [
        { name: 'health', port: 4000, protocol: 'tcp', socketActivated: true },
        { name: 'ftp-data', port: 20000, count: 1000, protocol: 'tcp' },
      ],
    },
    dependencies: [
      {
        imageName: 'example.com/reduce-worker-base',
        imageID: fakeImageID('reduce-worker-base'),
        labels: [
          { name: 'os', value: 'linux' },
          { name: 'env', value: 'canary' },
        ],
        size: 22017258,
      },
    ],
    pathWhitelist: [
      '/etc/ca/example.com/crt',
      '/usr/bin/map-reduce-worker',
      '/opt/libs/reduce-toolkit.so',
      '/etc/reduce-worker.conf',
      '/etc/systemd/system/',
    ],
    annotations: [
      { name: 'authors', value: 'Carly Container <carly@example.com>, Nat Network <nat@example.com>' },
      { name: 'created', value: '2014-10-27T19:32:27.67021798Z' },
      { name: 'documentation', value: 'https://example.com/docs' },
      { name: 'homepage', value: 'https://example.com' },
      { name: 'appc.io/executor/supports-systemd-notify', value: 'false' },
    ],
  });
}

/** The pod manifest example of spec/pods.md as a value (image IDs filled in). Valid. */
export function examplePodManifest(): PodManifest {
  const image = (name: string) => ({
    name: `example.com/${name}`,
    id: fakeImageID(name),
    labels: [{ name: 'version', value: '1.0.0' }],
  });
  return parsePodManifest({
    acVersion: '0.8.11',
    acKind: 'PodManifest',
    apps: [
      {
        name: 'reduce-worker',
        image: image('reduce-worker'),
        app: {
          exec: ['/bin/reduce-worker', '--debug=true', '--data-dir=/mnt/foo'],
          group: '0',
          user: '0',
          mountPoints: [{ name: 'work', path: '/var/lib/work' }],
        },
        readOnlyRootFS: true,
        mounts: [{ volume: 'worklib', path: '/var/lib/work' }],
      },
      {
        name: 'backup',
        image: image('worker-backup'),
        app: {
          exec: ['/bin/reduce-backup'],
          group: '0',
          user: '0',
          mountPoints: [{ name: 'backup', path: '/mnt/bar' }],
          isolators: [{ name: 'resource/memory', value: { limit: '1G' } }],
        },
        mounts: [{ volume: 'worklib', path: '/mnt/bar' }],
        annotations: [{ name: 'foo', value: 'baz' }],
      },
      { name: 'register', image: image('reduce-worker-register') },
    ],
    volumes: [{ name: 'worklib', kind: 'host', source: '/opt/tenant1/work', readOnly: true, recursive: true }],
    isolators: [{ name: 'resource/memory', value: { limit: '4G' } }],
    annotations: [{ name: 'ip-address', value: '10.1.2.3' }],
    ports: [{ name: 'ftp', hostPort: 2121 }],
  });
}
