/**
 * CNI (Container Network Interface) documents: network configurations (single `.conf` and
 * `.conflist`), plugin results in the 1.0.0 and 0.3.x/0.4.0 shapes (0.1.0/0.2.0 results are
 * read and converted), version results and error results with the spec's error codes.
 *
 * Plugin-specific fields (a bridge plugin's `bridge`, `isGateway`, ...) are kept as they are;
 * only the ones every plugin shares, and the common bridge/IPAM ones, are checked.
 */
import { isIP, isIPv4, isIPv6 } from './ip';
import {
  Checker,
  type Parse,
  type ValidationIssue,
  array,
  assemble,
  assertNoIssues,
  bool,
  decodeJson,
  int,
  isObject,
  jsonType,
  matching,
  nonEmptyStr,
  reader,
  str,
  sub,
} from './validate';

/** The CNI spec versions whose documents this module reads. */
export const CNI_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;
export type CniVersion = (typeof CNI_VERSIONS)[number];
/** The newest CNI spec version this module knows. */
export const CNI_LATEST_VERSION: CniVersion = '1.0.0';

/** Whether `v` is one of {@link CNI_VERSIONS}. */
export function isSupportedCniVersion(v: unknown): v is CniVersion {
  return typeof v === 'string' && (CNI_VERSIONS as readonly string[]).includes(v);
}

/** The well-known CNI error codes (CNI spec "Error" section). */
export const CniErrorCodes = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidNetworkConfig: 7,
  tryAgainLater: 11,
} as const;

// ---- types --------------------------------------------------------------------------------------

/** A route: destination CIDR and optional gateway. */
export interface CniRoute {
  dst: string;
  gw?: string;
}

/** DNS settings for resolv.conf. */
export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** One address range of host-local IPAM (`ipam.ranges` is a list of range sets). */
export interface CniIpamRange {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
}

/** The `ipam` section: which IPAM plugin to run and its (partly well-known) settings. */
export interface CniIpam {
  type: string;
  subnet?: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
  routes?: CniRoute[];
  ranges?: CniIpamRange[][];
  dataDir?: string;
  [key: string]: unknown;
}

/** A network configuration as passed to one plugin on stdin. */
export interface CniNetConf {
  /** absent in the oldest configs, which means 0.1.0 */
  cniVersion?: string;
  name: string;
  /** the plugin executable's name, looked up in CNI_PATH */
  type: string;
  ipMasq?: boolean;
  isGateway?: boolean;
  isDefaultGateway?: boolean;
  hairpinMode?: boolean;
  promiscMode?: boolean;
  forceAddress?: boolean;
  /** bridge plugin: the host bridge's interface name */
  bridge?: string;
  mtu?: number;
  ipam?: CniIpam;
  dns?: CniDns;
  capabilities?: Record<string, boolean>;
  runtimeConfig?: Record<string, unknown>;
  args?: Record<string, unknown>;
  prevResult?: Record<string, unknown>;
  [key: string]: unknown;
}

/** A `.conflist`: plugins run in order; each plugin here carries the list's name and version. */
export interface CniNetConfList {
  cniVersion?: string;
  name: string;
  disableCheck?: boolean;
  plugins: CniNetConf[];
  [key: string]: unknown;
}

/** An interface created or configured by a plugin. */
export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  /** the netns path for container interfaces; absent for host ones */
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

/** An address given to an interface. */
export interface CniIPConfig {
  /** CIDR, e.g. `10.1.2.3/24` */
  address: string;
  gateway?: string;
  /** index into `interfaces` */
  interface?: number;
  /** `4` or `6`: present in 0.3.x/0.4.0 results, dropped in 1.0.0 */
  version?: '4' | '6';
}

/** The result of ADD (1.0.0, 0.4.0, 0.3.x shape). */
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIPConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
}

/** One address family of a 0.1.0/0.2.0 result. */
export interface CniLegacyIPConfig {
  ip: string;
  gateway?: string;
  routes?: CniRoute[];
}

