// Builds dist/stage1-fly.aci after tools/build.mjs has bundled dist/stage1-fly.mjs (cwd: the
// package directory). The image holds the bundle (run by the host's `node`, found through
// `#!/usr/bin/env node`), the entrypoint symlinks and koffi's linux-x64 addon, which the
// bundle loads from `node_modules/` next to itself.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { bundleCompanions, makeAci } from '../../../tools/make-aci.mjs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const require = createRequire(join(process.cwd(), 'package.json'));
const koffiDir = dirname(require.resolve('koffi/package.json'));

const ENTRYPOINTS = ['run', 'enter', 'gc', 'stop'];
// Every flag up to version 6 is accepted; run --ipc (6) is honoured; the app/* entrypoints
// (5) are optional and fly has none, so stage0 never asks it for a mutable pod.
const INTERFACE_VERSION = '6';

const manifest = {
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name: 'coreos.com/rkt/stage1-fly',
  labels: [
    { name: 'version', value: pkg.version },
    { name: 'arch', value: 'amd64' },
    { name: 'os', value: 'linux' },
  ],
  annotations: [
    ...ENTRYPOINTS.map((ep) => ({ name: `coreos.com/rkt/stage1/${ep}`, value: `/${ep}` })),
    { name: 'coreos.com/rkt/stage1/interface-version', value: INTERFACE_VERSION },
  ],
};

const koffiFiles = ['package.json', 'index.js', 'LICENSE.txt', 'build/koffi/linux_x64/koffi.node'];

await makeAci('dist/stage1-fly.aci', manifest, [
  { path: 'stage1-fly.mjs', source: 'dist/stage1-fly.mjs', mode: 0o755 },
  ...bundleCompanions('dist/stage1-fly.mjs'),
  ...ENTRYPOINTS.map((ep) => ({ path: ep, type: 'symlink', target: 'stage1-fly.mjs' })),
  ...koffiFiles.map((f) => ({ path: `node_modules/koffi/${f}`, source: join(koffiDir, f), mode: f.endsWith('.node') ? 0o755 : 0o644 })),
]);
