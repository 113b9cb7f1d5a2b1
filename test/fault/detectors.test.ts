/**
 * The fault tier's own detectors must see what they are meant to see, or a green run proves
 * nothing: the scoped leak check finds a running pod's mounts, cgroups, processes and (with
 * CNI) its address lease and iptables rules, and nothing once the pod is gone; the workspace
 * picture notices a changed byte; the escape scan finds a file named with the token; the
 * seeded generator replays.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxImage, privilegedTest } from '@rktnetes/testkit';
import { changesSince, escapedFiles, picture, type Harness } from './helpers/corpus';
import { createFaultEnv, waitForBundles, parseStatus, until } from './helpers/env';
import { scopedLeakCheck } from './helpers/leaks';
import { createRng } from './helpers/random';

const ptest = privilegedTest(test);

ptest.serial('the leak check sees a running pod and nothing after gc', async (t) => {
  if (!(await waitForBundles(['coreos']))) return t.fail('the stage0 and stage1-coreos bundles are not built');
  t.timeout(120_000);
  const env = await createFaultEnv('detect', { stage1: ['coreos'] });
  t.teardown(() => env.dispose());
  const leaks = await scopedLeakCheck(env.root);
  const base = await env.fetch(env.input('base.aci', await busyboxImage({ name: 'example.com/detect', exec: ['/bin/sleep', '600'] })));
  const probe = await env.rkt(['run', `--stage1-hash=${env.stage1.coreos}`, '--net=default', base, '--exec=/bin/true']);
  const net = probe.code === 0 ? '--net=default' : '--net=none';
  await env.rkt(['gc', '--grace-period=0s']);
  const uuidFile = join(env.inputs, 'uuid');
  const child = env.spawnRkt(['run', `--stage1-hash=${env.stage1.coreos}`, net, `--uuid-file-save=${uuidFile}`, base]);
  const uuid = await until('the pod to run', async () => {
    let u: string;
    try {
      u = readFileSync(uuidFile, 'utf8').trim();
    } catch {
      return undefined;
    }
    // running = the lock is held, which stage0 takes before the stage1 creates the cgroups:
    // wait for the pid the init writes once the apps have started
    const st = parseStatus((await env.rkt(['status', u])).stdout);
    return st.state === 'running' && st.pid ? u : undefined;
  });
  leaks.own(uuid);
  const seen = await leaks.compare(env.pgids);
  const kinds = new Set(seen.map((l) => l.split(':')[0]));
  t.true(kinds.has('mount'), seen.join('\n'));
  t.true(kinds.has('cgroup'), seen.join('\n'));
  t.true(kinds.has('process'), seen.join('\n'));
  if (net === '--net=default') {
    t.true(kinds.has('lease'), seen.join('\n'));
    t.true(kinds.has('iptables'), seen.join('\n'));
  } else t.log(`no CNI networking here: leases and iptables not exercised (${probe.stderr.trim()})`);
  t.is((await env.rkt(['stop', uuid])).code, 0);
  await child.done;
  t.is((await env.rkt(['gc', '--grace-period=0s'])).code, 0);
  t.deepEqual(await leaks.compare(env.pgids), []);
});

test.serial('the workspace picture notices a changed byte and the escape scan a token file', async (t) => {
  if (!(await waitForBundles())) return t.fail('packages/stage0/dist/rkt.mjs is not built');
  const env = await createFaultEnv('detect-pic');
  t.teardown(() => env.dispose());
  await env.rkt(['image', 'list']); // creates the store
  const h: Harness = { env, token: 'rktfault-escape-selftest', base: '', bystanders: {} };
  const before = picture(h);
  t.deepEqual(await changesSince(h, before), []);
  writeFileSync(join(env.localConfig, 'x.json'), '{}');
  writeFileSync(join(env.outside, `${h.token}-x`), '');
  const changes = await changesSince(h, before);
  t.true(changes.some((c) => c.includes('cfg/local/x.json')), changes.join('\n'));
  t.true(changes.some((c) => c.startsWith('written outside:') && c.includes(h.token)), changes.join('\n'));
  t.deepEqual(escapedFiles(h), [join(env.outside, `${h.token}-x`)]);
});

test('the seeded generator replays', (t) => {
  const a = createRng(42);
  const b = createRng(42);
  const xs = Array.from({ length: 20 }, () => a.int(0, 1000));
  t.deepEqual(Array.from({ length: 20 }, () => b.int(0, 1000)), xs);
  const c = createRng(43);
  t.notDeepEqual(Array.from({ length: 20 }, () => c.int(0, 1000)), xs);
});
