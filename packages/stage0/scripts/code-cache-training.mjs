// The code cache training scenario of `rkt` (package.json "codeCacheTraining", run by
// tools/build.mjs). V8's code cache holds the functions compiled while it is made, so it is made
// at the end of the run users wait on most: `rkt prepare` of images already in the store (`rkt
// run` is the same path plus the exec of stage1), given its global flags in a form only yargs
// takes, so that the commands that use the parser (`rkt version`, `list`...) find it compiled
// too. The images are two tiny ACIs made here (an app, and an image that declares
// itself a stage1); nothing runs, nothing is mounted, and the temporary data directory is
// removed afterwards. Works without root.
//
// Exports setup(bin): { args, cleanup } — the arguments of the training run and what to do after.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeAci } from '../../../tools/make-aci.mjs';

const stage1Annotations = ['run', 'enter', 'gc', 'stop'].map((e) => ({ name: `coreos.com/rkt/stage1/${e}`, value: `/${e}` }));

const manifest = (name, extra = {}) => ({
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name,
  labels: [
    { name: 'os', value: 'linux' },
    { name: 'arch', value: process.arch === 'x64' ? 'amd64' : process.arch },
  ],
  ...extra,
});

export async function setup(bin) {
  const dir = mkdtempSync(join(tmpdir(), 'rkt-code-cache-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const app = join(dir, 'app.aci');
    const stage1 = join(dir, 'stage1.aci');
    await makeAci(app, manifest('example.com/code-cache-app', { app: { exec: ['/bin/true'], user: '0', group: '0' } }), [{ path: 'bin/true', content: '', mode: 0o755 }]);
    await makeAci(stage1, manifest('example.com/code-cache-stage1', { annotations: [...stage1Annotations, { name: 'coreos.com/rkt/stage1/interface-version', value: '6' }] }), [
      { path: 'run', content: '', mode: 0o755 },
    ]);
    const globals = [`--dir=${join(dir, 'data')}`, `--local-config=${join(dir, 'etc')}`, `--system-config=${join(dir, 'lib')}`];
    const fetch = (file) => {
      const r = spawnSync(process.execPath, [bin, ...globals, 'fetch', '--insecure-options=image', file], { encoding: 'utf8', timeout: 20_000 });
      if (r.status !== 0) throw new Error(`code cache training: rkt fetch ${file} failed: ${r.stderr.trim()}`);
      return r.stdout.trim().split('\n').pop();
    };
    const appKey = fetch(app);
    const stage1Key = fetch(stage1);
    // --dir given twice: only yargs accepts that (src/cli/fast-path.ts hands it over), so the
    // cache also holds the parser that other commands use
    return { args: [globals[0], ...globals, 'prepare', '--quiet', `--stage1-hash=${stage1Key}`, appKey], cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}
