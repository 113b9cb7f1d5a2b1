/**
 * Parser for the output of the probe script ({@link PROBE_SCRIPT}) and capability helpers.
 */
import { userError } from '@rktnetes/errors';
import { CAP_LAST_CAP, capName, capNumber } from '@rktnetes/sys';

export { PROBE_SCRIPT } from './probe-script';

/**
 * Linux capability names by bit number, `CAPABILITIES[21] === 'CAP_SYS_ADMIN'`: the table of
 * `@rktnetes/sys` (`CAPABILITIES`, `capName`) as an array.
 */
export const CAPABILITIES: readonly string[] = Object.freeze(Array.from({ length: CAP_LAST_CAP + 1 }, (_, n) => capName(n) ?? `CAP_${n}`));

/**
 * The capability names set in a hex mask as printed in `/proc/<pid>/status` (e.g.
 * `00000000a80425fb`), in bit order. Bits without a known name come out as `CAP_<bit>`.
 *
 * @throws RktError `testkit.probe-invalid` when `hex` is not hexadecimal
 */
export function capsFromHex(hex: string): string[] {
  if (!/^[0-9a-fA-F]+$/.test(hex)) throw userError('testkit.probe-invalid', `capability mask ${JSON.stringify(hex)} is not hex`);
  let mask = BigInt(`0x${hex}`);
  const names: string[] = [];
  for (let bit = 0; mask > 0n; bit++, mask >>= 1n) {
    if (mask & 1n) names.push(capName(bit) ?? `CAP_${bit}`);
  }
  return names;
}

/**
 * The hex mask (16 digits, as in `/proc/<pid>/status`) of a list of capability names
 * (`CAP_NET_ADMIN`, `net_admin`, or `CAP_<bit>` for a bit without a name).
 *
 * @throws RktError `testkit.probe-invalid` for a name that is neither
 */
export function capsToHex(names: readonly string[]): string {
  let mask = 0n;
  for (const name of names) {
    const upper = name.toUpperCase();
    const n = capNumber(upper) ?? (/^CAP_\d+$/.test(upper) ? Number(upper.slice(4)) : undefined);
    if (n === undefined || n > 63) throw userError('testkit.probe-invalid', `unknown capability ${name}`);
    mask |= 1n << BigInt(n);
  }
  return mask.toString(16).padStart(16, '0');
}

/** One capability set: the raw hex mask and the names it holds. */
export interface CapSet {
  hex: string;
  names: string[];
}

/** A line of `/proc/self/mounts` as the probe reports it. */
export interface ProbeMount {
  /** the mount point, with `/proc/mounts` octal escapes (`\040`) decoded */
  target: string;
  fstype: string;
  options: string[];
}

/** A line of `/proc/self/cgroup`. */
export interface ProbeCgroup {
  hierarchy: number;
  /** empty for the cgroup v2 line; named hierarchies appear as `name=systemd` */
  controllers: string[];
  path: string;
}

/** What the probe saw, parsed by {@link parseProbeOutput}. */
export interface ProbeReport {
  pid: number;
  ppid: number;
  uid: number;
  euid: number;
  suid: number;
  fsuid: number;
  gid: number;
  egid: number;
  /** supplementary groups */
  groups: number[];
  caps: { inheritable: CapSet; permitted: CapSet; effective: CapSet; bounding: CapSet; ambient: CapSet };
  noNewPrivs: boolean;
  /** 0 disabled, 1 strict, 2 filter */
  seccomp: number;
  hostname: string;
  cwd: string;
  umask: string;
  /** namespace links by type, e.g. `{ net: 'net:[4026531833]' }` */
  namespaces: Record<string, string>;
  env: Record<string, string>;
  mounts: ProbeMount[];
  cgroups: ProbeCgroup[];
  /** result of `--write` */
  write?: 'ok' | 'error';
  /** the signal that ended `--sleep` */
  signal?: string;
  /** whether the report ran to its last line */
  complete: boolean;
  /** every line as key and values in order, including keys this parser does not know */
  raw: Record<string, string[]>;
}