/** The result of ADD in the 0.1.0/0.2.0 shape. */
export interface CniLegacyResult {
  cniVersion: string;
  ip4?: CniLegacyIPConfig;
  ip6?: CniLegacyIPConfig;
  dns?: CniDns;
}

/** The result of VERSION. */
export interface CniVersionResult {
  cniVersion: string;
  supportedVersions: string[];
}

/** The error document a plugin prints on failure. */
export interface CniErrorResult {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

// ---- string formats -----------------------------------------------------------------------------

const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const PLUGIN_TYPE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const VERSION = /^\d+\.\d+\.\d+$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** Whether `s` is a CNI network name: an alphanumeric, then alphanumerics, `_`, `.` or `-`. */
export function isCniNetworkName(s: unknown): s is string {
  return typeof s === 'string' && NETWORK_NAME.test(s);
}

/** Whether `s` is an IPv4 or IPv6 address (no prefix). */
export function isIPAddress(s: unknown): s is string {
  return typeof s === 'string' && isIP(s) !== 0;
}

/** Whether `s` is an address with a prefix length (`10.1.0.0/16`, `fd00::1/64`). */
export function isCidr(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const slash = s.lastIndexOf('/');
  if (slash < 0) return false;
  const ip = s.slice(0, slash);
  const prefix = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefix)) return false;
  const n = Number(prefix);
  if (isIPv4(ip)) return n <= 32;
  if (isIPv6(ip)) return n <= 128;
  return false;
}

/** Whether `s` is a valid Linux interface name: 1-15 bytes, not `.`/`..`, no `/`, `:` or whitespace. */
export function isInterfaceName(s: unknown): s is string {
  return (
    typeof s === 'string' &&
    s.length > 0 &&
    Buffer.byteLength(s) <= 15 &&
    s !== '.' &&
    s !== '..' &&
    !/[/:\s]/.test(s)
  );
}

const ipAddress = matching(isIPAddress, (s) => `must be an IP address, got ${JSON.stringify(s)}`);
const cidr = matching(isCidr, (s) => `must be an address with a prefix length (CIDR), got ${JSON.stringify(s)}`);
const cniVersion = matching((s) => VERSION.test(s), (s) => `must be a version like "1.0.0", got ${JSON.stringify(s)}`);
const networkName = matching(
  isCniNetworkName,
  (s) => `must start with an alphanumeric and contain only alphanumerics, "_", "." and "-", got ${JSON.stringify(s)}`,
);
const pluginType = matching(
  (s) => PLUGIN_TYPE.test(s),
  (s) => `must be a plugin name (no "/"), got ${JSON.stringify(s)}`,
);
const ifName = matching(isInterfaceName, (s) => `must be an interface name of at most 15 bytes, got ${JSON.stringify(s)}`);

const objectValue: Parse<Record<string, unknown>> = (c, v, path) => {
  if (isObject(v)) return v;
  c.add(path, `must be an object, not ${jsonType(v)}`);
  return undefined;
};

const boolMap: Parse<Record<string, boolean>> = (c, v, path) => {
  const o = objectValue(c, v, path);
  if (!o) return undefined;
  let ok = true;
  for (const [k, x] of Object.entries(o)) {
    if (typeof x !== 'boolean') {
      c.add(sub(path, k), `must be a boolean, not ${jsonType(x)}`);
      ok = false;
    }
  }
  return ok ? (o as Record<string, boolean>) : undefined;
};

// ---- shared pieces --------------------------------------------------------------------------------

const route: Parse<CniRoute> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  return assemble<CniRoute>({ dst: r.required('dst', cidr), gw: r.optional('gw', ipAddress) }, r);
};

const dns: Parse<CniDns> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  return assemble<CniDns>(
    {
      nameservers: r.optional('nameservers', array(ipAddress)),
      domain: r.optional('domain', str),
      search: r.optional('search', array(str)),
      options: r.optional('options', array(str)),
    },
    r,
  );
};

