/**
 * The plugin's network configuration: decoded from stdin, checked with the schema's CNI parser,
 * defaults applied (bridge `cni0`, `isDefaultGateway` implying `isGateway`) and the fields this
 * plugin does not implement refused with code 2.
 */
import {
  CniErrorCodes,
  isCniErrorResult,
  parseCniNetConf,
  parseCniResult,
  type CniDns,
  type CniIpam,
  type CniNetConf,
  type CniResult,
} from '@rktnetes/schema';
import { type CniEnv, isSafeIfName } from './env';
import { cniError } from './errors';

/** The CNI versions this plugin speaks, oldest first (what VERSION reports). */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

/** The oldest version that has each command (older configs get code 1). */
const COMMAND_SINCE: Partial<Record<CniEnv['command'], string>> = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' };

function versionAtLeast(v: string, min: string): boolean {
  const a = v.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

/** The bridge used when the config names none. */
export const DEFAULT_BRIDGE = 'cni0';

/** A bridge network configuration with defaults applied. */
export interface BridgeConfig {
  cniVersion: string;
  name: string;
  /** the host bridge's name */
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  hairpinMode: boolean;
  promiscMode: boolean;
  /** MTU of the bridge (when created) and both veth ends; undefined keeps the kernel default */
  mtu: number | undefined;
  /** keep IPv6 duplicate address detection on the container's addresses */
  enableDad: boolean;
  /** the container interface's MAC: runtimeConfig.mac, else args.cni.mac, else CNI_ARGS MAC */
  mac: string | undefined;
  /** absent for a layer-2 only network */
  ipam: CniIpam | undefined;
  dns: CniDns | undefined;
  /** the result of the previous plugin (chained ADD) or of the whole ADD (CHECK, DEL) */
  prevResult: CniResult | undefined;
  /** the parsed document, unknown fields included */
  conf: CniNetConf;
  /** stdin as received, passed unchanged to delegated IPAM plugins */
  raw: Buffer;
}

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** Fields of the reference bridge plugin that this one does not implement, with their inert values. */
const UNSUPPORTED: ReadonlyArray<[string, (v: unknown) => boolean]> = [
  ['vlan', (v) => v === undefined || v === null || v === 0],
  ['vlanTrunk', (v) => v === undefined || v === null || (Array.isArray(v) && v.length === 0)],
  ['macspoofchk', (v) => v === undefined || v === null || v === false],
  ['disableContainerInterface', (v) => v === undefined || v === null || v === false],
  ['portIsolation', (v) => v === undefined || v === null || v === false],
];

function fieldCI(obj: Record<string, unknown>, name: string): { key: string; value: unknown } | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === lower) return { key: k, value: v };
  return undefined;
}

/** Decodes stdin as JSON; malformed input is code 6. */
export function decodeStdin(raw: Buffer): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch (e) {
    throw cniError(CniErrorCodes.decodeFailure, 'cni.decode', 'network config on stdin is not valid UTF-8', { cause: e });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw cniError(CniErrorCodes.decodeFailure, 'cni.decode', 'network config on stdin is not valid JSON', {
      cause: e,
      details: e instanceof Error ? e.message : String(e),
    });
  }
}

