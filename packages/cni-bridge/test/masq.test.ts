import test from 'ava';
import { chainState, jumpSource, masqChainName, masqComment, masqRules, masqSetupScript, masqTeardownScript, parseCIDR } from '@rktnetes/cni-bridge';

const net = (s: string) => {
  const n = parseCIDR(s);
  if (!n) throw new Error(s);
  return n;
};

test('chain names and comments match the reference plugins', (t) => {
  // observed from Debian's /usr/lib/cni/bridge for network "mynet", container "c1"
  t.is(masqChainName('mynet', 'c1'), 'CNI-f0bca4ac77cde1bf2f3da5df');
  t.is(masqChainName('mynet', 'c1').length, 28);
  t.is(masqComment('mynet', 'c1'), 'name: "mynet" id: "c1"');
});

const CHAIN = 'CNI-f0bca4ac77cde1bf2f3da5df';
const C = '-m comment --comment "name: \\"mynet\\" id: \\"c1\\""';

test('rules are written as iptables -S prints them', (t) => {
  const r = masqRules(CHAIN, masqComment('mynet', 'c1'), [net('10.88.0.2/24')]);
  t.deepEqual(r.jumps, [`-A POSTROUTING -s 10.88.0.2/32 ${C} -j ${CHAIN}`]);
  t.deepEqual(r.chainRules, [`-A ${CHAIN} -d 10.88.0.0/24 ${C} -j ACCEPT`, `-A ${CHAIN} ! -d 224.0.0.0/4 ${C} -j MASQUERADE`]);
  const v6 = masqRules(CHAIN, 'x', [net('fd00::2/64')]);
  t.deepEqual(v6.jumps, [`-A POSTROUTING -s fd00::2/128 -m comment --comment "x" -j ${CHAIN}`]);
  t.is(v6.chainRules[1], `-A ${CHAIN} ! -d ff00::/8 -m comment --comment "x" -j MASQUERADE`);
});

const listing = [
  '-P POSTROUTING ACCEPT',
  `-N ${CHAIN}`,
  '-N CNI-other',
  `-A POSTROUTING -s 10.88.0.2/32 ${C} -j ${CHAIN}`,
  `-A POSTROUTING -s 10.88.0.9/32 ${C} -j ${CHAIN}`,
  '-A POSTROUTING -s 10.88.0.3/32 -j CNI-other',
  `-A ${CHAIN} -d 10.88.0.0/24 ${C} -j ACCEPT`,
  `-A ${CHAIN} ! -d 224.0.0.0/4 ${C} -j MASQUERADE`,
].join('\n');

test('reads a chain from iptables -S', (t) => {
  const s = chainState(listing, CHAIN);
  t.true(s.exists);
  t.is(s.jumps.length, 2);
  t.is(s.rules.length, 2);
  t.is(jumpSource(s.jumps[0] ?? ''), '10.88.0.2');
  t.false(chainState(listing, 'CNI-none').exists);
});

test('setup adds only what is missing', (t) => {
  const wanted = masqRules(CHAIN, masqComment('mynet', 'c1'), [net('10.88.0.2/24')]);
  t.is(masqSetupScript(chainState(listing, CHAIN), CHAIN, wanted), undefined);
  const fresh = masqSetupScript(chainState('', CHAIN), CHAIN, wanted);
  t.is(fresh, `*nat\n:${CHAIN} - [0:0]\n${wanted.chainRules.join('\n')}\n${wanted.jumps.join('\n')}\nCOMMIT\n`);
  // a second subnet keeps the first ACCEPT and the MASQUERADE last
  const more = masqRules(CHAIN, masqComment('mynet', 'c1'), [net('10.89.0.2/24')]);
  const script = masqSetupScript(chainState(listing, CHAIN), CHAIN, more) ?? '';
  const lines = script.split('\n');
  t.deepEqual(lines.slice(1, 5), [`-F ${CHAIN}`, `-A ${CHAIN} -d 10.88.0.0/24 ${C} -j ACCEPT`, `-A ${CHAIN} -d 10.89.0.0/24 ${C} -j ACCEPT`, `-A ${CHAIN} ! -d 224.0.0.0/4 ${C} -j MASQUERADE`]);
  t.is(lines[5], `-A POSTROUTING -s 10.89.0.2/32 ${C} -j ${CHAIN}`);
});

test('teardown removes named jumps, and the chain once nothing jumps to it', (t) => {
  const s = chainState(listing, CHAIN);
  t.is(masqTeardownScript(s, CHAIN, ['10.88.0.2']), `*nat\n-D POSTROUTING -s 10.88.0.2/32 ${C} -j ${CHAIN}\nCOMMIT\n`);
  t.is(
    masqTeardownScript(s, CHAIN, undefined),
    `*nat\n-D POSTROUTING -s 10.88.0.2/32 ${C} -j ${CHAIN}\n-D POSTROUTING -s 10.88.0.9/32 ${C} -j ${CHAIN}\n-F ${CHAIN}\n-X ${CHAIN}\nCOMMIT\n`,
  );
  t.is(masqTeardownScript(chainState('', CHAIN), CHAIN, undefined), undefined);
  t.is(masqTeardownScript(chainState(`-N ${CHAIN}`, CHAIN), CHAIN, ['10.1.1.1']), `*nat\n-F ${CHAIN}\n-X ${CHAIN}\nCOMMIT\n`);
});
