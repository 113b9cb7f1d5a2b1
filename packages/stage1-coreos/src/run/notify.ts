/**
 * sd_notify propagation: when `rkt run` was started with `NOTIFY_SOCKET` (a systemd unit of
 * `Type=notify`), the pod tells the host's socket when it is ready, and apps whose image declares
 * `appc.io/executor/supports-systemd-notify: true` get a socket of the pod's own to tell it.
 *
 * run only decides and writes: the host's address and the pod-side address go into the init spec
 * (`notify`, `notify-pod`, app `notify 1`), the pod-side address into each notifying app's
 * environment and into `rkt/notify-socket` (for apps added to a mutable pod later). The init's
 * parent, which stays on the host side, owns both sockets (src/init/init.c, "sd_notify").
 */
import type { EnvEntry } from '@rktnetes/common';
import { type Annotation, getAnnotation } from '@rktnetes/schema';

/** The appc image annotation an app declares sd_notify support with (appc spec, aci.md). */
export const ANNOTATION_SUPPORTS_SYSTEMD_NOTIFY = 'appc.io/executor/supports-systemd-notify';
/** The variable systemd (and sd_notify) use for the notification socket's address. */
export const ENV_NOTIFY_SOCKET = 'NOTIFY_SOCKET';
/** Where run records the pod-side address for app/add (relative to the stage1 root; absent: none). */
export const NOTIFY_ADDRESS_PATH = 'rkt/notify-socket';

/** Longest address: `sun_path` is 108 bytes, a path needs its NUL, an abstract name its leading NUL. */
const MAX_ADDRESS = 107;

/**
 * The host's notification socket from run's environment: a path (`/run/systemd/notify`) or an
 * abstract address (`@name`). Undefined when unset or empty; a value that is neither, or too
 * long for a unix socket address, is reported through `warn` and ignored (sd_notify ignores it
 * too).
 */
export function hostNotifySocket(env: NodeJS.ProcessEnv, warn: (message: string) => void): string | undefined {
  const v = env[ENV_NOTIFY_SOCKET];
  if (v === undefined || v === '') return undefined;
  if (!/^[/@]/.test(v) || Buffer.byteLength(v) > MAX_ADDRESS || v.includes('\0') || v === '@') {
    warn(`${ENV_NOTIFY_SOCKET} ${JSON.stringify(v)} is not a unix socket path or @abstract address, the pod will not notify it`);
    return undefined;
  }
  return v;
}

/**
 * The pod-side address apps send to: an abstract unix address in the pod's network namespace,
 * named after the pod so that it is unique in the host's namespace too (`--net=host`).
 */
export function podNotifyAddress(uuid: string): string {
  return `@rktnetes-notify-${uuid}`;
}

/** A string boolean as rkt read it (Go's strconv.ParseBool): true for 1, t, T, TRUE, true, True. */
function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v);
}

/**
 * Whether an app supports sd_notify: the runtime app's annotation (pod manifest) when it has
 * one, else the image's (rkt read only the image's).
 */
export function supportsSystemdNotify(imageAnnotations: readonly Annotation[] | undefined, appAnnotations?: readonly Annotation[]): boolean {
  const own = getAnnotation(appAnnotations, ANNOTATION_SUPPORTS_SYSTEMD_NOTIFY);
  return isTrue(own ?? getAnnotation(imageAnnotations, ANNOTATION_SUPPORTS_SYSTEMD_NOTIFY));
}

/** Sets `NOTIFY_SOCKET` in a composed app environment (replacing the app's own, appended otherwise). */
export function setNotifySocket(env: EnvEntry[], address: string): void {
  const i = env.findIndex(([n]) => n === ENV_NOTIFY_SOCKET);
  if (i >= 0) env[i] = [ENV_NOTIFY_SOCKET, address];
  else env.push([ENV_NOTIFY_SOCKET, address]);
}
