/**
 * Predicates for the appc primitive types (spec/types.md) and the small string formats the
 * manifests use: AC identifiers and names, kinds, semantic versions, image IDs, environment
 * variable names, paths, timestamps, URLs and the well-known os/arch label values.
 */
import { isIPv4 } from './ip';

/** The appc spec version this package implements and writes by default. */
export const APPC_VERSION = '0.8.11';

/** The AC kinds the spec defines. */
export const AC_KINDS = ['ImageManifest', 'PodManifest'] as const;
export type ACKind = (typeof AC_KINDS)[number];

// The spec states regexes that forbid repeated separators, yet its own example
// `example.com/~user/app_v1` has one; the appc Go schema (and so rkt) only checks the character
// set and the two ends, and so does this package.
const AC_IDENTIFIER = /^[a-z0-9]([a-z0-9\-._~/]*[a-z0-9])?$/;
const AC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/**
 * Whether `s` is an AC Identifier: lowercase URI unreserved characters (`a-z 0-9 - . _ ~ /`),
 * non-empty, starting and ending with an alphanumeric (`example.com/~user/app_v1`). Used for image names, label and annotation names, isolator names.
 */
export function isACIdentifier(s: unknown): s is string {
  return typeof s === 'string' && AC_IDENTIFIER.test(s);
}

/**
 * Whether `s` is an AC Name: lowercase DNS characters plus `-`, non-empty, alphanumeric at
 * both ends (`product-database`). Used for app, volume, mount point and port names.
 */
export function isACName(s: unknown): s is string {
  return typeof s === 'string' && AC_NAME.test(s);
}

/** Whether `s` is one of the AC kinds the spec defines. */
export function isACKind(s: unknown): s is ACKind {
  return typeof s === 'string' && (AC_KINDS as readonly string[]).includes(s);
}

/** Why `s` is not an AC Identifier, or undefined when it is one. */
export function acIdentifierProblem(s: string): string | undefined {
  if (s === '') return 'must not be empty';
  if (/[^a-z0-9\-._~/]/.test(s)) return 'must contain only lowercase alphanumerics and "-._~/"';
  if (!AC_IDENTIFIER.test(s)) return 'must start and end with a lowercase alphanumeric';
  return undefined;
}

/** Why `s` is not an AC Name, or undefined when it is one. */
export function acNameProblem(s: string): string | undefined {
  if (s === '') return 'must not be empty';
  if (/[^a-z0-9-]/.test(s)) return 'must contain only lowercase alphanumerics and "-"';
  if (!AC_NAME.test(s)) return 'must start and end with a lowercase alphanumeric';
  return undefined;
}

// ---- semantic versions ----------------------------------------------------------------------

/** A parsed SemVer 2.0.0 version. */
export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  prerelease: string[];
  build: string[];
}

const NUM = '0|[1-9]\\d*';
const PRE_ID = `(?:${NUM}|\\d*[A-Za-z-][0-9A-Za-z-]*)`;
const SEMVER = new RegExp(
  `^(${NUM})\\.(${NUM})\\.(${NUM})(?:-(${PRE_ID}(?:\\.${PRE_ID})*))?(?:\\+([0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*))?$`,
);

/** Parses a SemVer 2.0.0 string (`0.8.11`, `1.0.0-rc.1+git`), or returns undefined. */
export function parseSemVer(s: string): SemVer | undefined {
  const m = SEMVER.exec(s);
  if (!m) return undefined;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (![major, minor, patch].every(Number.isSafeInteger)) return undefined;
  return { major, minor, patch, prerelease: m[4] ? m[4].split('.') : [], build: m[5] ? m[5].split('.') : [] };
}

/**
 * Whether `s` is a valid AC Version: SemVer 2.0.0 and not `0.0.0` (the spec's zero version
 * is rejected, as the appc Go schema does).
 */
export function isACVersion(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const v = parseSemVer(s);
  return v !== undefined && !(v.major === 0 && v.minor === 0 && v.patch === 0 && v.prerelease.length === 0);
}

