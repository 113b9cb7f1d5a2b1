/**
 * Concurrency: 20 pods started at once on the default network get 20 different addresses, and
 * gc of all of them leaves nothing behind. Privileged; runs in a sandbox namespace.
 */
import test from 'ava';
import { NetSandbox, canRunNetTests } from './helpers/net-sandbox';

const it = canRunNetTests() ? test : test.skip;
const PODS = 20;

it(`${PODS} concurrent pods on the default network get unique addresses`, async (t) => {
  t.timeout(600_000);
  const s = await new NetSandbox().open();
  t.teardown(() => s.close());
  const image = await s.image('addr', { exec: ['/bin/sh', '-c', 'ip -4 -o addr show eth0'] });
  // import the images once, so that the concurrent runs only read the store
  t.is((await s.rkt(['fetch', '--insecure-options=image', image, s.stage1])).code, 0);
  const runs = await Promise.all(Array.from({ length: PODS }, () => s.runPod(image, ['--net=default'])));
  for (const r of runs) t.is(r.code, 0, r.stderr);
  const ips = runs.map((r) => s.netInfo(r.uuid)[0]?.ip ?? '');
  t.is(new Set(ips).size, PODS, `addresses: ${ips.join(' ')}`);
  for (const [i, r] of runs.entries()) t.true(r.stdout.includes(`inet ${ips[i]}/24`), r.stdout);
  const gc = await s.gc();
  t.is(gc.code, 0, gc.stderr);
  t.deepEqual(await s.leftovers(), []);
});
