#!/usr/bin/env node
// Bundles every bin of the package in the current directory into one ESM file under dist/.
// Workspace libraries and small pure-JS dependencies are inlined; the packages listed in the
// package's "dependencies" (native addons and heavy libraries such as better-sqlite3, koffi,
// openpgp, @grpc/grpc-js) stay external and must be loaded lazily by the code that needs them.
import { build } from 'esbuild';
import { readFileSync, rmSync, mkdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const shims = { 'string-width': fileURLToPath(new URL('./shims/string-width.mjs', import.meta.url)) };

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const bins = Object.entries(pkg.bin ?? {});
const external = Object.keys(pkg.dependencies ?? {});
rmSync('dist', { recursive: true, force: true });
mkdirSync('dist', { recursive: true });

const banner = [
  '#!/usr/bin/env node',
  "import { createRequire as __rktCreateRequire } from 'node:module';",
  'const require = __rktCreateRequire(import.meta.url);',
].join('\n');

await Promise.all(
  bins.map(async ([name, out]) => {
    await build({
      entryPoints: [join('src', 'bin', `${name}.ts`)],
      outfile: out,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external,
      alias: shims,
      banner: { js: banner },
      legalComments: 'none',
      minifySyntax: true,
      sourcemap: false,
      define: { 'process.env.RKT_BUILD_VERSION': JSON.stringify(pkg.version) },
      logLevel: 'warning',
    });
    chmodSync(out, 0o755);
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