const REQUIRED = ['pid', 'uid', 'gid', 'CapEff', 'hostname', 'cwd'] as const;

function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function unescapeEnv(s: string): string {
  return s.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
}

/**
 * Parses the probe's `key=value` lines. Text before the first probe line (for instance the
 * stage1's own output on the same stream) is ignored; only the first report is read when
 * `--write` printed it twice.
 *
 * @throws RktError `testkit.probe-invalid` when no report is found or a required key is missing
 */
export function parseProbeOutput(text: string): ProbeReport {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('probe.version='));
  if (start < 0) throw userError('testkit.probe-invalid', `no probe report in output: ${JSON.stringify(text.slice(0, 200))}`);
  const raw: Record<string, string[]> = {};
  const env: Record<string, string> = {};
  const namespaces: Record<string, string> = {};
  const mounts: ProbeMount[] = [];
  const cgroups: ProbeCgroup[] = [];
  let complete = false;
  let endSeen = false;
  for (const line of lines.slice(start)) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (endSeen && key !== 'write' && key !== 'signal') continue;
    if (key === 'probe.version' && key in raw) break;
    (raw[key] ??= []).push(value);
    if (key === 'probe.end') {
      complete = true;
      endSeen = true;
    } else if (key.startsWith('env.')) {
      env[key.slice(4)] = unescapeEnv(value);
    } else if (key.startsWith('ns.')) {
      namespaces[key.slice(3)] = value;
    } else if (key === 'mount') {
      const [target = '', fstype = '', opts = ''] = value.split(' ');
      mounts.push({ target: unescapeMountPath(target), fstype, options: opts ? opts.split(',') : [] });
    } else if (key === 'cgroup') {
      const m = /^(\d+):([^:]*):(.*)$/.exec(value);
      if (m) cgroups.push({ hierarchy: Number(m[1]), controllers: m[2] ? m[2].split(',') : [], path: m[3] ?? '' });
    }
  }
  for (const k of REQUIRED) {
    if (!raw[k]) throw userError('testkit.probe-invalid', `probe report lacks ${k}`, { details: { text } });
  }
  const str = (k: string, dflt = ''): string => raw[k]?.[0] ?? dflt;
  const num = (k: string): number => {
    const v = raw[k]?.[0];
    const n = v === undefined ? NaN : Number(v);
    if (!Number.isInteger(n)) throw userError('testkit.probe-invalid', `probe value ${k}=${v ?? ''} is not an integer`);
    return n;
  };
  const capSet = (k: string): CapSet => {
    const hex = str(k, '0');
    return { hex, names: capsFromHex(hex) };
  };
  const write = raw.write?.[0];
  const signal = raw.signal?.[0];
  return {
    pid: num('pid'),
    ppid: num('ppid'),
    uid: num('uid'),
    euid: num('euid'),
    suid: num('suid'),
    fsuid: num('fsuid'),
    gid: num('gid'),
    egid: num('egid'),
    groups: str('groups')
      .split(/\s+/)
      .filter(Boolean)
      .map(Number),
    caps: {
      inheritable: capSet('CapInh'),
      permitted: capSet('CapPrm'),
      effective: capSet('CapEff'),
      bounding: capSet('CapBnd'),
      ambient: capSet('CapAmb'),
    },
    noNewPrivs: str('NoNewPrivs', '0') === '1',
    seccomp: Number(str('Seccomp', '0')),
    hostname: str('hostname'),
    cwd: str('cwd'),
    umask: str('umask'),
    namespaces,
    env,
    mounts,
    cgroups,
    ...(write === 'ok' || write === 'error' ? { write } : {}),
    ...(signal === undefined ? {} : { signal }),
    complete,
    raw,
  };
}

/** The mount of `target` in a probe report (the last one, which hides earlier ones), if any. */
export function findMount(report: ProbeReport, target: string): ProbeMount | undefined {
  return report.mounts.filter((m) => m.target === target).at(-1);
}
