/**
 * The keystore of trusted image signing keys, laid out like rkt's:
 *
 *     <config>/trustedkeys/root.d/<fingerprint>                 trusted for every image
 *     <config>/trustedkeys/prefix.d/<prefix>/<fingerprint>      trusted for names under <prefix>
 *
 * in both the system and the local configuration directory. A key file holds an armored public
 * key and is named by the lowercase hex fingerprint of its primary key. The local directory
 * wins: an empty file there masks the system key of that fingerprint. `rkt trust` writes to the
 * local directory only.
 */
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { systemError, userError } from '@rktnetes/errors';
import { isACIdentifier } from '@rktnetes/schema';
import { readPublicKeys, type KeyInfo } from './pgp';

/** A trusted key and where it was found. */
export interface TrustedKey {
  fingerprint: string;
  /** the key file */
  path: string;
  /** the prefix it is trusted for; undefined for a root key */
  prefix: string | undefined;
  armored: string;
}

/** The configuration directories a keystore lives in. */
export interface KeystoreDirs {
  systemConfig: string;
  localConfig: string;
}

const FINGERPRINT = /^[0-9a-f]{40}$|^[0-9a-f]{64}$/;

/**
 * Checks a trust prefix: an AC identifier (`example.com/app`), without URL scheme.
 *
 * @throws RktError `trust.invalid-prefix` (usage)
 */
export function checkPrefix(prefix: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(prefix);
  if (m) throw userError('trust.invalid-prefix', `prefix "${prefix}" must not contain a URL scheme, omit ${m[1]}://`);
  const p = prefix.replace(/\/+$/, '');
  if (!isACIdentifier(p)) {
    throw userError('trust.invalid-prefix', `prefix "${prefix}" is not a valid image name prefix (lowercase letters, digits and "-._~/")`);
  }
  return p;
}

