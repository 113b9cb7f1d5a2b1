/**
 * The appc schema types (spec v0.8.11: spec/aci.md, spec/pods.md, spec/types.md) as they
 * appear in JSON. Values of these types come out of the validating parsers of this package;
 * parsed objects also keep any unknown fields of the input (appc readers must tolerate them),
 * which the serializers write back after the known ones.
 */

/** An AC Identifier (`example.com/reduce-worker`); see `isACIdentifier`. */
export type ACIdentifier = string;
/** An AC Name (`reduce-worker`); see `isACName`. */
export type ACName = string;
/** A SemVer 2.0.0 version string (`0.8.11`). */
export type ACVersion = string;
/** `sha512-` and a lowercase hex digest (64 or 128 digits); see `isImageID`. */
export type ImageID = string;

/** A label: `name` is an AC Identifier, never `name`; `os`, `arch` and `version` are well-known. */
export interface Label {
  name: ACIdentifier;
  value: string;
}

/** An annotation: `name` is an AC Identifier, unique in its list. */
export interface Annotation {
  name: ACIdentifier;
  value: string;
}

/** An environment variable of an app. */
export interface EnvironmentVariable {
  /** letters, digits, `_`, `.` and `-`; not starting with a digit */
  name: string;
  value: string;
}

/**
 * An isolator as found in a manifest: an AC Identifier name and an arbitrary JSON value. Known
 * isolators are checked when a manifest is parsed; `parseIsolator` gives their typed form.
 */
export interface Isolator {
  name: ACIdentifier;
  value: unknown;
}

/** The lifecycle events an app may hook. */
export type EventName = 'pre-start' | 'post-stop';

/** A command run on an app lifecycle event; at most one per name. */
export interface EventHandler {
  name: EventName;
  exec: string[];
}

/** Where an app expects external data to be mounted. */
export interface MountPoint {
  name: ACName;
  path: string;
  /** defaults to false */
  readOnly?: boolean;
}

/** A port (or range of ports) an app listens on inside the pod. */
export interface Port {
  name: ACName;
  /** usually `tcp` or `udp`; the spec allows any non-empty value */
  protocol: string;
  /** 1-65535 */
  port: number;
  /** size of the range starting at `port`; defaults to 1 */
  count?: number;
  /** defaults to false */
  socketActivated?: boolean;
}

/** How an image is executed. */
export interface App {
  /** command and arguments; a first element without `/` is looked up in the app's PATH */
  exec?: string[];
  /** user name, numeric uid, or an absolute path whose owner is used */
  user: string;
  /** group name, numeric gid, or an absolute path whose group is used */
  group: string;
  supplementaryGIDs?: number[];
  eventHandlers?: EventHandler[];
  /** absolute; defaults to `/` */
  workingDirectory?: string;
  environment?: EnvironmentVariable[];
  isolators?: Isolator[];
  mountPoints?: MountPoint[];
  ports?: Port[];
  userAnnotations?: Record<string, string>;
  userLabels?: Record<string, string>;
}

/** An image whose files are laid down before this image's (order matters). */
export interface Dependency {
  imageName: ACIdentifier;
  imageID?: ImageID;
  labels?: Label[];
  /** expected size in bytes */
  size?: number;
}

/** The `manifest` file at the root of an ACI. */
export interface ImageManifest {
  acKind: 'ImageManifest';
  acVersion: ACVersion;
  name: ACIdentifier;
  labels?: Label[];
  app?: App;
  dependencies?: Dependency[];
  /** absolute paths; empty means no whitelist */
  pathWhitelist?: string[];
  annotations?: Annotation[];
}

/** The kinds of volume a pod may declare. */
export type VolumeKind = 'host' | 'empty';

/** A volume of a pod (or an app's `appVolume`). */
export interface Volume {
  name: ACName;
  kind: VolumeKind;
  /** `host` only: absolute path on the host, required */
  source?: string;
  /** defaults to false */
  readOnly?: boolean;
  /** `host` only: defaults to recursive */
  recursive?: boolean;
  /** `empty` only: octal permission string, defaults to `0755` */
  mode?: string;
  /** `empty` only: owner, defaults to 0 */
  uid?: number;
  /** `empty` only: group, defaults to 0 */
  gid?: number;
}

/** Maps a volume onto a path in an app. */
export interface Mount {
  /** name of a pod volume, unless `appVolume` is given */
  volume: ACName;
  path: string;
  appVolume?: Volume;
}

/** The image an app of a pod runs. */
export interface RuntimeImage {
  name?: ACIdentifier;
  id: ImageID;
  labels?: Label[];
}

/** An app of a pod. */
export interface RuntimeApp {
  /** unique within the pod */
  name: ACName;
  image: RuntimeImage;
  /** replaces the image manifest's app */
  app?: App;
  /** defaults to false */
  readOnlyRootFS?: boolean;
  mounts?: Mount[];
  annotations?: Annotation[];
}

/** A port forwarded from the host into the pod. */
export interface ExposedPort {
  /** the name of a port of an app (or of `podPort`) */
  name: ACName;
  hostPort: number;
  /** IPv4 dotted quad; all addresses when absent */
  hostIP?: string;
  /** overrides the app port of the same name */
  podPort?: Port;
}

/** The manifest of a pod (`pod` in rkt's pod directory). */
export interface PodManifest {
  acKind: 'PodManifest';
  acVersion: ACVersion;
  apps: RuntimeApp[];
  volumes?: Volume[];
  isolators?: Isolator[];
  annotations?: Annotation[];
  ports?: ExposedPort[];
  userAnnotations?: Record<string, string>;
  userLabels?: Record<string, string>;
}

/** Defaults the spec gives to an `empty` volume's unset fields. */
export const EMPTY_VOLUME_DEFAULTS = { mode: '0755', uid: 0, gid: 0 } as const;