/** Checks that `version` is one this plugin speaks (code 1 otherwise). */
export function checkVersion(version: string | undefined): string {
  const v = version ?? '0.1.0';
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(v)) {
    throw cniError(
      CniErrorCodes.incompatibleVersion,
      'cni.version',
      `incompatible CNI version ${v}: this plugin supports ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  return v;
}

function pickMac(conf: CniNetConf, env: CniEnv): string | undefined {
  const runtimeMac = conf.runtimeConfig?.['mac'];
  const cniArgs = conf.args?.['cni'];
  const argsMac = cniArgs !== null && typeof cniArgs === 'object' ? (cniArgs as Record<string, unknown>)['mac'] : undefined;
  const candidates: Array<[string, unknown]> = [
    ['runtimeConfig.mac', runtimeMac],
    ['args.cni.mac', argsMac],
    ['CNI_ARGS MAC', env.args.get('MAC')],
  ];
  for (const [where, v] of candidates) {
    if (v === undefined || v === '') continue;
    if (typeof v !== 'string' || !MAC.test(v)) {
      throw cniError(CniErrorCodes.invalidNetworkConfig, 'cni.config', `${where} ${JSON.stringify(v)} is not a MAC address`);
    }
    return v.toLowerCase();
  }
  return undefined;
}

/**
 * Parses the configuration on stdin for `env.command`. Errors: code 6 (not JSON), 7 (schema or
 * plugin rules broken), 1 (cniVersion not supported, CHECK below 0.4.0, GC or STATUS below
 * 1.1.0), 2 (a reference
 * bridge field this plugin does not implement, such as `vlan`).
 */
export function loadBridgeConfig(raw: Buffer, env: CniEnv): BridgeConfig {
  const decoded = decodeStdin(raw);
  if (decoded !== null && typeof decoded === 'object' && !Array.isArray(decoded)) {
    // `"ipam": {}` means "no IPAM" to the reference plugin; the schema wants a type
    const obj = decoded as Record<string, unknown>;
    const ipam = fieldCI(obj, 'ipam');
    if (ipam && ipam.value !== null && typeof ipam.value === 'object' && !fieldCI(ipam.value as Record<string, unknown>, 'type')?.value) {
      delete obj[ipam.key];
    }
  }
  const conf = parseCniNetConf(decoded);
  const cniVersion = checkVersion(conf.cniVersion);
  const since = COMMAND_SINCE[env.command];
  if (since !== undefined && !versionAtLeast(cniVersion, since)) {
    throw cniError(CniErrorCodes.incompatibleVersion, 'cni.version', `config version ${cniVersion} does not allow ${env.command}`);
  }
  for (const [name, inert] of UNSUPPORTED) {
    const f = fieldCI(conf, name);
    if (f && !inert(f.value)) {
      throw cniError(CniErrorCodes.unsupportedField, 'cni.unsupported', `unsupported field ${f.key}: ${JSON.stringify(f.value)}`);
    }
  }
  if (conf.bridge !== undefined && !isSafeIfName(conf.bridge)) {
    throw cniError(CniErrorCodes.invalidNetworkConfig, 'cni.config', `bridge ${JSON.stringify(conf.bridge)} is not a usable interface name`);
  }
  const hairpinMode = conf.hairpinMode ?? false;
  const promiscMode = conf.promiscMode ?? false;
  if (hairpinMode && promiscMode) {
    throw cniError(CniErrorCodes.invalidNetworkConfig, 'cni.config', 'cannot set hairpinMode and promiscMode at the same time');
  }
  if (conf.mtu !== undefined && conf.mtu !== 0 && conf.mtu < 68) {
    throw cniError(CniErrorCodes.invalidNetworkConfig, 'cni.config', `mtu ${conf.mtu} is below the minimum of 68`);
  }
  const enableDad = fieldCI(conf, 'enabledad')?.value === true;
  let prevResult: CniResult | undefined;
  if (conf.prevResult !== undefined) {
    try {
      if (isCniErrorResult(conf.prevResult)) throw new Error('prevResult is an error result');
      prevResult = parseCniResult({ cniVersion, ...conf.prevResult });
    } catch (e) {
      // DEL is best effort: an unreadable prevResult only loses hints
      if (env.command !== 'DEL') {
        throw cniError(CniErrorCodes.invalidNetworkConfig, 'cni.config', 'invalid prevResult', { cause: e });
      }
    }
  }
  const isDefaultGateway = conf.isDefaultGateway ?? false;
  return {
    cniVersion,
    name: conf.name,
    bridge: conf.bridge ?? DEFAULT_BRIDGE,
    isGateway: (conf.isGateway ?? false) || isDefaultGateway,
    isDefaultGateway,
    forceAddress: conf.forceAddress ?? false,
    ipMasq: conf.ipMasq ?? false,
    hairpinMode,
    promiscMode,
    mtu: conf.mtu ? conf.mtu : undefined,
    enableDad,
    mac: pickMac(conf, env),
    ipam: conf.ipam,
    dns: conf.dns,
    prevResult,
    conf,
    raw,
  };
}
