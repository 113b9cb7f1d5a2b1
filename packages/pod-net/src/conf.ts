/**
 * Network definitions: the CNI `.conf` files of `net.d/` directories, layered as rkt does (the
 * stage1 image's built-in networks, overridden by the configuration directories), and the
 * selection `--net` makes among them.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { userError } from '@rktnetes/errors';
import { type CniNetConf, parseCniNetConf } from '@rktnetes/schema';
import type { NetEntry } from '@rktnetes/stage1-abi';

/** The subdirectory of a configuration directory that holds network configurations. */
export const NET_D = 'net.d';
/** Where the stage1 image keeps its built-in networks, relative to its root (rkt's path). */
export const BUILTIN_NET_DIR = 'etc/rkt/net.d';
/** The default system configuration directory (stage0's `--system-config` default). */
export const DEFAULT_SYSTEM_CONFIG = '/usr/lib/rkt';
/** The default local configuration directory (stage1's `--local-config` default). */
export const DEFAULT_LOCAL_CONFIG = '/etc/rkt';

/** One network configuration file. */
export interface NetDefinition {
  /** the network name (`name` in the file) */
  name: string;
  /** the plugin (`type` in the file) */
  type: string;
  /** absolute path of the file */
  file: string;
  /** the file's bytes, passed to the plugin as they are */
  bytes: Buffer;
  conf: CniNetConf;
  /** `ipMasq`: decides which network forwarded ports use */
  ipMasq: boolean;
}

/** A network the pod joins, with its `--net` arguments (CNI_ARGS). */
export interface SelectedNet {
  def: NetDefinition;
  /** `K=V;K2=V2`, or empty */
  args: string;
}

/** Where {@link netConfDirs} looks. */
export interface NetConfDirsOptions {
  stage1Root: string;
  systemConfig?: string;
  localConfig?: string;
}

/**
 * The `net.d` directories, lowest priority first: the stage1 image's built-ins
 * (`<stage1>/etc/rkt/net.d`), `<system config>/net.d`, `<local config>/net.d` (rkt reads the
 * first and the last; the system directory is the vendor's layer in between).
 */
export function netConfDirs(o: NetConfDirsOptions): string[] {
  return [join(o.stage1Root, BUILTIN_NET_DIR), join(o.systemConfig ?? DEFAULT_SYSTEM_CONFIG, NET_D), join(o.localConfig ?? DEFAULT_LOCAL_CONFIG, NET_D)];
}

function confFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw userError('stage1.net.conf-dir', `cannot read network configuration directory ${dir}`, { cause: e });
  }
  return names
    .filter((n) => n.endsWith('.conf'))
    .sort()
    .map((n) => join(dir, n))
    .filter((p) => {
      try {
        return !statSync(p).isDirectory();
      } catch {
        return false;
      }
    });
}

/**
 * Reads one network configuration file. Errors (user): `stage1.net.conf-invalid` naming the file
 * when it is unreadable or not a valid CNI network configuration.
 */
export function readNetDefinition(file: string): NetDefinition {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw userError('stage1.net.conf-invalid', `cannot read network configuration ${file}`, { cause: e });
  }
  let conf: CniNetConf;
  try {
    conf = parseCniNetConf(bytes.toString('utf8'));
  } catch (e) {
    throw userError('stage1.net.conf-invalid', `invalid network configuration ${file}`, { cause: e });
  }
  return { name: conf.name, type: conf.type, file, bytes, conf, ipMasq: conf.ipMasq === true };
}

/** Logging hooks of {@link loadNetDefinitions}. */
export interface LoadLog {
  warn(message: string): void;
  debug(message: string): void;
}

/**
 * Every network defined in `dirs` (lowest priority first, see {@link netConfDirs}), by name. In
 * one directory the files are read in name order and the first definition of a name wins (the
 * others are reported); a later directory overrides an earlier one. Only `*.conf` files count.
 * Errors: those of {@link readNetDefinition} — a broken file fails the pod, as in rkt.
 */
export function loadNetDefinitions(dirs: readonly string[], log: LoadLog): Map<string, NetDefinition> {
  const all = new Map<string, NetDefinition>();
  for (const dir of dirs) {
    const here = new Map<string, NetDefinition>();
    for (const file of confFiles(dir)) {
      const def = readNetDefinition(file);
      if (here.has(def.name)) {
        log.warn(`network ${JSON.stringify(def.name)} is already defined in ${here.get(def.name)!.file}, ignoring ${file}`);
        continue;
      }
      here.set(def.name, def);
    }
    for (const [name, def] of here) {
      if (all.has(name)) log.debug(`network ${JSON.stringify(name)} of ${all.get(name)!.file} is overridden by ${def.file}`);
      all.set(name, def);
    }
  }
  return all;
}

/**
 * The networks `--net` asks for, in the order the pod joins them: sorted by file name (rkt), so
 * the interfaces are `eth0`, `eth1`... in that order. `all` selects every defined network (the
 * built-in ones included); other names select themselves, and since rkt 1.28 the default
 * networks are not added to a list of custom ones. Errors (user): `stage1.net.not-found` listing
 * every requested name that no file defines.
 */
export function selectNetworks(requested: readonly NetEntry[], defs: ReadonlyMap<string, NetDefinition>): SelectedNet[] {
  const all = requested.some((n) => n.name === 'all');
  const args = new Map(requested.map((n) => [n.name, n.args ?? '']));
  const missing = requested.filter((n) => n.name !== 'all' && !defs.has(n.name)).map((n) => n.name);
  if (missing.length > 0) {
    throw userError('stage1.net.not-found', `networks not found: ${missing.join(', ')}`, { details: { missing } });
  }
  return [...defs.values()]
    .filter((d) => all || args.has(d.name))
    .sort((a, b) => (basename(a.file) < basename(b.file) ? -1 : basename(a.file) > basename(b.file) ? 1 : 0))
    .map((def) => ({ def, args: args.get(def.name) ?? '' }));
}
