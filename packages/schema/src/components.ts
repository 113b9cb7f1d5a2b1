/**
 * Checkers for the pieces image and pod manifests share: labels, annotations, the app object
 * and what it contains, volumes and dependencies. Each takes a Checker, the raw JSON value and
 * its path, records issues there and returns the normalized value.
 */
import type {
  Annotation,
  App,
  Dependency,
  EnvironmentVariable,
  EventHandler,
  Label,
  MountPoint,
  Port,
  Volume,
} from './types';
import { checkIsolators } from './isolators';
import {
  acIdentifierProblem,
  acNameProblem,
  isAbsolutePath,
  isACVersion,
  isEnvName,
  isHttpURL,
  isImageID,
  isTimestamp,
  osArchProblem,
} from './names';
import {
  type Checker,
  type Parse,
  array,
  assemble,
  bool,
  checkUnique,
  int,
  matching,
  nonEmptyStr,
  reader,
  str,
  stringMap,
  sub,
} from './validate';

export const acIdentifier: Parse<string> = (c, v, path) => {
  const s = str(c, v, path);
  if (s === undefined) return undefined;
  const problem = acIdentifierProblem(s);
  if (problem) {
    c.add(path, s === '' ? problem : `${problem}, got ${JSON.stringify(s)}`);
    return undefined;
  }
  return s;
};

export const acName: Parse<string> = (c, v, path) => {
  const s = str(c, v, path);
  if (s === undefined) return undefined;
  const problem = acNameProblem(s);
  if (problem) {
    c.add(path, s === '' ? problem : `${problem}, got ${JSON.stringify(s)}`);
    return undefined;
  }
  return s;
};

export const acVersion = matching(isACVersion, (s) => `must be a semantic version like "0.8.11", got ${JSON.stringify(s)}`);

export const imageID = matching(
  isImageID,
  (s) => `must be an image ID ("sha512-" and 64 or 128 lowercase hex digits), got ${JSON.stringify(s)}`,
);

export const absolutePath = matching(isAbsolutePath, (s) => `must be an absolute path, got ${JSON.stringify(s)}`);

const UINT32_MAX = 4294967295;
const uint32 = int(0, UINT32_MAX);

/** An acKind field that must equal `kind`. */
export function acKind(kind: string): Parse<string> {
  return (c, v, path) => {
    const s = str(c, v, path);
    if (s === undefined) return undefined;
    if (s !== kind) {
      c.add(path, `must be ${JSON.stringify(kind)}, got ${JSON.stringify(s)}`);
      return undefined;
    }
    return s;
  };
}

// ---- labels and annotations -------------------------------------------------------------------

const label: Parse<Label> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  const name = r.required('name', acIdentifier);
  const value = r.required('value', str);
  if (name === 'name') c.add(sub(path, 'name'), '"name" is not allowed as a label name');
  return assemble<Label>({ name, value }, r);
};

/**
 * Labels: unique AC Identifier names other than `name`, and an `os`/`arch` pair appc accepts
 * (the issue is on the offending label's value).
 */
export const labels: Parse<Label[]> = (c, v, path) => {
  const list = array(label)(c, v, path);
  if (!list) return undefined;
  checkUnique(c, list, path, 'name', (l) => l.name, 'label');
  const os = list.findIndex((l) => l.name === 'os');
  const arch = list.findIndex((l) => l.name === 'arch');
  const problem = osArchProblem(list[os]?.value, list[arch]?.value);
  if (problem) {
    const bad = problem.startsWith('bad os') ? os : arch;
    c.add(sub(sub(path, bad), 'value'), problem);
  }
  return list;
};

const annotation: Parse<Annotation> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  const name = r.required('name', acIdentifier);
  const value = r.required('value', str);
  if (value !== undefined) {
    const vp = sub(path, 'value');
    if (name === 'created' && !isTimestamp(value)) c.add(vp, `"created" must be an RFC 3339 timestamp, got ${JSON.stringify(value)}`);
    if ((name === 'homepage' || name === 'documentation') && !isHttpURL(value)) {
      c.add(vp, `${JSON.stringify(name)} must be an http or https URL, got ${JSON.stringify(value)}`);
    }
  }
  return assemble<Annotation>({ name, value }, r);
};

/** Annotations: unique AC Identifier names; `created`, `homepage` and `documentation` values checked. */
export const annotations: Parse<Annotation[]> = (c, v, path) => {
  const list = array(annotation)(c, v, path);
  checkUnique(c, list, path, 'name', (a) => a.name, 'annotation');
  return list;
};

// ---- app ----------------------------------------------------------------------------------------

/** An exec list: strings, the first non-empty (a bare name is looked up in PATH, as exec(3)). */
export const exec: Parse<string[]> = (c, v, path) => {
  const list = array(str)(c, v, path);
  if (list && list.length > 0 && list[0] === '') {
    c.add(sub(path, 0), 'the executable must not be empty');
    return undefined;
  }
  return list;
};

const environmentVariable: Parse<EnvironmentVariable> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  const name = r.required(
    'name',
    matching(isEnvName, (s) => `bad environment variable name ${JSON.stringify(s)} (letters, digits, "_", "." and "-", not starting with a digit)`),
  );
  const value = r.required('value', str);
  return assemble<EnvironmentVariable>({ name, value }, r);
};

const environment: Parse<EnvironmentVariable[]> = (c, v, path) => {
  const list = array(environmentVariable)(c, v, path);
  checkUnique(c, list, path, 'name', (e) => e.name, 'environment variable');
  return list;
};