/** The prefixes a name is covered by, shortest first: `a.com/b/c` -> `a.com`, `a.com/b`, `a.com/b/c`. */
export function namePrefixes(name: string): string[] {
  const parts = name.split('/');
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

export class Keystore {
  readonly localRoot: string;
  readonly localPrefix: string;
  readonly systemRoot: string;
  readonly systemPrefix: string;

  constructor(dirs: KeystoreDirs) {
    this.localRoot = join(dirs.localConfig, 'trustedkeys', 'root.d');
    this.localPrefix = join(dirs.localConfig, 'trustedkeys', 'prefix.d');
    this.systemRoot = join(dirs.systemConfig, 'trustedkeys', 'root.d');
    this.systemPrefix = join(dirs.systemConfig, 'trustedkeys', 'prefix.d');
  }

  /**
   * The keys trusted for image `name`: root keys and the keys of every prefix of `name` (whole
   * path components), system first, then local; an empty local file masks a key.
   *
   * @throws RktError `trust.keystore-invalid` for a key file that is not a key or whose name is not its fingerprint
   */
  async trustedKeysFor(name: string): Promise<TrustedKey[]> {
    const found = new Map<string, TrustedKey>();
    const prefixes = namePrefixes(name);
    const layers: Array<[string, string | undefined]> = [
      [this.systemRoot, undefined],
      [this.localRoot, undefined],
      ...prefixes.map((p): [string, string] => [join(this.systemPrefix, p), p]),
      ...prefixes.map((p): [string, string] => [join(this.localPrefix, p), p]),
    ];
    for (const [dir, prefix] of layers) {
      for (const file of keyFiles(dir)) {
        if (file.size === 0) {
          found.delete(file.name);
          continue;
        }
        found.set(file.name, { fingerprint: file.name, path: file.path, prefix, armored: await readKeyFile(file.path, file.name) });
      }
    }
    return [...found.values()];
  }

  /**
   * Every key in the keystore with the prefix it is trusted for (root keys have none); masked
   * keys are left out. Used to explain why a signer is not trusted for an image.
   */
  allTrustedKeys(): Array<Omit<TrustedKey, 'armored'>> {
    const out = new Map<string, Omit<TrustedKey, 'armored'>>();
    const visit = (dir: string, prefix: string | undefined, recurse: boolean) => {
      for (const f of keyFiles(dir)) {
        const id = `${prefix ?? ''}\0${f.name}`;
        if (f.size === 0) out.delete(id);
        else out.set(id, { fingerprint: f.name, path: f.path, prefix });
      }
      if (!recurse) return;
      for (const sub of subdirs(dir)) visit(join(dir, sub), prefix ? `${prefix}/${sub}` : sub, true);
    };
    visit(this.systemRoot, undefined, false);
    visit(this.localRoot, undefined, false);
    for (const sub of subdirs(this.systemPrefix)) visit(join(this.systemPrefix, sub), sub, true);
    for (const sub of subdirs(this.localPrefix)) visit(join(this.localPrefix, sub), sub, true);
    return [...out.values()];
  }

  /**
   * Whether a key is trusted for `prefix` or one of its parents (root keys do not count):
   * a non-empty key file that no empty local file masks.
   */
  hasKeysForPrefix(prefix: string): boolean {
    const chain = namePrefixes(prefix);
    const masked = new Set(chain.flatMap((p) => keyFiles(join(this.localPrefix, p)).filter((f) => f.size === 0).map((f) => f.name)));
    return chain.some((p) =>
      [this.localPrefix, this.systemPrefix].some((base) => keyFiles(join(base, p)).some((f) => f.size > 0 && !masked.has(f.name))),
    );
  }

  /** The file a key of `fingerprint` is stored in for `prefix` (root key when undefined). */
  keyPath(prefix: string | undefined, fingerprint: string): string {
    return prefix === undefined ? join(this.localRoot, fingerprint) : join(this.localPrefix, prefix, fingerprint);
  }

  /**
   * Stores `key` in the local keystore, trusted for `prefix` (or every image when undefined),
   * atomically, mode 0644 in 0755 directories. Returns the path written.
   *
   * @throws RktError `trust.invalid-prefix`, `trust.keystore-io`
   */
  storeTrustedKey(prefix: string | undefined, key: KeyInfo): string {
    const p = prefix === undefined ? undefined : checkPrefix(prefix);
    const dest = this.keyPath(p, key.fingerprint);
    const dir = p === undefined ? this.localRoot : join(this.localPrefix, p);
    const tmp = join(dir, `.${key.fingerprint}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      chmodSync(dir, 0o755);
      const fd = openSync(tmp, 'wx', 0o644);
      try {
        writeSync(fd, key.armored.endsWith('\n') ? key.armored : `${key.armored}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      chmodSync(tmp, 0o644);
      renameSync(tmp, dest);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        // nothing to clean up
      }
      throw systemError('trust.keystore-io', `cannot write trusted key ${dest}`, { cause: e });
    }
    return dest;
  }
}

interface KeyFile {
  name: string;
  path: string;
  size: number;
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw systemError('trust.keystore-io', `cannot read keystore directory ${dir}`, { cause: e });
  }
}

/** The key files directly in `dir` (regular files named like fingerprints; temp files skipped). */
function keyFiles(dir: string): KeyFile[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw systemError('trust.keystore-io', `cannot read keystore directory ${dir}`, { cause: e });
  }
  const out: KeyFile[] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    let st;
    try {
      st = statSync(path);
    } catch {
      continue;
    }
    if (!st.isFile()) continue;
    out.push({ name, path, size: st.size });
  }
  return out;
}

async function readKeyFile(path: string, name: string): Promise<string> {
  if (!FINGERPRINT.test(name)) {
    throw userError('trust.keystore-invalid', `trusted key file ${path} is not named by a lowercase hex fingerprint`);
  }
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    throw systemError('trust.keystore-io', `cannot read trusted key ${path}`, { cause: e });
  }
  let keys: KeyInfo[];
  try {
    keys = await readPublicKeys(data, `trusted key file ${path}`);
  } catch (e) {
    throw userError('trust.keystore-invalid', `trusted key file ${path} is not an OpenPGP public key`, { cause: e });
  }
  const key = keys[0] as KeyInfo;
  if (key.fingerprint !== name) {
    throw userError('trust.keystore-invalid', `trusted key file ${path} holds key ${key.fingerprint}, not the one its name says`);
  }
  return key.armored;
}