/** Orders two versions by SemVer precedence (build metadata ignored): negative, 0 or positive. */
export function compareSemVer(a: SemVer, b: SemVer): number {
  for (const k of ['major', 'minor', 'patch'] as const) if (a[k] !== b[k]) return a[k] - b[k];
  if (a.prerelease.length === 0 || b.prerelease.length === 0) return b.prerelease.length - a.prerelease.length;
  for (let i = 0; i < Math.max(a.prerelease.length, b.prerelease.length); i++) {
    const x = a.prerelease[i];
    const y = b.prerelease[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) return Number(x) - Number(y);
    if (xn !== yn) return xn ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

// ---- image IDs --------------------------------------------------------------------------------

/** The only hash algorithm appc allows in image IDs. */
export const IMAGE_ID_ALGORITHM = 'sha512';
const SHA512_HEX = 128;
/** Hex digits of the store key form rkt writes into pod manifests (half a sha512). */
export const IMAGE_KEY_HEX = 64;
/** Hex digits shown by the short display form. */
export const SHORT_IMAGE_ID_HEX = 32;
/** Fewest hex digits a lookup prefix may have (`sha512-aa`). */
export const MIN_IMAGE_ID_PREFIX_HEX = 2;

const IMAGE_ID = /^sha512-(?:[0-9a-f]{64}|[0-9a-f]{128})$/;
const IMAGE_ID_PREFIX = /^sha512-[0-9a-f]{2,128}$/;

/**
 * Whether `s` is an Image ID as found in manifests: `sha512-` followed by the full 128-digit
 * lowercase hex digest or by its first 64 digits (the key rkt's store uses and writes into pod
 * manifests).
 */
export function isImageID(s: unknown): s is string {
  return typeof s === 'string' && IMAGE_ID.test(s);
}

/** Whether `s` can identify an image by prefix on the command line (`sha512-` and 2-128 hex digits). */
export function isImageIDPrefix(s: unknown): s is string {
  return typeof s === 'string' && IMAGE_ID_PREFIX.test(s);
}

/** An image ID split into its algorithm and hex digest. */
export interface Hash {
  algorithm: 'sha512';
  hex: string;
}

/** Splits an image ID (or prefix) into algorithm and hex, or returns undefined when it is neither. */
export function parseHash(s: string): Hash | undefined {
  if (!IMAGE_ID_PREFIX.test(s)) return undefined;
  return { algorithm: 'sha512', hex: s.slice('sha512-'.length) };
}

/** The store key form of an image ID: `sha512-` and the first 64 hex digits. */
export function imageKey(id: string): string {
  return id.slice(0, 'sha512-'.length + IMAGE_KEY_HEX);
}

/** The display form of an image ID: `sha512-` and the first 32 hex digits. */
export function shortImageID(id: string): string {
  return id.slice(0, 'sha512-'.length + SHORT_IMAGE_ID_HEX);
}

/** The image ID (full form) of a sha512 digest given as hex. */
export function imageIDFromDigest(hex: string): string {
  if (!/^[0-9a-f]+$/.test(hex) || hex.length !== SHA512_HEX) throw new TypeError(`not a sha512 hex digest: ${hex}`);
  return `sha512-${hex}`;
}

// ---- other string formats ---------------------------------------------------------------------

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/**
 * Whether `s` is a valid environment variable name: letters, digits and `_` (POSIX), plus
 * `.` and `-`, not starting with a digit.
 */
export function isEnvName(s: unknown): s is string {
  return typeof s === 'string' && ENV_NAME.test(s);
}

/** Whether `s` is an absolute path (starts with `/`). */
export function isAbsolutePath(s: unknown): s is string {
  return typeof s === 'string' && s.startsWith('/');
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Whether `s` is an RFC 3339 date-time with the `T` separator (the appc timestamp type). */
export function isTimestamp(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const m = RFC3339.exec(s);
  if (!m) return false;
  const [mo, d, h, mi, se] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && se <= 60;
}

/** Whether `s` is an absolute http or https URL (the `homepage` and `documentation` annotations). */
export function isHttpURL(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Whether `s` is an IPv4 address in dotted-quad notation. */
export function isIPv4Address(s: unknown): s is string {
  return typeof s === 'string' && isIPv4(s);
}

// ---- os / arch labels ---------------------------------------------------------------------------

/**
 * The os/arch label combinations appc accepts by default (`types.ValidOSArch` of the appc
 * schema): an `arch` label is checked only when `os` is present.
 */
export const VALID_OS_ARCH: Readonly<Record<string, readonly string[]>> = {
  linux: ['amd64', 'i386', 'aarch64', 'aarch64_be', 'armv6l', 'armv7l', 'armv7b', 'ppc64', 'ppc64le', 's390x'],
  freebsd: ['amd64', 'i386', 'arm'],
  darwin: ['x86_64', 'i386'],
};

/** Why an os/arch pair is not allowed, or undefined when it is (either may be absent). */
export function osArchProblem(os: string | undefined, arch: string | undefined): string | undefined {
  if (os === undefined) return undefined;
  const archs = VALID_OS_ARCH[os];
  if (!archs) return `bad os ${JSON.stringify(os)} (must be one of: ${Object.keys(VALID_OS_ARCH).sort().join(', ')})`;
  if (arch !== undefined && !archs.includes(arch)) {
    return `bad arch ${JSON.stringify(arch)} for ${os} (must be one of: ${archs.join(', ')})`;
  }
  return undefined;
}

/**
 * The appc `arch` label for a Node.js `process.arch` value (`x64` -> `amd64`, `arm64` ->
 * `aarch64`), or undefined when appc has no name for it.
 */
export function appcArch(nodeArch: string = process.arch): string | undefined {
  const table: Record<string, string> = {
    x64: 'amd64',
    ia32: 'i386',
    arm64: 'aarch64',
    arm: 'armv7l',
    ppc64: 'ppc64le',
    s390x: 's390x',
  };
  return table[nodeArch];
}

/** The appc `os` label for a Node.js `process.platform` value (`linux`, `freebsd`, `darwin`). */
export function appcOS(platform: string = process.platform): string | undefined {
  return ['linux', 'freebsd', 'darwin'].includes(platform) ? platform : undefined;
}
