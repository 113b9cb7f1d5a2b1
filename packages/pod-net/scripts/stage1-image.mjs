// What a stage1 image ships for pod networking, as entries for tools/make-aci.mjs: the built-in
// networks (rkt's etc/rkt/net.d, with our cni-bridge in place of ptp: one bridge per network,
// the host's side holding the gateway address) and the built-in plugin, the packages/cni-bridge
// bundle (rebuilt here when older than its sources) laid out as in its dist/: cni-bridge.cjs and
// its code cache, the CommonJS executable bin/cni-bridge.cjs, which the `cni-bridge` symlink
// that the configurations name points at (Node runs a .cjs main module without its ES module
// loader: about 4 ms of every pod start), and the ES module executable cni-bridge.mjs for
// whoever runs it by that name. The bundle keeps koffi external: the image must ship
// node_modules/koffi next to it, as the flavors' own bundles need anyway.
//
// Used by the build steps of stage1-coreos and stage1-kvm, so that both flavors offer the same
// networks. Plain JavaScript: build scripts run without a TypeScript loader.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleCompanions } from '../../../tools/make-aci.mjs';

const PACKAGES = fileURLToPath(new URL('../..', import.meta.url));
const CNI_BRIDGE_PKG = join(PACKAGES, 'cni-bridge');
const CNI_BRIDGE = join(CNI_BRIDGE_PKG, 'dist/cni-bridge.mjs');
const CNI_BRIDGE_CJS = join(CNI_BRIDGE_PKG, 'dist/bin/cni-bridge.cjs');

const conf = (c) => JSON.stringify({ cniVersion: '1.0.0', ...c }, null, 2) + '\n';

/** rkt's built-in networks, by file name (same subnets as rkt 1.28). */
export const BUILTIN_NETWORKS = {
  '99-default.conf': conf({
    name: 'default',
    type: 'cni-bridge',
    bridge: 'rkt-default',
    isDefaultGateway: true,
    ipMasq: true,
    hairpinMode: true,
    ipam: { type: 'host-local', subnet: '172.16.28.0/24' },
  }),
  '99-default-restricted.conf': conf({
    name: 'default-restricted',
    type: 'cni-bridge',
    bridge: 'rkt-restricted',
    isGateway: true,
    ipMasq: false,
    hairpinMode: true,
    ipam: { type: 'host-local', subnet: '172.31.0.0/16' },
  }),
};

const newest = (dir) =>
  Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));

/** Builds the cni-bridge bundle when it is missing or older than the sources it is made of. */
export function ensureCniBridgeBundle() {
  let built = 0;
  try {
    built = Math.min(statSync(CNI_BRIDGE).mtimeMs, statSync(CNI_BRIDGE_CJS).mtimeMs);
  } catch {
    // not built yet
  }
  const sources = Math.max(...['cni-bridge', 'schema', 'errors', 'sys'].map((p) => newest(join(PACKAGES, p, 'src'))), newest(join(CNI_BRIDGE_PKG, 'scripts')));
  if (built < sources) execFileSync(process.execPath, ['../../tools/build.mjs'], { cwd: CNI_BRIDGE_PKG, stdio: 'inherit' });
  return CNI_BRIDGE;
}

/** The image entries (paths relative to the stage1 rootfs) of the built-in networks and plugin. */
export function podNetImageEntries() {
  const bundle = ensureCniBridgeBundle();
  return [
    ...Object.entries(BUILTIN_NETWORKS).map(([file, content]) => ({ path: `etc/rkt/net.d/${file}`, content })),
    { path: 'usr/lib/rkt/plugins/net/cni-bridge.mjs', source: bundle, mode: 0o755 },
    ...bundleCompanions(bundle, 'usr/lib/rkt/plugins/net'),
    { path: 'usr/lib/rkt/plugins/net/bin/cni-bridge.cjs', source: CNI_BRIDGE_CJS, mode: 0o755 },
    { path: 'usr/lib/rkt/plugins/net/cni-bridge', type: 'symlink', target: 'bin/cni-bridge.cjs' },
  ];
}
