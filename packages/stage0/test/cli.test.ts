import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const rkt = fileURLToPath(new URL('../dist/rkt.mjs', import.meta.url));
const run = (...args: string[]) => spawnSync(rkt, args, { encoding: 'utf8' });

test('rkt version prints rkt, appc and stage1 interface versions', (t) => {
  const r = run('version');
  t.is(r.status, 0);
  t.regex(r.stdout, /^rkt Version: \d+\.\d+\.\d+/m);
  t.regex(r.stdout, /^appc Version: 0\.8\.11$/m);
  t.regex(r.stdout, /^Stage1 Interface Versions: 1(, \d)+$/m);
});

test('rkt version --format=json is machine readable', (t) => {
  const r = run('version', '--format=json');
  t.is(r.status, 0);
  const v = JSON.parse(r.stdout);
  t.is(v.appcVersion, '0.8.11');
  t.true(Array.isArray(v.stage1InterfaceVersions));
});

test('rkt --help and rkt help list the commands', (t) => {
  for (const args of [['--help'], ['help'], []]) {
    const r = run(...args);
    t.is(r.status, 0, args.join(' '));
    t.regex(r.stdout, /rkt version/);
    t.regex(r.stdout, /--insecure-options/);
  }
});

test('rkt completion bash prints a bash completion script that completes commands', (t) => {
  const r = run('completion', 'bash');
  t.is(r.status, 0);
  t.regex(r.stdout, /complete -o bashdefault -o default -F/);
  const c = run('--get-yargs-completions', 'rkt', 'ver');
  t.regex(c.stdout, /^version$/m);
});

test('an unknown command fails with one line and exit 254', (t) => {
  const r = run('no-such-command');
  t.is(r.status, 254);
  t.is(r.stderr.trim().split('\n').length, 1);
  t.regex(r.stderr, /^rkt: /);
});

test('an unsupported completion shell is a usage error', (t) => {
  const r = run('completion', 'fish');
  t.is(r.status, 254);
  t.regex(r.stderr, /unsupported shell "fish"/);
});
