import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, cpSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxImage } from '@rktnetes/testkit';

const root = new URL('..', import.meta.url).pathname;

test('the whole workspace typechecks under strict TypeScript', (t) => {
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'], { cwd: root, encoding: 'utf8' });
  t.is(r.status, 0, r.stdout + r.stderr);
});

test('module boundaries hold: no executable imports another executable', (t) => {
  const r = spawnSync(process.execPath, ['tools/check-boundaries.mjs'], { cwd: root, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /projects ok/);
});

test('the boundary lint rejects an executable importing another executable', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rkt-boundaries-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'tools'));
  cpSync(join(root, 'tools/check-boundaries.mjs'), join(dir, 'tools/check-boundaries.mjs'));
  for (const [name, tag, src] of [
    ['stage0', 'type:bin', "import { x } from '@rktnetes/stage1-fly';\n"],
    ['stage1-fly', 'type:bin', 'export const x = 1;\n'],
    ['common', 'type:lib', 'export const y = 1;\n'],
  ] as const) {
    mkdirSync(join(dir, 'packages', name, 'src'), { recursive: true });
    writeFileSync(join(dir, 'packages', name, 'package.json'), JSON.stringify({ name: `@rktnetes/${name}` }));
    writeFileSync(join(dir, 'packages', name, 'project.json'), JSON.stringify({ name, tags: [tag] }));
    writeFileSync(join(dir, 'packages', name, 'src', 'index.ts'), src);
  }
  const r = spawnSync(process.execPath, ['tools/check-boundaries.mjs'], { cwd: dir, encoding: 'utf8' });
  t.is(r.status, 1);
  t.regex(r.stderr, /stage0 \(type:bin\) may not import the executable stage1-fly/);
});

test('every package has the same anatomy', (t) => {
  for (const dir of readdirSync(join(root, 'packages'))) {
    const have = new Set(readdirSync(join(root, 'packages', dir)));
    for (const f of ['package.json', 'project.json', 'src', 'README.md']) t.true(have.has(f), `${dir} lacks ${f}`);
    const pkg = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'));
    t.is(pkg.name, `@rktnetes/${dir}`);
    const project = JSON.parse(readFileSync(join(root, 'packages', dir, 'project.json'), 'utf8'));
    const isBin = (project.tags as string[]).includes('type:bin');
    if (isBin) t.truthy(pkg.bin, `${dir} is an executable without a bin`);
  }
});

/** Packs packages and installs the tarballs together into an empty prefix; returns the prefix. */
function packAndInstall(...pkgDirs: string[]): string {
  const out = mkdtempSync(join(tmpdir(), 'rkt-pack-'));
  const tgzs = pkgDirs.map((d) =>
    join(out, execFileSync('npm', ['pack', '--silent', '--pack-destination', out], { cwd: join(root, d), encoding: 'utf8' }).trim().split('\n').pop()!),
  );
  const prefix = join(out, 'prefix');
  mkdirSync(prefix);
  // npm 11 runs dependencies' install scripts only when the project allows them.
  writeFileSync(join(prefix, 'package.json'), JSON.stringify({ name: 'pack-test', private: true, allowScripts: { 'better-sqlite3': true, koffi: true } }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tgzs], { cwd: prefix, stdio: 'pipe', encoding: 'utf8' });
  return prefix;
}

test('npm pack of stage0 and stage1-fly install into an empty prefix and run on their own', async (t) => {
  const prefix = packAndInstall('packages/stage0', 'packages/stage1-fly');
  t.teardown(() => rmSync(join(prefix, '..'), { recursive: true, force: true }));
  const out = execFileSync(join(prefix, 'node_modules/.bin/rkt'), ['version'], { encoding: 'utf8', cwd: prefix });
  t.regex(out, /^rkt Version: /m);
  t.regex(out, /^appc Version: 0\.8\.11$/m);
  // The bundles carry their workspace libraries: only the two packages are installed.
  t.deepEqual(readdirSync(join(prefix, 'node_modules/@rktnetes')).sort(), ['stage0', 'stage1-fly']);
  // The stage1 package ships its stage1 image, which rkt finds next to itself.
  t.true(readdirSync(join(prefix, 'node_modules/@rktnetes/stage1-fly/dist')).includes('stage1-fly.aci'));
  const fly = spawnSync(join(prefix, 'node_modules/.bin/stage1-fly'), ['gc', '--no-such-flag'], { encoding: 'utf8' });
  t.is(fly.status, 254, fly.stderr);
  if (process.getuid?.() !== 0) return;
  // As root: a pod runs with the installed rkt and the stage1 it finds next to itself.
  const data = join(prefix, '..', 'data');
  const img = join(prefix, '..', 'busybox.aci');
  writeFileSync(img, await busyboxImage({ name: 'example.com/pack', exec: ['/bin/echo', 'packed pod'] }));
  const flags = [`--dir=${data}`, `--local-config=${join(data, 'etc')}`, `--system-config=${join(data, 'lib')}`];
  const run = spawnSync(join(prefix, 'node_modules/.bin/rkt'), [...flags, 'run', '--insecure-options=image', '--stage1-from-dir=stage1-fly.aci', img], { encoding: 'utf8' });
  t.is(run.status, 0, run.stderr);
  t.regex(run.stdout, /packed pod/);
  spawnSync(join(prefix, 'node_modules/.bin/rkt'), [...flags, 'gc', '--grace-period=0s'], { encoding: 'utf8' });
});
