// Builds dist/stage1-fly.aci after tools/build.mjs has bundled dist/stage1-fly.mjs (cwd: the
// package directory). The image holds the bundle (run by the host's `node`, found through
// `#!/usr/bin/env node`), the entrypoint symlinks and koffi's addon, which the bundle loads
// from `node_modules/` next to itself (packages/stage1-kit/scripts/stage1-manifest.mjs).
import { readFileSync } from 'node:fs';
import { makeAci } from '../../../tools/make-aci.mjs';
import { stage1Manifest, stage1ProgramEntries } from '../../stage1-kit/scripts/stage1-manifest.mjs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));

const ENTRYPOINTS = ['run', 'enter', 'gc', 'stop'];
// Every flag up to version 6 is accepted; run --ipc (6) is honoured; the app/* entrypoints
// (5) are optional and fly has none, so stage0 never asks it for a mutable pod.
const INTERFACE_VERSION = '6';

const manifest = stage1Manifest({ name: 'coreos.com/rkt/stage1-fly', version: pkg.version, entrypoints: ENTRYPOINTS, interfaceVersion: INTERFACE_VERSION });

await makeAci('dist/stage1-fly.aci', manifest, stage1ProgramEntries({ program: 'stage1-fly', entrypoints: ENTRYPOINTS }));
