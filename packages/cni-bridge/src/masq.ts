/**
 * IP masquerading for `ipMasq`: one nat chain per network and container, named and commented as
 * the reference plugins do (`CNI-` + sha512(network + container id), `name: "net" id: "ctr"`),
 * so either plugin can find and remove the other's rules:
 *
 *     -A POSTROUTING -s <container ip>/32 -m comment --comment ... -j CNI-<hash>
 *     -A CNI-<hash> -d <container network> -m comment --comment ... -j ACCEPT
 *     -A CNI-<hash> ! -d 224.0.0.0/4 -m comment --comment ... -j MASQUERADE
 *
 * Changes go through one `iptables-restore --noflush` per family, after one `iptables -S` that
 * tells what is already there. Rules are written in the form `iptables -S` prints them, so the
 * listing and the wanted rules compare as strings.
 */
import { createHash } from 'node:crypto';
import { CNI_INTERNAL_ERROR, cniError } from './errors';
import { lastLine, runTool, type ToolRunner } from './exec';
import { type Family, type IP, type IPNet, bitsOf, canonicalNet, formatCIDR, formatIP } from './addr';

const CHAIN_LENGTH = 28;
const MULTICAST: Record<Family, string> = { 4: '224.0.0.0/4', 6: 'ff00::/8' };

/** The nat chain of one attachment: `CNI-` and the sha512 hex of network name + container id, 28 characters. */
export function masqChainName(network: string, containerId: string): string {
  return `CNI-${createHash('sha512').update(network + containerId).digest('hex')}`.slice(0, CHAIN_LENGTH);
}

/** The comment on every rule of an attachment: `name: "<network>" id: "<container id>"`. */
export function masqComment(network: string, containerId: string): string {
  return `name: ${JSON.stringify(network)} id: ${JSON.stringify(containerId)}`;
}

