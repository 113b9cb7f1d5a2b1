import test from 'ava';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '@rktnetes/store';
import { parseDuration, table } from '../src/cli/format';
import { buildAci, files, gzip, keyOf, manifest, tempDir } from './helpers';

const BIN = fileURLToPath(new URL('../src/bin/rkt-store.ts', import.meta.url));

function rktStore(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', BIN, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('import, list, verify, fsck and gc from the command line', async (t) => {
  const dir = tempDir(t);
  const aci = await buildAci(manifest('example.com/cli', { labels: { version: '0.1' } }), files({ hello: 'hi' }));
  const file = join(dir, 'cli.aci.gz');
  writeFileSync(file, gzip(aci));

  const imp = await rktStore(['--dir', dir, 'import', file]);
  t.is(imp.code, 0, imp.stderr);
  t.is(imp.stdout.trim(), keyOf(aci));

  const list = await rktStore(['--dir', dir, 'list']);
  t.is(list.code, 0, list.stderr);
  t.regex(list.stdout, /^ID\s+NAME\s+SIZE\s+IMPORT TIME\s+LAST USED\n/);
  t.true(list.stdout.includes(keyOf(aci).slice(0, 39)));
  t.true(list.stdout.includes('example.com/cli:0.1'));

  const json = await rktStore(['--dir', dir, 'list', '--format', 'json']);
  t.is(JSON.parse(json.stdout)[0].key, keyOf(aci));

  const store = openStore(dir);
  const r = await store.render(keyOf(aci));
  store.close();
  const verify = await rktStore(['--dir', dir, 'verify', '--format=json']);
  t.is(verify.code, 0, verify.stderr);
  t.like(JSON.parse(verify.stdout)[0], { treeStoreID: r.treeStoreID, ok: true });
  writeFileSync(join(r.rootfs, 'hello'), 'changed');
  const bad = await rktStore(['--dir', dir, 'verify']);
  t.is(bad.code, 254);
  t.regex(bad.stdout, /modified/);
  const fsck = await rktStore(['--dir', dir, 'fsck']);
  t.is(fsck.code, 254);
  t.regex(fsck.stdout, /tree-hash/);

  const gc = await rktStore(['--dir', dir, 'gc', '--grace-period', '0', '--format', 'json']);
  t.is(gc.code, 0, gc.stderr);
  t.deepEqual(JSON.parse(gc.stdout).removedImages, [keyOf(aci)]);
});

test('failures print one line and exit 254', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'bad.aci'), await buildAci(manifest('example.com/bad'), [{ path: '../x', content: 'x' }]));
  const bad = await rktStore(['--dir', dir, 'import', join(dir, 'bad.aci')]);
  t.is(bad.code, 254);
  t.is(bad.stderr.trim().split('\n').length, 1);
  t.regex(bad.stderr, /^rkt-store: image ".*bad\.aci": entry "\.\.\/x" has a "\.\." component/);
  const usage = await rktStore(['--dir', dir, 'frobnicate']);
  t.is(usage.code, 254);
  const fmt = await rktStore(['--dir', dir, 'list', '--format', 'xml']);
  t.is(fmt.code, 254);
  t.regex(fmt.stderr, /unknown --format/);
  const dur = await rktStore(['--dir', dir, 'gc', '--grace-period', 'soon']);
  t.is(dur.code, 254);
  t.regex(dur.stderr, /invalid duration/);
});

test('durations and tables', (t) => {
  t.is(parseDuration('24h'), 86_400_000);
  t.is(parseDuration('1h30m'), 5_400_000);
  t.is(parseDuration('0'), 0);
  t.is(parseDuration('250ms'), 250);
  t.throws(() => parseDuration('5 minutes'), { code: 'store.invalid-duration' } as never);
  t.is(table(['A', 'BB'], [['xxx', 'y']]), 'A    BB\nxxx  y');
});

test('importing the store loads neither sqlite nor koffi nor tar-stream; opening loads sqlite', async (t) => {
  const dir = tempDir(t);
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/loaded.ts', import.meta.url)), dir], (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    ),
  );
  t.deepEqual(JSON.parse(out), { afterImport: false, afterOpen: true });
});
