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
// A dependency also named in package.json "inlineDependencies" (["better-sqlite3"]) has its
// JavaScript inlined all the same, so it is compiled with the bundle's code cache instead of
// being read and compiled file by file; it stays in "dependencies" for what is not JavaScript
// (a native addon, which its code must be handed or find on disk), and its own dependencies
// stay external (npm installs them next to it).
//
// The Node built-ins that a bare `node` has not loaded at start (crypto, fs/promises, os,
// child_process...; the ones whose module is a plain object) are bound to a stand-in whose
// properties load the real module when first read: a built-in a bin imports but its path does
// not use (node:crypto costs about 2.5 ms) is then never loaded. See lazyBuiltins below.
//
// The cache spares every start the parse of the bundle (about 15-20 ms of rkt's 50 here). It
// holds what was compiled when it was made: by default the top level only; a bin listed in
// package.json "codeCacheTraining" is run once and the cache written at its exit also holds
// every function that run compiled: {"NAME": ["version"]} runs it with those arguments,
// {"NAME": "scripts/x.mjs"} with the arguments of a scenario that module's setup(bin) prepares
// ({ args, cleanup }; stage0 trains on `rkt prepare` of stored images).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, mkdirSync, chmodSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const shims = { 'string-width': fileURLToPath(new URL('./shims/string-width.mjs', import.meta.url)) };

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const bins = Object.entries(pkg.bin ?? {});
const dependencies = Object.keys(pkg.dependencies ?? {});
const inlined = pkg.inlineDependencies ?? [];
for (const name of inlined) {
  if (!dependencies.includes(name)) throw new Error(`inlineDependencies: ${name} is not one of the package's dependencies`);
}
const packageRequire = createRequire(join(process.cwd(), 'package.json'));
/** The "dependencies" of an installed package (read through the package directory's resolution). */
const dependenciesOf = (name) => {
  const main = packageRequire.resolve(name);
  const root = main.slice(0, main.lastIndexOf(`/node_modules/${name}/`) + `/node_modules/${name}`.length);
  return Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).dependencies ?? {});
};
const external = [...new Set([...dependencies.filter((d) => !inlined.includes(d)), ...inlined.flatMap(dependenciesOf)])];

/**
 * The built-ins to bind lazily: those whose module is a plain object and which a bare `node`
 * has not loaded by the time it runs a script (asked of a child, the build process having
 * loaded many more). A built-in whose module is a function or class (assert, stream, events)
 * stays as it is: a stand-in object could not be called, constructed or used with instanceof.
 * process and console are the global objects, written to and whose methods use `this`.
 */
function lazyBuiltinExports() {
  const list = `
    const preloaded = new Set(process.moduleLoadList.filter((e) => e.startsWith('NativeModule ')).map((e) => e.slice(13)));
    const lazy = {};
    for (const name of require('node:module').builtinModules) {
      if (name.startsWith('_') || preloaded.has(name) || name === 'process' || name === 'console') continue;
      const mod = require('node:' + name);
      if (typeof mod === 'object' && mod !== null) lazy[name] = Object.getOwnPropertyNames(mod).filter((k) => k !== 'default' && k !== '__esModule');
    }
    process.stdout.write(JSON.stringify(lazy));`;
  const probe = spawnSync(process.execPath, ['--no-warnings', '-e', list], { encoding: 'utf8', env: {} });
  if (probe.status !== 0) throw new Error(`listing the built-ins node loads at start failed: ${probe.stderr}`);
  return new Map(Object.entries(JSON.parse(probe.stdout)));
}
const lazyExports = lazyBuiltinExports();

/**
 * esbuild plugin: `node:NAME` / `NAME` of a built-in in lazyExports resolves to a CommonJS
 * stand-in whose exports are getters (one per export name the real module has, listed at build
 * time with the Node that builds, the one the code cache is made for) that require the real
 * module on first access. Every import form reads through them: a named import becomes a
 * property read at the use site, and esbuild's __toESM (namespace and default imports) copies
 * the properties as getters without reading them. The stand-in's own require of the built-in
 * stays external.
 */
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      if (!lazyExports.has(name)) return undefined;
      if (args.namespace === 'lazy-builtin') return { path: `node:${name}`, external: true };
      return { path: name, namespace: 'lazy-builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      loader: 'js',
      contents: [
        `// node:${args.path}, required when one of its exports is first read (tools/build.mjs)`,
        'let real;',
        `const load = () => (real ??= require(${JSON.stringify(`node:${args.path}`)}));`,
        `for (const key of ${JSON.stringify(lazyExports.get(args.path))}) Object.defineProperty(exports, key, { enumerable: true, get: () => load()[key] });`,
      ].join('\n'),
    }));
  },
};
rmSync('dist', { recursive: true, force: true });
mkdirSync('dist', { recursive: true });

const training = pkg.codeCacheTraining ?? {};
// import.meta.url of the sources: the bundle's own URL (dist/ like the executable's)
const banner = "const __rktImportMetaUrl = require('node:url').pathToFileURL(__filename).href;";

/**
 * What both executables do once they know the bundle's path `file` and have Module, createRequire,
 * readFileSync, writeFileSync, dirname and Script in scope: compile the bundle with its code
 * cache (a cache V8 rejects is ignored), write a new cache at exit during a training run, run it.
 */
const loaderBody = `let cachedData;
try {
  cachedData = readFileSync(\`\${file}.cache\`);
} catch {}
const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
if (process.env.RKT_BUILD_CODE_CACHE === file) process.on('exit', () => writeFileSync(\`\${file}.cache\`, script.createCachedData()));
const mod = { exports: {} };
script.runInThisContext().call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file));
`;

/** The CommonJS executable (in dist/bin) that runs `cjs` (a file name in dist) with its code cache. */
const cjsLoader = (cjs) => `#!/usr/bin/env node
'use strict';
// Runs ../${cjs}, the bundle, compiled with V8's code cache ../${cjs}.cache (written by tools/build.mjs).
const Module = require('node:module');
const { createRequire } = Module;
const { readFileSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');
const file = join(__dirname, '..', '${cjs}');
${loaderBody}`;

/** The ES module executable (in dist) that runs `cjs` (a file name in the same directory) with its code cache. */
const esmLoader = (cjs) => `#!/usr/bin/env node
// Runs ${cjs}, the bundle, compiled with V8's code cache ${cjs}.cache (written by tools/build.mjs).
import Module, { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
const file = fileURLToPath(new URL('./${cjs}', import.meta.url));
${loaderBody}`;

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
      plugins: [lazyBuiltins],
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
      // arguments, or a module of the package whose setup(bin) prepares a scenario: { args, cleanup }
      const scenario = Array.isArray(training[name])
        ? { args: training[name], cleanup: () => undefined }
        : await (await import(join(process.cwd(), training[name]))).setup(cjsBin);
      try {
        const r = spawnSync(process.execPath, [cjsBin, ...scenario.args], { env: { ...process.env, RKT_BUILD_CODE_CACHE: file }, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
        if (r.status !== 0) throw new Error(`bin ${name}: the code cache training run (${scenario.args.join(' ')}) failed with ${r.status ?? r.signal}: ${r.stderr}`);
      } finally {
        scenario.cleanup();
      }
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