function quote(s: string): string {
  return `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** The rules of an attachment for one family, as `iptables -S` prints them. */
export function masqRules(chain: string, comment: string, nets: readonly IPNet[]): { jumps: string[]; chainRules: string[] } {
  const c = `-m comment --comment ${quote(comment)}`;
  const chainRules: string[] = [];
  const jumps: string[] = [];
  for (const n of nets) {
    const accept = `-A ${chain} -d ${formatCIDR(canonicalNet(n))} ${c} -j ACCEPT`;
    if (!chainRules.includes(accept)) chainRules.push(accept);
  }
  const family = nets[0]?.ip.family ?? 4;
  chainRules.push(`-A ${chain} ! -d ${MULTICAST[family]} ${c} -j MASQUERADE`);
  for (const n of nets) {
    const jump = `-A POSTROUTING -s ${formatIP(n.ip)}/${bitsOf(n.ip.family)} ${c} -j ${chain}`;
    if (!jumps.includes(jump)) jumps.push(jump);
  }
  return { jumps, chainRules };
}

/** What `iptables -t nat -S` says about one chain. */
export interface ChainState {
  exists: boolean;
  /** the chain's own `-A` lines */
  rules: string[];
  /** `-A POSTROUTING ... -j <chain>` lines */
  jumps: string[];
}

/** Reads the state of `chain` from `iptables -t nat -S` output. */
export function chainState(listing: string, chain: string): ChainState {
  const lines = listing.split('\n').map((l) => l.trim());
  return {
    exists: lines.includes(`-N ${chain}`),
    rules: lines.filter((l) => l.startsWith(`-A ${chain} `)),
    jumps: lines.filter((l) => l.startsWith('-A POSTROUTING ') && l.endsWith(` -j ${chain}`)),
  };
}

/** The source address of a POSTROUTING jump line (without its /32 or /128). */
export function jumpSource(line: string): string | undefined {
  return /(?:^| )-s (\S+?)(?:\/\d+)?(?: |$)/.exec(line)?.[1];
}

/** The iptables-restore input that adds what is missing; undefined when nothing is. */
export function masqSetupScript(state: ChainState, chain: string, wanted: { jumps: string[]; chainRules: string[] }): string | undefined {
  const lines: string[] = [];
  if (!state.exists) lines.push(`:${chain} - [0:0]`);
  // keep the chain's rules in order: ACCEPTs for every network before the MASQUERADE
  const missingRules = wanted.chainRules.filter((r) => !state.rules.includes(r));
  if (missingRules.length) {
    if (state.exists) lines.push(`-F ${chain}`);
    const merged = [...state.rules.filter((r) => / -j ACCEPT$/.test(r)), ...wanted.chainRules.filter((r) => / -j ACCEPT$/.test(r))];
    const unique = [...new Set(merged)];
    lines.push(...unique, ...wanted.chainRules.filter((r) => !/ -j ACCEPT$/.test(r)));
  }
  lines.push(...wanted.jumps.filter((j) => !state.jumps.includes(j)));
  if (lines.length === 0) return undefined;
  return `*nat\n${lines.join('\n')}\nCOMMIT\n`;
}

/**
 * The iptables-restore input that removes the jumps from `sources` (all jumps when undefined) and
 * then, if no jump is left, the chain; undefined when there is nothing to remove.
 */
export function masqTeardownScript(state: ChainState, chain: string, sources: readonly string[] | undefined): string | undefined {
  const drop = state.jumps.filter((j) => {
    if (sources === undefined) return true;
    const src = jumpSource(j);
    return src !== undefined && sources.includes(src);
  });
  const lines = drop.map((j) => `-D${j.slice(2)}`);
  if (state.exists && drop.length === state.jumps.length) lines.push(`-F ${chain}`, `-X ${chain}`);
  if (lines.length === 0) return undefined;
  return `*nat\n${lines.join('\n')}\nCOMMIT\n`;
}

function tables(family: Family): { list: string; restore: string } {
  return family === 4 ? { list: 'iptables', restore: 'iptables-restore' } : { list: 'ip6tables', restore: 'ip6tables-restore' };
}

function iptError(what: string, stderr: string): Error {
  return cniError(CNI_INTERNAL_ERROR, 'cni.iptables', `${what} failed: ${lastLine(stderr) || 'unknown error'}`, { details: stderr.trim() });
}

/** `iptables -t nat -S` for a family. */
export function listNat(family: Family, run: ToolRunner = runTool): string {
  const { list } = tables(family);
  const r = run(list, ['-w', '-t', 'nat', '-S']);
  if (r.status !== 0) throw iptError(`${list} -t nat -S`, r.stderr);
  return r.stdout;
}

function restore(family: Family, script: string, run: ToolRunner): void {
  const { restore: tool } = tables(family);
  const r = run(tool, ['-w', '--noflush'], { input: script });
  if (r.status !== 0) throw iptError(tool, `${r.stderr}\n(input: ${script.replace(/\n/g, '; ')})`);
}

function byFamily<T extends { family: Family } | { ip: IP }>(items: readonly T[]): Map<Family, T[]> {
  const out = new Map<Family, T[]>();
  for (const it of items) {
    const fam = 'family' in it ? it.family : it.ip.family;
    out.set(fam, [...(out.get(fam) ?? []), it]);
  }
  return out;
}

/** Installs the masquerading rules for the container addresses `nets` (idempotent). */
export function setupMasq(network: string, containerId: string, nets: readonly IPNet[], run: ToolRunner = runTool): void {
  const chain = masqChainName(network, containerId);
  const comment = masqComment(network, containerId);
  for (const [family, list] of byFamily(nets)) {
    const state = chainState(listNat(family, run), chain);
    const script = masqSetupScript(state, chain, masqRules(chain, comment, list));
    if (script) restore(family, script, run);
  }
}

/**
 * Removes the masquerading of an attachment: the jumps for `sources` (every jump to the chain
 * when undefined) and the chain once nothing jumps to it. Families without a usable
 * `ip6tables` are skipped when no address of that family is named.
 */
export function teardownMasq(network: string, containerId: string, sources: readonly IP[] | undefined, run: ToolRunner = runTool): void {
  const chain = masqChainName(network, containerId);
  const families: Family[] = sources === undefined ? [4, 6] : [...byFamily(sources).keys()];
  for (const family of families) {
    let listing: string;
    try {
      listing = listNat(family, run);
    } catch (e) {
      if (sources === undefined && family === 6) continue;
      throw e;
    }
    const wanted = sources?.filter((s) => s.family === family).map(formatIP);
    const script = masqTeardownScript(chainState(listing, chain), chain, wanted);
    if (script) restore(family, script, run);
  }
}

/** The problems with an attachment's masquerading (missing chain or jumps); empty when fine. */
export function checkMasq(network: string, containerId: string, nets: readonly IPNet[], run: ToolRunner = runTool): string[] {
  const chain = masqChainName(network, containerId);
  const comment = masqComment(network, containerId);
  const problems: string[] = [];
  for (const [family, list] of byFamily(nets)) {
    const state = chainState(listNat(family, run), chain);
    if (!state.exists) {
      problems.push(`nat chain ${chain} is missing`);
      continue;
    }
    const wanted = masqRules(chain, comment, list);
    for (const r of [...wanted.jumps, ...wanted.chainRules]) if (![...state.jumps, ...state.rules].includes(r)) problems.push(`nat rule missing: ${r}`);
  }
  return problems;
}

const COMMENT_RULE = /^-A (CNI-[0-9a-f]{24}) .*--comment "name: \\"([^"\\]*)\\" id: \\"([^"\\]*)\\""/;

/** The masquerading chains of `network` in an `iptables -t nat -S` listing, with their container ids. */
export function masqChainsOf(listing: string, network: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of listing.split('\n')) {
    const m = COMMENT_RULE.exec(line.trim());
    if (!m) continue;
    const [, chain = '', name = '', id = ''] = m;
    // only chains whose name is the hash of this network and that container: ours for sure
    if (name === network && masqChainName(name, id) === chain) out.set(chain, id);
  }
  return out;
}

/**
 * GC of masquerading: removes the chains (and their POSTROUTING jumps) of `network` whose
 * container id is not in `keep`. Returns the container ids whose rules went away.
 */
export function gcMasq(network: string, keep: ReadonlySet<string>, run: ToolRunner = runTool): string[] {
  const removed: string[] = [];
  for (const family of [4, 6] as const) {
    let listing: string;
    try {
      listing = listNat(family, run);
    } catch (e) {
      if (family === 6) continue;
      throw e;
    }
    const lines: string[] = [];
    for (const [chain, id] of masqChainsOf(listing, network)) {
      if (keep.has(id)) continue;
      const script = masqTeardownScript(chainState(listing, chain), chain, undefined);
      if (!script) continue;
      lines.push(...script.split('\n').slice(1, -2));
      removed.push(id);
    }
    if (lines.length) restore(family, `*nat\n${lines.join('\n')}\nCOMMIT\n`, run);
  }
  return [...new Set(removed)];
}
