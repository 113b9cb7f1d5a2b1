// Build step after the bundle (run by tools/build.mjs in the package directory): compiles the
// init and the native run (static C), generates the data the native run shares with the Node
// run (scripts/run-native-gen.ts) and writes the stage1 image dist/stage1-coreos.aci.
//
// Image layout (rootfs/):
//   stage1-coreos.mjs         the bundled entrypoints, run by the host's node
//   run                       the native run (src/run-native): the common pods itself, every
//                             other one through `stage1-coreos.mjs run` (README "Native run")
//   run-native/seccomp-default.bpf   the default seccomp filter the native run installs
//   enter gc stop             symlinks to stage1-coreos.mjs (the entrypoint is chosen by name)
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
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { bundleCompanions, makeAci } from '../../../tools/make-aci.mjs';
import { podNetImageEntries } from '../../pod-net/scripts/stage1-image.mjs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const BUNDLE = 'dist/stage1-coreos.mjs';
const INIT = 'dist/init';
const OUT = 'dist/stage1-coreos.aci';
/** The highest stage1 interface version whose flags run, enter, gc and stop all accept. */
const INTERFACE_VERSION = '6';

execFileSync('gcc', ['-static', '-Os', '-s', '-Wall', '-Werror', '-o', INIT, 'src/init/init.c'], { stdio: 'inherit' });

// The native run: its constants and the default seccomp filter come from the TypeScript sources.
const RUN_NATIVE = 'dist/run-native';
const RUN = 'dist/run';
execFileSync(process.execPath, ['--import', 'tsx', 'scripts/run-native-gen.ts', RUN_NATIVE], { stdio: 'inherit' });
const runSources = readdirSync('src/run-native').filter((f) => f.endsWith('.c')).map((f) => join('src/run-native', f));
execFileSync('gcc', ['-static', '-Os', '-s', '-Wall', '-Werror', '-pthread', `-I${RUN_NATIVE}`, '-o', RUN, ...runSources], { stdio: 'inherit' });

// The built-in networks and CNI plugin are shared with stage1-kvm (packages/pod-net).
const podNet = podNetImageEntries();

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
  ...bundleCompanions(BUNDLE),
  { path: 'run', source: RUN, mode: 0o755 },
  { path: 'run-native/seccomp-default.bpf', source: join(RUN_NATIVE, 'seccomp-default.bpf') },
  ...['enter', 'gc', 'stop', 'app_add', 'app_start', 'app_stop', 'app_rm', 'attach'].map((n) => ({ path: n, type: 'symlink', target: 'stage1-coreos.mjs' })),
  { path: 'init', source: INIT, mode: 0o755 },
  { path: 'flavor', type: 'symlink', target: 'coreos' },
  { path: 'node_modules/koffi/package.json', source: join(koffiDir, 'package.json') },
  { path: 'node_modules/koffi/index.js', source: join(koffiDir, 'index.js') },
  { path: 'node_modules/koffi/LICENSE.txt', source: join(koffiDir, 'LICENSE.txt') },
  { path: `node_modules/koffi/build/koffi/${triplet}/koffi.node`, source: koffiNative, mode: 0o755 },
  { path: 'etc/hosts-fallback', content: hostsFallback },
  ...podNet,
  ...['rkt/status', 'rkt/env', 'rkt/seccomp', 'rkt/pids', 'rkt/spec', 'rkt/log', 'rkt/log-ext', 'opt/stage2'].map((p) => ({ path: p, type: 'dir' })),
]);
