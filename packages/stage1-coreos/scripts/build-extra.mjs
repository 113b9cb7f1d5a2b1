// Build step after the bundle (run by tools/build.mjs in the package directory): compiles the
// init (static C) and writes the stage1 image dist/stage1-coreos.aci.
//
// Image layout (rootfs/):
//   stage1-coreos.mjs         the bundled entrypoints, run by the host's node
//   run enter gc stop         symlinks to it (the entrypoint is chosen by name)
//   app_add app_start app_stop app_rm attach   likewise, the mutable pod entrypoints
//   init                      the static init (src/init/init.c)
//   node_modules/koffi/       koffi for this platform only (the bundle keeps it external)
//   etc/hosts-fallback        the /etc/hosts of apps that have none
//   etc/rkt/net.d/            the built-in networks: 99-default.conf, 99-default-restricted.conf
//   usr/lib/rkt/plugins/net/  the built-in CNI plugins: cni-bridge (-> cni-bridge.mjs, the
//                             packages/cni-bridge bundle, rebuilt here when older than its sources)
//   rkt/{status,env,seccomp,pids,spec,log,log-ext}/, opt/stage2/, etc/
//   flavor -> coreos
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { makeAci } from '../../../tools/make-aci.mjs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const BUNDLE = 'dist/stage1-coreos.mjs';
const INIT = 'dist/init';
const OUT = 'dist/stage1-coreos.aci';
/** The highest stage1 interface version whose flags run, enter, gc and stop all accept. */
const INTERFACE_VERSION = '6';

execFileSync('gcc', ['-static', '-Os', '-s', '-Wall', '-Werror', '-o', INIT, 'src/init/init.c'], { stdio: 'inherit' });

// The built-in CNI plugin is our cni-bridge package's bundle, exec'd through its shebang. It is
// shipped as cni-bridge.mjs (so Node loads it as ESM) with a `cni-bridge` symlink for configs;
// koffi resolves from the image's node_modules/ like the entrypoints' does.
const CNI_BRIDGE_PKG = '../cni-bridge';
const CNI_BRIDGE = join(CNI_BRIDGE_PKG, 'dist/cni-bridge.mjs');
const newest = (dir) =>
  Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));
const bundleTime = (() => {
  try {
    return statSync(CNI_BRIDGE).mtimeMs;
  } catch {
    return 0;
  }
})();
const cniSources = Math.max(...['cni-bridge', 'schema', 'errors', 'sys'].map((p) => newest(join('..', p, 'src'))), newest(join(CNI_BRIDGE_PKG, 'scripts')));
if (bundleTime < cniSources) execFileSync(process.execPath, ['../../tools/build.mjs'], { cwd: CNI_BRIDGE_PKG, stdio: 'inherit' });

// rkt's built-in networks (stage1/net/rootfs/etc/rkt/net.d), with cni-bridge in place of ptp:
// one bridge per network, the host's side holding the gateway address.
const conf = (c) => JSON.stringify({ cniVersion: '1.0.0', ...c }, null, 2) + '\n';
const defaultNet = conf({
  name: 'default',
  type: 'cni-bridge',
  bridge: 'rkt-default',
  isDefaultGateway: true,
  ipMasq: true,
  hairpinMode: true,
  ipam: { type: 'host-local', subnet: '172.16.28.0/24' },
});
const restrictedNet = conf({
  name: 'default-restricted',
  type: 'cni-bridge',
  bridge: 'rkt-restricted',
  isGateway: true,
  ipMasq: false,
  hairpinMode: true,
  ipam: { type: 'host-local', subnet: '172.31.0.0/16' },
});

// The stages that Node runs here never open a TLS connection: skip parsing the host's extra CA
// bundle at every start (NODE_EXTRA_CA_CERTS costs about a third of Node's start-up here).
const bundle = readFileSync(BUNDLE, 'utf8').replace(/^#!.*\n/, '#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node\n');

const require = createRequire(join(process.cwd(), 'package.json'));
const koffiDir = dirname(require.resolve('koffi/package.json'));
const triplet = `${process.platform}_${process.arch}`;
const koffiNative = join(koffiDir, 'build', 'koffi', triplet, 'koffi.node');

const ann = (name, value) => ({ name: `coreos.com/rkt/stage1/${name}`, value });
const manifest = {
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name: 'coreos.com/rkt/stage1-coreos',
  labels: [
    { name: 'version', value: pkg.version },
    { name: 'arch', value: process.arch === 'x64' ? 'amd64' : process.arch },
    { name: 'os', value: 'linux' },
  ],
  annotations: [
    ann('run', '/run'),
    ann('enter', '/enter'),
    ann('gc', '/gc'),
    ann('stop', '/stop'),
    ann('app/add', '/app_add'),
    ann('app/start', '/app_start'),
    ann('app/stop', '/app_stop'),
    ann('app/rm', '/app_rm'),
    ann('attach', '/attach'),
    ann('interface-version', INTERFACE_VERSION),
  ],
};

const hostsFallback = '127.0.0.1 localhost localhost.localdomain localhost4 localhost4.localdomain4\n::1 localhost localhost.localdomain localhost6 localhost6.localdomain6\n';

await makeAci(OUT, manifest, [
  { path: 'stage1-coreos.mjs', content: bundle, mode: 0o755 },
  ...['run', 'enter', 'gc', 'stop', 'app_add', 'app_start', 'app_stop', 'app_rm', 'attach'].map((n) => ({ path: n, type: 'symlink', target: 'stage1-coreos.mjs' })),
  { path: 'init', source: INIT, mode: 0o755 },
  { path: 'flavor', type: 'symlink', target: 'coreos' },
  { path: 'node_modules/koffi/package.json', source: join(koffiDir, 'package.json') },
  { path: 'node_modules/koffi/index.js', source: join(koffiDir, 'index.js') },
  { path: 'node_modules/koffi/LICENSE.txt', source: join(koffiDir, 'LICENSE.txt') },
  { path: `node_modules/koffi/build/koffi/${triplet}/koffi.node`, source: koffiNative, mode: 0o755 },
  { path: 'etc/hosts-fallback', content: hostsFallback },
  { path: 'etc/rkt/net.d/99-default.conf', content: defaultNet },
  { path: 'etc/rkt/net.d/99-default-restricted.conf', content: restrictedNet },
  { path: 'usr/lib/rkt/plugins/net/cni-bridge.mjs', source: CNI_BRIDGE, mode: 0o755 },
  { path: 'usr/lib/rkt/plugins/net/cni-bridge', type: 'symlink', target: 'cni-bridge.mjs' },
  ...['rkt/status', 'rkt/env', 'rkt/seccomp', 'rkt/pids', 'rkt/spec', 'rkt/log', 'rkt/log-ext', 'opt/stage2'].map((p) => ({ path: p, type: 'dir' })),
]);