const eventName = matching(
  (s) => s === 'pre-start' || s === 'post-stop',
  (s) => `must be "pre-start" or "post-stop", got ${JSON.stringify(s)}`,
);

const eventHandler: Parse<EventHandler> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  const name = r.required('name', eventName) as EventHandler['name'] | undefined;
  const ex = r.required('exec', exec);
  return assemble<EventHandler>({ name, exec: ex }, r);
};

const eventHandlers: Parse<EventHandler[]> = (c, v, path) => {
  const list = array(eventHandler)(c, v, path);
  checkUnique(c, list, path, 'name', (e) => e.name, 'event handler');
  return list;
};

const mountPoint: Parse<MountPoint> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  const name = r.required('name', acName);
  const p = r.required('path', nonEmptyStr);
  const readOnly = r.optional('readOnly', bool);
  return assemble<MountPoint>({ name, path: p, readOnly }, r);
};

const mountPoints: Parse<MountPoint[]> = (c, v, path) => {
  const list = array(mountPoint)(c, v, path);
  checkUnique(c, list, path, 'name', (m) => m.name, 'mount point');
  return list;
};

/** A port: name, protocol, 1-65535 and a range (`count`) that stays within 65535. */
export const port: Parse<Port> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  const name = r.required('name', acName);
  const protocol = r.required('protocol', nonEmptyStr);
  const number = r.required('port', int(1, 65535));
  const count = r.optional('count', int(1, 65535));
  const socketActivated = r.optional('socketActivated', bool);
  if (number !== undefined && count !== undefined && number + count - 1 > 65535) {
    c.add(sub(path, 'count'), `port range ${number}-${number + count - 1} goes beyond 65535`);
  }
  return assemble<Port>({ name, protocol, port: number, count, socketActivated }, r);
};

const ports: Parse<Port[]> = (c, v, path) => {
  const list = array(port)(c, v, path);
  checkUnique(c, list, path, 'name', (p) => p.name, 'port');
  return list;
};

/**
 * The app object of an image manifest or a pod app: exec, user and group (required, freeform),
 * absolute workingDirectory, unique env and event handler names, isolators checked as a set.
 */
export const app: Parse<App> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  const out = {
    exec: r.optional('exec', exec),
    user: r.required('user', nonEmptyStr),
    group: r.required('group', nonEmptyStr),
    supplementaryGIDs: r.optional('supplementaryGIDs', array(uint32)),
    eventHandlers: r.optional('eventHandlers', eventHandlers),
    workingDirectory: r.optional('workingDirectory', (c2, x, p) => {
      const s = str(c2, x, p);
      if (s !== undefined && s !== '' && !isAbsolutePath(s)) {
        c2.add(p, `must be an absolute path, got ${JSON.stringify(s)}`);
        return undefined;
      }
      return s;
    }),
    environment: r.optional('environment', environment),
    isolators: r.optional('isolators', checkIsolators),
    mountPoints: r.optional('mountPoints', mountPoints),
    ports: r.optional('ports', ports),
    userAnnotations: r.optional('userAnnotations', stringMap),
    userLabels: r.optional('userLabels', stringMap),
  };
  return assemble<App>(out, r);
};

// ---- dependencies ---------------------------------------------------------------------------------

const dependency: Parse<Dependency> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  return assemble<Dependency>(
    {
      imageName: r.required('imageName', acIdentifier),
      imageID: r.optional('imageID', imageID),
      labels: r.optional('labels', labels),
      size: r.optional('size', int(0)),
    },
    r,
  );
};

export const dependencies: Parse<Dependency[]> = array(dependency);

// ---- volumes ------------------------------------------------------------------------------------

const volumeKind = matching(
  (s) => s === 'host' || s === 'empty',
  (s) => `must be "host" or "empty", got ${JSON.stringify(s)}`,
);

const octalMode = matching((s) => /^0?[0-7]{3,4}$/.test(s), (s) => `must be an octal mode like "0755", got ${JSON.stringify(s)}`);

/**
 * A volume: `host` needs an absolute `source` and takes no mode/uid/gid; `empty` takes no
 * source. Defaults (mode 0755, uid 0, gid 0) are not filled in: see EMPTY_VOLUME_DEFAULTS.
 */
export const volume: Parse<Volume> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  const name = r.required('name', acName);
  const kind = r.required('kind', volumeKind) as Volume['kind'] | undefined;
  const source = r.optional('source', str);
  const readOnly = r.optional('readOnly', bool);
  const recursive = r.optional('recursive', bool);
  const mode = r.optional('mode', octalMode);
  const uid = r.optional('uid', uint32);
  const gid = r.optional('gid', uint32);
  if (kind === 'host') {
    if (source === undefined || source === '') c.add(sub(path, 'source'), 'is required for a host volume');
    else if (!isAbsolutePath(source)) c.add(sub(path, 'source'), `must be an absolute path, got ${JSON.stringify(source)}`);
    for (const [k, x] of [['mode', mode], ['uid', uid], ['gid', gid]] as const) {
      if (x !== undefined) c.add(sub(path, k), 'is not allowed for a host volume');
    }
  } else if (kind === 'empty') {
    if (source !== undefined && source !== '') c.add(sub(path, 'source'), 'is not allowed for an empty volume');
  }
  return assemble<Volume>(
    { name, kind, source: source === '' ? undefined : source, readOnly, recursive, mode, uid, gid },
    r,
  );
};

export const volumes: Parse<Volume[]> = (c, v, path) => {
  const list = array(volume)(c, v, path);
  checkUnique(c, list, path, 'name', (x) => x.name, 'volume');
  return list;
};

