#!/usr/bin/env node
// Bundles every bin of the package in the current directory under dist/: for a bin whose
// package.json path is dist/NAME.mjs or dist/bin/NAME.cjs,
//   dist/NAME.cjs        the bundle (CommonJS: V8 can only cache the compiled code of scripts)
//   dist/NAME.cjs.cache  V8's code cache of it, made here (see below)
//   dist/bin/NAME.cjs    an executable: a few lines that compile NAME.cjs with that cache and
//                        run it; a cache V8 does not accept (another Node) is ignored
//   dist/NAME.mjs        the same as an ES module, the executable of the packages whose bin
//                        still names it (and what tests and scripts run)
// Both executables are always written. The CommonJS one starts about 3 ms sooner: Node runs an
// .mjs entry through its ES module loader (and makes ES module facades of the built-ins it
// imports), which a command that starts often, such as rkt, should not pay.
// Workspace libraries and small pure-JS dependencies are inlined; the packages listed in the
// package's "dependencies" (native addons and heavy libraries such as better-sqlite3, koffi,
// openpgp, @grpc/grpc-js) stay external and must be loaded lazily by the code that needs them.
//
// The cache spares every start the parse of the bundle (about 15-20 ms of rkt's 50 here). It
// holds what was compiled when it was made: by default the top level only; a bin listed in
// package.json "codeCacheTraining" ({"rkt": ["version"]}) is run once with those arguments and
// the cache written at its exit also holds every function that run compiled.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, mkdirSync, chmodSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const shims = { 'string-width': fileURLToPath(new URL('./shims/string-width.mjs', import.meta.url)) };

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const bins = Object.entries(pkg.bin ?? {});
const external = Object.keys(pkg.dependencies ?? {});
rmSync('dist', { recursive: true, force: true });
mkdirSync('dist', { recursive: true });

const training = pkg.codeCacheTraining ?? {};
// import.meta.url of the sources: the bundle's own URL (dist/ like the executable's)
const banner = "const __rktImportMetaUrl = require('node:url').pathToFileURL(__filename).href;";

/** The CommonJS executable (in dist/bin) that runs `cjs` (a file name in dist) with its code cache. */
const cjsLoader = (cjs) => `#!/usr/bin/env node
'use strict';
// Runs ../${cjs}, the bundle, compiled with V8's code cache ../${cjs}.cache (written by tools/build.mjs).
const Module = require('node:module');
const { readFileSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');
const file = join(__dirname, '..', '${cjs}');
let cachedData;
try {
  cachedData = readFileSync(\`\${file}.cache\`);
} catch {}
const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
if (process.env.RKT_BUILD_CODE_CACHE === file) process.on('exit', () => writeFileSync(\`\${file}.cache\`, script.createCachedData()));
const mod = { exports: {} };
script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, dirname(file));
`;

/** The ES module executable (in dist) that runs `cjs` (a file name in the same directory) with its code cache. */
const esmLoader = (cjs) => `#!/usr/bin/env node
// Runs ${cjs}, the bundle, compiled with V8's code cache ${cjs}.cache (written by tools/build.mjs).
import Module, { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
const file = fileURLToPath(new URL('./${cjs}', import.meta.url));
let cachedData;
try {
  cachedData = readFileSync(\`\${file}.cache\`);
} catch {}
const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
if (process.env.RKT_BUILD_CODE_CACHE === file) process.on('exit', () => writeFileSync(\`\${file}.cache\`, script.createCachedData()));
const mod = { exports: {} };
script.runInThisContext().call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file));
`;

mkdirSync(join('dist', 'bin'), { recursive: true });
await Promise.all(
  bins.map(async ([name, bin]) => {
    const m = /^(?:\.\/)?dist\/(?:bin\/([^/]+)\.cjs|([^/]+)\.mjs)$/.exec(bin);
    if (!m) throw new Error(`bin ${name}: ${bin} must be dist/bin/NAME.cjs or dist/NAME.mjs`);
    const base = m[1] ?? m[2];
    const cjs = join('dist', `${base}.cjs`);
    const mjs = join('dist', `${base}.mjs`);
    const cjsBin = join('dist', 'bin', `${base}.cjs`);
    await build({
      entryPoints: [join('src', 'bin', `${name}.ts`)],
      outfile: cjs,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external,
      alias: shims,
      banner: { js: banner },
      legalComments: 'none',
      minifySyntax: true,
      sourcemap: false,
      // import() of an external package becomes require(): a vm.Script has no module loader
      supported: { 'dynamic-import': false },
      define: { 'process.env.RKT_BUILD_VERSION': JSON.stringify(pkg.version), 'import.meta.url': '__rktImportMetaUrl' },
      logLevel: 'warning',
    });
    writeFileSync(mjs, esmLoader(basename(cjs)));
    writeFileSync(cjsBin, cjsLoader(basename(cjs)));
    for (const f of [mjs, cjsBin]) chmodSync(f, 0o755);
    const cache = `${cjs}.cache`;
    if (training[name]) {
      const file = fileURLToPath(new URL(cjs, `file://${process.cwd()}/`));
      const r = spawnSync(process.execPath, [cjsBin, ...training[name]], { env: { ...process.env, RKT_BUILD_CODE_CACHE: file }, stdio: 'ignore', timeout: 20_000 });
      if (r.status !== 0) throw new Error(`bin ${name}: the code cache training run (${training[name].join(' ')}) failed with ${r.status ?? r.signal}`);
    } else {
      writeFileSync(cache, new Script(Module.wrap(readFileSync(cjs, 'utf8')), { filename: cjs }).createCachedData());
    }
  }),
);
// Extra build steps of a package (for example a stage1 image) live in scripts/build-extra.mjs.
try {
  const extra = join(process.cwd(), 'scripts', 'build-extra.mjs');
  readFileSync(extra);
  await import(extra);
} catch (e) {
  if (e.code !== 'ENOENT') throw e;
}