const ipamRange: Parse<CniIpamRange> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  return assemble<CniIpamRange>(
    {
      subnet: r.required('subnet', cidr),
      rangeStart: r.optional('rangeStart', ipAddress),
      rangeEnd: r.optional('rangeEnd', ipAddress),
      gateway: r.optional('gateway', ipAddress),
    },
    r,
  );
};

const ipam: Parse<CniIpam> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  return assemble<CniIpam>(
    {
      type: r.required('type', pluginType),
      subnet: r.optional('subnet', cidr),
      rangeStart: r.optional('rangeStart', ipAddress),
      rangeEnd: r.optional('rangeEnd', ipAddress),
      gateway: r.optional('gateway', ipAddress),
      routes: r.optional('routes', array(route)),
      ranges: r.optional('ranges', array(array(ipamRange))),
      dataDir: r.optional('dataDir', nonEmptyStr),
    },
    r,
  );
};

/** The fields of one plugin configuration; `inList` relaxes `name`, which a conflist supplies. */
function netConfFields(r: NonNullable<ReturnType<typeof reader>>, inList: boolean): Record<string, unknown> {
  return {
    cniVersion: r.optional('cniVersion', cniVersion),
    name: inList ? r.optional('name', networkName) : r.required('name', networkName),
    type: r.required('type', pluginType),
    ipMasq: r.optional('ipMasq', bool),
    isGateway: r.optional('isGateway', bool),
    isDefaultGateway: r.optional('isDefaultGateway', bool),
    hairpinMode: r.optional('hairpinMode', bool),
    promiscMode: r.optional('promiscMode', bool),
    forceAddress: r.optional('forceAddress', bool),
    bridge: r.optional('bridge', ifName),
    mtu: r.optional('mtu', int(0, 65535)),
    ipam: r.optional('ipam', ipam),
    dns: r.optional('dns', dns),
    capabilities: r.optional('capabilities', boolMap),
    runtimeConfig: r.optional('runtimeConfig', objectValue),
    args: r.optional('args', objectValue),
    prevResult: r.optional('prevResult', objectValue),
  };
}

const netConf: Parse<CniNetConf> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  return assemble<CniNetConf>(netConfFields(r, false), r);
};

const netConfList: Parse<CniNetConfList> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  const version = r.optional('cniVersion', cniVersion);
  const name = r.required('name', networkName);
  const disableCheck = r.optional('disableCheck', bool);
  const plugins = r.required('plugins', (c2, x, p) => {
    const list = array<CniNetConf>((c3, y, q) => {
      const pr = reader(c3, y, q);
      if (!pr) return undefined;
      const fields = netConfFields(pr, true);
      // libcni hands every plugin the list's name and version
      return assemble<CniNetConf>({ ...fields, cniVersion: version ?? fields['cniVersion'], name }, pr);
    })(c2, x, p);
    if (list && list.length === 0) c2.add(p, 'must not be empty');
    return list;
  });
  return assemble<CniNetConfList>({ cniVersion: version, name, disableCheck, plugins }, r);
};

// ---- results --------------------------------------------------------------------------------------

const iface: Parse<CniInterface> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  return assemble<CniInterface>(
    {
      name: r.required('name', nonEmptyStr),
      mac: r.optional('mac', (c2, x, p) => {
        const s = str(c2, x, p);
        // some plugins report an empty mac for L3-only interfaces
        if (s !== undefined && s !== '' && !MAC.test(s)) {
          c2.add(p, `must be a MAC address, got ${JSON.stringify(s)}`);
          return undefined;
        }
        return s === '' ? undefined : s;
      }),
      mtu: r.optional('mtu', int(0, 65535)),
      sandbox: r.optional('sandbox', str),
      socketPath: r.optional('socketPath', str),
      pciID: r.optional('pciID', str),
    },
    r,
  );
};

const ipVersion = matching((s) => s === '4' || s === '6', (s) => `must be "4" or "6", got ${JSON.stringify(s)}`);

