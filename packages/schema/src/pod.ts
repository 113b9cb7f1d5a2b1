/**
 * The pod manifest (spec/pods.md "Pod Manifest Schema", with the userAnnotations/userLabels
 * rkt writes): parse, validate, serialize.
 */
import type { ExposedPort, Mount, PodManifest, RuntimeApp, RuntimeImage } from './types';
import {
  acIdentifier,
  acKind,
  acName,
  acVersion,
  annotations,
  app,
  imageID,
  labels,
  port,
  volume,
  volumes,
} from './components';
import { checkIsolators } from './isolators';
import { isIPv4Address } from './names';
import type { ParseOptions } from './image';
import {
  Checker,
  type Parse,
  type ValidationIssue,
  array,
  assemble,
  assertNoIssues,
  bool,
  checkUnique,
  decodeJson,
  int,
  matching,
  nonEmptyStr,
  reader,
  stringMap,
  sub,
} from './validate';

const WHAT = 'pod manifest';

const runtimeImage: Parse<RuntimeImage> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  return assemble<RuntimeImage>(
    {
      name: r.optional('name', acIdentifier),
      id: r.required('id', imageID),
      labels: r.optional('labels', labels),
    },
    r,
  );
};

const mount: Parse<Mount> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  return assemble<Mount>(
    {
      volume: r.required('volume', acName),
      path: r.required('path', nonEmptyStr),
      appVolume: r.optional('appVolume', volume),
    },
    r,
  );
};

const runtimeApp: Parse<RuntimeApp> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  return assemble<RuntimeApp>(
    {
      name: r.required('name', acName),
      image: r.required('image', runtimeImage),
      app: r.optional('app', app),
      readOnlyRootFS: r.optional('readOnlyRootFS', bool),
      mounts: r.optional('mounts', array(mount)),
      annotations: r.optional('annotations', annotations),
    },
    r,
  );
};

const exposedPort: Parse<ExposedPort> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  return assemble<ExposedPort>(
    {
      name: r.required('name', acName),
      hostPort: r.required('hostPort', int(1, 65535)),
      hostIP: r.optional(
        'hostIP',
        matching(isIPv4Address, (s) => `must be an IPv4 address in dotted-quad notation, got ${JSON.stringify(s)}`),
      ),
      podPort: r.optional('podPort', port),
    },
    r,
  );
};

function check(c: Checker, v: unknown): PodManifest | undefined {
  const r = reader(c, v, '');
  if (!r) return undefined;
  const m = assemble<PodManifest>(
    {
      acKind: r.required('acKind', acKind('PodManifest')),
      acVersion: r.required('acVersion', acVersion),
      apps: r.required('apps', array(runtimeApp)),
      volumes: r.optional('volumes', volumes),
      isolators: r.optional('isolators', checkIsolators),
      annotations: r.optional('annotations', annotations),
      ports: r.optional('ports', array(exposedPort)),
      userAnnotations: r.optional('userAnnotations', stringMap),
      userLabels: r.optional('userLabels', stringMap),
    },
    r,
  );
  checkUnique(c, m.apps, 'apps', 'name', (a) => a.name, 'app');
  checkUnique(c, m.ports, 'ports', 'name', (p) => p.name, 'exposed port');
  // a mount names a pod volume unless it brings its own appVolume
  const volumeNames = new Set((m.volumes ?? []).map((x) => x.name));
  m.apps?.forEach((a, i) =>
    a.mounts?.forEach((mt, j) => {
      if (mt.appVolume === undefined && mt.volume !== undefined && !volumeNames.has(mt.volume)) {
        c.add(sub(sub(sub(sub('apps', i), 'mounts'), j), 'volume'), `no volume named ${JSON.stringify(mt.volume)} in the pod`);
      }
    }),
  );
  return m;
}

/** Every problem of a pod manifest given as a JSON value, in document order; empty when valid. */
export function validatePodManifest(obj: unknown): ValidationIssue[] {
  const c = new Checker();
  check(c, obj);
  return c.issues;
}

/**
 * Parses and validates a pod manifest from JSON text, UTF-8 bytes or a decoded value: unique
 * app, volume and exposed port names, mounts that name an existing volume, valid isolators.
 * `null` fields (as Go writes empty lists) are dropped; unknown fields are kept.
 *
 * Throws `schema.json` for malformed JSON and `schema.invalid` (kind `user`) naming the first
 * problem (`invalid pod manifest: apps[1].name: duplicate app "web"`), all of them in
 * `details.issues`.
 */
export function parsePodManifest(input: unknown, opts: ParseOptions = {}): PodManifest {
  const value = decodeJson(input, WHAT, opts.source);
  const c = new Checker();
  const m = check(c, value);
  assertNoIssues(c, WHAT, opts.source);
  return m as PodManifest;
}

/** The JSON text of a pod manifest after validating it; keys in spec order. */
export function serializePodManifest(m: PodManifest, opts: { indent?: number } = {}): string {
  return JSON.stringify(parsePodManifest(m), null, opts.indent);
}
