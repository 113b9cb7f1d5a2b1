// Namespace, mount and credential calls for real. Each runs in a spawned Node child
// (fixtures/child.ts) so the test runner's own namespaces and credentials stay untouched; the
// host side then checks that nothing leaked.
import test from 'ava';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountsUnder } from '@rktnetes/sys';
import { childJson, needsRoot, parseProbe, rootTest, runChild } from './helpers';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'rkt-sys-ns-'));
  dirs.push(d);
  return d;
}

test.after.always('no mount leaked onto the host', (t) => {
  for (const d of dirs) {
    t.deepEqual(mountsUnder(d), [], `mounts left under ${d}`);
    if (mountsUnder(d).length === 0) rmSync(d, { recursive: true, force: true });
  }
});

rootTest(`mount a tmpfs in a child's private mount namespace; the host sees nothing${needsRoot}`, (t) => {
  const dir = tempDir();
  const r = childJson<{ mounts: string[]; files: string[] }>(runChild('tmpfs-private', { dir }));
  t.deepEqual(r, { mounts: ['tmpfs'], files: ['inside'] });
  t.deepEqual(mountsUnder(dir), []);
  t.deepEqual(readdirSync(dir), []);
});

rootTest(`unmountTree removes nested, bind, stacked, busy and escaped mounts, deepest first${needsRoot}`, (t) => {
  const dir = tempDir();
  const a = join(dir, 'a');
  const r = childJson<{ before: string[]; unmounted: string[]; after: string[] }>(runChild('unmount-tree', { dir }));
  t.is(r.before.length, 7);
  t.deepEqual(r.after, []);
  t.deepEqual([...r.unmounted].sort(), [...r.before].sort());
  t.is(r.unmounted[0], join(a, 'b', 'c'));
  t.is(r.unmounted.at(-1), a);
  t.true(r.unmounted.indexOf(join(a, 'b', 'c')) < r.unmounted.indexOf(join(a, 'b')));
  t.true(r.unmounted.includes(join(a, 'with space')));
  t.deepEqual(mountsUnder(dir), []);
});

rootTest(`pivotRoot into a new root, then execve inside it${needsRoot}`, (t) => {
  const dir = tempDir();
  const r = runChild('pivot-root', { dir });
  t.is(r.status, 0, r.stderr);
  const expected = ['.', '..', 'bin', 'lib', 'lib64', 'usr'].filter((e) => ['.', '..', 'usr'].includes(e) || readdirSync('/usr').includes(e));
  t.deepEqual(r.stdout.trim().split(' '), expected);
  t.deepEqual(readdirSync(dir), []);
});

rootTest(`unshare(CLONE_NEWUTS) + sethostname, then setns back to the host's UTS namespace${needsRoot}`, (t) => {
  const before = hostname();
  t.deepEqual(childJson(runChild('uts', { name: 'rkt-sys-test' })), { inside: 'rkt-sys-test', back: before });
  t.is(hostname(), before);
});

rootTest(`setCapabilities as root: bounding, inheritable and ambient sets reach the exec'd program${needsRoot}`, (t) => {
  const r = runChild('caps-root');
  t.is(r.status, 0, r.stderr);
  const s = parseProbe(r.stdout).status;
  t.is(s.CapBnd, '0000000000000401', 'CAP_CHOWN and CAP_NET_BIND_SERVICE');
  t.is(s.CapInh, '0000000000000401');
  t.is(s.CapAmb, '0000000000000400');
  t.is(s.NoNewPrivs, '1');
});

rootTest(`drop to nobody keeping CAP_NET_BIND_SERVICE as an ambient capability${needsRoot}`, (t) => {
  const r = runChild('drop-to-nobody');
  t.is(r.status, 0, r.stderr);
  const s = parseProbe(r.stdout).status;
  t.is(s.Uid, '65534\t65534\t65534\t65534');
  t.is(s.Gid, '65534\t65534\t65534\t65534');
  t.is(s.Groups, '65534');
  t.is(s.CapEff, '0000000000000400');
  t.is(s.CapPrm, '0000000000000400');
  t.is(s.CapBnd, '0000000000000400');
  t.is(s.CapAmb, '0000000000000400');
  t.is(s.NoNewPrivs, '1');
});