const ipConfig: Parse<CniIPConfig> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  const out = assemble<CniIPConfig>(
    {
      address: r.required('address', cidr),
      gateway: r.optional('gateway', ipAddress),
      interface: r.optional('interface', int(0)),
      version: r.optional('version', ipVersion),
    },
    r,
  );
  if (out.address && out.version && String(isIP(out.address.split('/')[0] ?? '')) !== out.version) {
    c.add(sub(path, 'version'), `does not match address ${out.address}`);
  }
  return out;
};

const legacyIP: Parse<CniLegacyIPConfig> = (c, v, path) => {
  const r = reader(c, v, path);
  if (!r) return undefined;
  return assemble<CniLegacyIPConfig>(
    { ip: r.required('ip', cidr), gateway: r.optional('gateway', ipAddress), routes: r.optional('routes', array(route)) },
    r,
  );
};

function isLegacyVersion(v: string | undefined): boolean {
  return v === undefined || v === '0.1.0' || v === '0.2.0';
}

function checkResult(c: Checker, v: unknown): CniResult | undefined {
  const r = reader(c, v, '');
  if (!r) return undefined;
  const version = r.optional('cniVersion', cniVersion);
  if (isLegacyVersion(version) && r.get('ips') === undefined && r.get('interfaces') === undefined) {
    const legacy: CniLegacyResult = {
      cniVersion: version ?? '0.1.0',
      ip4: r.optional('ip4', legacyIP),
      ip6: r.optional('ip6', legacyIP),
      dns: r.optional('dns', dns),
    };
    return upgradeLegacy(legacy);
  }
  if (version === undefined) c.add('cniVersion', 'is required');
  const res = assemble<CniResult>(
    {
      cniVersion: version,
      interfaces: r.optional('interfaces', array(iface)),
      ips: r.optional('ips', array(ipConfig)),
      routes: r.optional('routes', array(route)),
      dns: r.optional('dns', dns),
    },
    r,
  );
  const n = res.interfaces?.length ?? 0;
  res.ips?.forEach((ip, i) => {
    if (ip.interface !== undefined && ip.interface >= n) {
      c.add(sub(sub('ips', i), 'interface'), `refers to interface ${ip.interface} but there are ${n}`);
    }
  });
  return res;
}

function upgradeLegacy(l: CniLegacyResult): CniResult {
  const ips: CniIPConfig[] = [];
  const routes: CniRoute[] = [];
  for (const [fam, x] of [['4', l.ip4], ['6', l.ip6]] as const) {
    if (!x) continue;
    ips.push(x.gateway === undefined ? { address: x.ip, version: fam } : { address: x.ip, gateway: x.gateway, version: fam });
    routes.push(...(x.routes ?? []));
  }
  const out: CniResult = { cniVersion: l.cniVersion, ips };
  if (routes.length) out.routes = routes;
  if (l.dns) out.dns = l.dns;
  return out;
}

// ---- public parsers -------------------------------------------------------------------------------

function run<T>(what: string, input: unknown, check: (c: Checker, v: unknown) => T | undefined): T {
  const value = decodeJson(input, what);
  const c = new Checker();
  const out = check(c, value);
  assertNoIssues(c, what);
  return out as T;
}

/**
 * Parses one network configuration (a `.conf` file, or what a plugin reads on stdin). Unknown
 * fields are kept. Throws `schema.json` / `schema.invalid` (`invalid CNI network config:
 * ipam.subnet: ...`).
 */
export function parseCniNetConf(input: unknown): CniNetConf {
  return run('CNI network config', input, (c, v) => netConf(c, v, ''));
}

/** Parses a `.conflist`; every plugin gets the list's `name` and `cniVersion`. */
export function parseCniNetConfList(input: unknown): CniNetConfList {
  return run('CNI network config list', input, (c, v) => netConfList(c, v, ''));
}

/** Whether a decoded config is a list (has `plugins`) rather than a single plugin config. */
export function isCniNetConfList(v: unknown): boolean {
  return isObject(v) && Array.isArray(v['plugins']);
}

/**
 * Parses either form and returns a list: a single config becomes a list of one plugin with the
 * same name and version.
 */
export function parseCniConfig(input: unknown): CniNetConfList {
  const value = decodeJson(input, 'CNI network config');
  if (isCniNetConfList(value)) return parseCniNetConfList(value);
  const conf = parseCniNetConf(value);
  const list: CniNetConfList = { name: conf.name, plugins: [conf] };
  if (conf.cniVersion !== undefined) list.cniVersion = conf.cniVersion;
  return list;
}

/** Every problem of a single network configuration; empty when valid. */
export function validateCniNetConf(obj: unknown): ValidationIssue[] {
  const c = new Checker();
  netConf(c, obj, '');
  return c.issues;
}

/**
 * Parses a plugin's ADD result. 1.0.0, 0.4.0 and 0.3.x results are checked and kept (with
 * `ips[].version` when present); 0.1.0/0.2.0 results (`ip4`, `ip6`) are converted to the
 * current shape with `cniVersion` unchanged. Throws `schema.invalid` (`invalid CNI result: ...`).
 */
export function parseCniResult(input: unknown): CniResult {
  return run('CNI result', input, checkResult);
}

/** Parses the output of the VERSION command. */
export function parseCniVersionResult(input: unknown): CniVersionResult {
  return run('CNI version result', input, (c, v) => {
    const r = reader(c, v, '');
    if (!r) return undefined;
    return assemble<CniVersionResult>(
      { cniVersion: r.required('cniVersion', cniVersion), supportedVersions: r.required('supportedVersions', array(cniVersion)) },
      r,
    );
  });
}

/** Whether a decoded plugin output is an error document (`code` and `msg`). */
export function isCniErrorResult(v: unknown): v is CniErrorResult {
  return isObject(v) && typeof v['code'] === 'number' && typeof v['msg'] === 'string';
}

/** Parses a plugin's error output. */
export function parseCniErrorResult(input: unknown): CniErrorResult {
  return run('CNI error result', input, (c, v) => {
    const r = reader(c, v, '');
    if (!r) return undefined;
    return assemble<CniErrorResult>(
      {
        cniVersion: r.optional('cniVersion', str) ?? '0.1.0',
        code: r.required('code', int(0)),
        msg: r.required('msg', str),
        details: r.optional('details', str),
      },
      r,
    );
  });
}

/** An error document for a plugin to print (codes from {@link CniErrorCodes}). */
export function cniErrorResult(code: number, msg: string, details?: string, version: string = CNI_LATEST_VERSION): CniErrorResult {
  return details === undefined ? { cniVersion: version, code, msg } : { cniVersion: version, code, msg, details };
}

/**
 * A result re-expressed for the CNI version a caller asked for: 1.0.0 drops `ips[].version`,
 * 0.3.x/0.4.0 add it, 0.1.0/0.2.0 get the legacy `ip4`/`ip6` shape (first address of each family,
 * routes split by family; interfaces are lost, as in that version).
 */
export function convertCniResult(result: CniResult, version: string): CniResult | CniLegacyResult {
  const ips = result.ips ?? [];
  const family = (addr: string): '4' | '6' => (isIPv6(addr.split('/')[0] ?? '') ? '6' : '4');
  if (isLegacyVersion(version)) {
    const out: CniLegacyResult = { cniVersion: version };
    for (const fam of ['4', '6'] as const) {
      const ip = ips.find((x) => family(x.address) === fam);
      if (!ip) continue;
      const routes = (result.routes ?? []).filter((r) => family(r.dst) === fam);
      const legacy: CniLegacyIPConfig = { ip: ip.address };
      if (ip.gateway !== undefined) legacy.gateway = ip.gateway;
      if (routes.length) legacy.routes = routes;
      if (fam === '4') out.ip4 = legacy;
      else out.ip6 = legacy;
    }
    if (result.dns) out.dns = result.dns;
    return out;
  }
  const withVersion = version.startsWith('0.');
  const out: CniResult = { ...result, cniVersion: version };
  if (result.ips) {
    out.ips = result.ips.map(({ version: _v, ...rest }) => (withVersion ? { ...rest, version: family(rest.address) } : rest));
  }
  return out;
}
