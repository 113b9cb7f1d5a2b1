import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseCniResult } from '@rktnetes/schema';
import { runCommand, tmpDir } from '@rktnetes/testkit';
import {
  AllocationStore,
  candidates,
  cniCodeOf,
  formatIP,
  hostLocalAdd,
  hostLocalCheck,
  hostLocalDel,
  hostLocalGc,
  hostLocalStatus,
  isBuiltinHostLocal,
  parseIP,
  parseResolvConf,
  rangeSetsOf,
  type HostLocalRequest,
} from '@rktnetes/cni-bridge';

const DEBIAN_HOST_LOCAL = '/usr/lib/cni/host-local';

const ip = (s: string) => {
  const v = parseIP(s);
  if (!v) throw new Error(s);
  return v;
};

function req(dataDir: string, containerId: string, ipam: Record<string, unknown> = {}, extra: Partial<HostLocalRequest> = {}): HostLocalRequest {
  return {
    network: 'testnet',
    ipam: { type: 'host-local', subnet: '10.50.0.0/24', dataDir, ...ipam },
    containerId,
    ifName: 'eth0',
    ...extra,
  };
}

async function codeOfAsync(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (e) {
    return cniCodeOf(e);
  }
  return undefined;
}

test('range sets get host-local defaults', (t) => {
  const [set] = rangeSetsOf({ type: 'host-local', subnet: '10.1.0.0/24' });
  const r = set?.[0];
  if (!r) return t.fail();
  t.is(formatIP(r.start), '10.1.0.1');
  t.is(formatIP(r.end), '10.1.0.254');
  t.is(formatIP(r.gateway), '10.1.0.1');
  const [v6] = rangeSetsOf({ type: 'host-local', ranges: [[{ subnet: 'fd00:1::/120', gateway: 'fd00:1::fe' }]] });
  t.is(formatIP(v6?.[0]?.end ?? ip('::')), 'fd00:1::ff');
  t.is(formatIP(v6?.[0]?.gateway ?? ip('::')), 'fd00:1::fe');
  // the old single range comes before `ranges`
  const sets = rangeSetsOf({ type: 'host-local', subnet: '10.2.0.0/16', ranges: [[{ subnet: '10.3.0.0/24' }]] });
  t.deepEqual(
    sets.map((s) => s.map((x) => formatIP(x.subnet.ip))),
    [['10.2.0.0'], ['10.3.0.0']],
  );
});

test('bad ranges are code 7', (t) => {
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ subnet: '10.1.0.1/24' }, /host bits/],
    [{ subnet: '10.1.0.0/31' }, /too small/],
    [{ subnet: '10.1.0.0/24', rangeStart: '10.2.0.1' }, /rangeStart 10\.2\.0\.1 is not in network/],
    [{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.100', rangeEnd: '10.1.0.50' }, /after rangeEnd/],
    [{ ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.1.0.0/25' }]] }, /range set 0 overlaps with 1/],
    [{ ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: 'fd00::/64' }]] }, /mixes/],
    [{}, /no IP ranges/],
  ];
  for (const [ipam, msg] of bad) {
    const e = t.throws(() => rangeSetsOf({ type: 'host-local', ...ipam }), undefined, JSON.stringify(ipam));
    t.is(cniCodeOf(e), 7);
    t.regex(e?.message ?? '', msg);
  }
});

test('candidates go round robin from the last reservation and skip the gateway', (t) => {
  const [set] = rangeSetsOf({ type: 'host-local', ranges: [[{ subnet: '10.1.0.0/29' }, { subnet: '10.1.1.0/30' }]] });
  if (!set) return t.fail();
  const all = (last?: string) => [...candidates(set, last ? ip(last) : undefined)].map((c) => formatIP(c.ip));
  t.deepEqual(all(), ['10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.5', '10.1.0.6', '10.1.1.2']);
  t.deepEqual(all('10.1.0.4'), ['10.1.0.5', '10.1.0.6', '10.1.1.2', '10.1.0.2', '10.1.0.3', '10.1.0.4']);
  t.deepEqual(all('10.1.1.2'), ['10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.5', '10.1.0.6', '10.1.1.2']);
  // an address outside the set is ignored
  t.deepEqual(all('192.168.0.1'), all());
});

test('allocates in order, records files in the reference format and releases', async (t) => {
  const dir = await tmpDir('ipam', t);
  const a = await hostLocalAdd(req(dir, 'ctr-a', { routes: [{ dst: '0.0.0.0/0' }] }));
  t.deepEqual(a, { ips: [{ address: '10.50.0.2/24', gateway: '10.50.0.1' }], routes: [{ dst: '0.0.0.0/0' }] });
  const b = await hostLocalAdd(req(dir, 'ctr-b'));
  t.is(b.ips[0]?.address, '10.50.0.3/24');
  const netDir = join(dir, 'testnet');
  t.deepEqual(readdirSync(netDir).sort(), ['10.50.0.2', '10.50.0.3', 'last_reserved_ip.0', 'lock']);
  t.is(readFileSync(join(netDir, '10.50.0.2'), 'utf8'), 'ctr-a\r\neth0');
  t.is(readFileSync(join(netDir, 'last_reserved_ip.0'), 'utf8'), '10.50.0.3');
  t.deepEqual((await hostLocalDel(req(dir, 'ctr-a'))).map(formatIP), ['10.50.0.2']);
  t.deepEqual(await hostLocalDel(req(dir, 'ctr-a')), [], 'releasing twice is fine');
  // round robin: the released .2 is not handed out again before the range wraps
  const c = await hostLocalAdd(req(dir, 'ctr-c'));
  t.is(c.ips[0]?.address, '10.50.0.4/24');
  await t.notThrowsAsync(hostLocalCheck(req(dir, 'ctr-c'), [ip('10.50.0.4')]));
  t.is(await codeOfAsync(hostLocalCheck(req(dir, 'ctr-c'), [ip('10.50.0.3')])), 999);
  t.is(await codeOfAsync(hostLocalCheck(req(dir, 'ctr-a'))), 999);
});

test('refuses a second allocation for the same attachment, honours requested addresses, reports exhaustion', async (t) => {
  const dir = await tmpDir('ipam', t);
  await hostLocalAdd(req(dir, 'ctr-a'));
  t.is(await codeOfAsync(hostLocalAdd(req(dir, 'ctr-a'))), 999);
  // another interface of the same container is another attachment
  t.is((await hostLocalAdd(req(dir, 'ctr-a', {}, { ifName: 'eth1' }))).ips[0]?.address, '10.50.0.3/24');
  t.is((await hostLocalAdd(req(dir, 'ctr-r', {}, { requested: ['10.50.0.77'] }))).ips[0]?.address, '10.50.0.77/24');
  t.is(await codeOfAsync(hostLocalAdd(req(dir, 'ctr-s', {}, { requested: ['10.50.0.77'] }))), 999);
  t.is(await codeOfAsync(hostLocalAdd(req(dir, 'ctr-g', {}, { requested: ['10.50.0.1'] }))), 999);
  t.is(await codeOfAsync(hostLocalAdd(req(dir, 'ctr-o', {}, { requested: ['10.60.0.1'] }))), 999);
  t.is(await codeOfAsync(hostLocalAdd(req(dir, 'ctr-x', {}, { requested: ['nope'] }))), 7);
  t.false(readdirSync(join(dir, 'testnet')).includes('10.60.0.1'));

  const small = await tmpDir('ipam', t);
  t.is((await hostLocalAdd(req(small, 'one', { subnet: '10.51.0.0/30' }))).ips[0]?.address, '10.51.0.2/30');
  const e = await t.throwsAsync(hostLocalAdd(req(small, 'two', { subnet: '10.51.0.0/30' })));
  t.is(cniCodeOf(e), 999);
  t.regex(e?.message ?? '', /no IP addresses available in range set: 10\.51\.0\.1-10\.51\.0\.2/);
});

test('one address per range set, released together when one set fails', async (t) => {
  const dir = await tmpDir('ipam', t);
  const dual = { subnet: undefined, ranges: [[{ subnet: '10.52.0.0/24' }], [{ subnet: 'fd00:52::/64' }]] };
  const r = await hostLocalAdd(req(dir, 'ctr-d', dual));
  t.deepEqual(r.ips, [
    { address: '10.52.0.2/24', gateway: '10.52.0.1' },
    { address: 'fd00:52::2/64', gateway: 'fd00:52::1' },
  ]);
  t.true(readdirSync(join(dir, 'testnet')).includes('last_reserved_ip.1'));
  // the v6 address is taken: the v4 one reserved first must be given back
  await hostLocalAdd(req(dir, 'ctr-e', dual, { requested: ['fd00:52::9'] }));
  const before = readdirSync(join(dir, 'testnet')).sort();
  t.is(await codeOfAsync(hostLocalAdd(req(dir, 'ctr-f', dual, { requested: ['fd00:52::9'] }))), 999);
  t.deepEqual(readdirSync(join(dir, 'testnet')).sort(), before);
});

test('the flock(1) fallback serialises like the in-process flock', async (t) => {
  const dir = await tmpDir('ipam', t);
  const store = await AllocationStore.open(dir, 'net', { forceHelper: true });
  t.is(store.lockedVia, 'flock(1)');
  // while the helper holds the lock, a non-blocking attempt from this process fails
  const { realSys } = await import('@rktnetes/sys');
  const { openSync, closeSync } = await import('node:fs');
  const fd = openSync(join(dir, 'net', 'lock'), 'r+');
  t.false(realSys().flock(fd, 'ex', { nonBlocking: true }));
  await store.close();
  t.true(realSys().flock(fd, 'ex', { nonBlocking: true }));
  closeSync(fd);
  const s2 = await AllocationStore.open(dir, 'net');
  t.is(s2.lockedVia, 'flock');
  await s2.close();
});

test('resolvConf and the built-in host-local switch', (t) => {
  t.deepEqual(parseResolvConf('# c\nnameserver 10.0.0.53\nnameserver fd00::53\ndomain example.test\nsearch a.test b.test\noptions ndots:2 rotate\n'), {
    nameservers: ['10.0.0.53', 'fd00::53'],
    domain: 'example.test',
    search: ['a.test', 'b.test'],
    options: ['ndots:2', 'rotate'],
  });
  t.true(isBuiltinHostLocal({ type: 'host-local', subnet: '10.0.0.0/24', routes: [], dataDir: '/x', resolvConf: '/etc/resolv.conf' }));
  t.false(isBuiltinHostLocal({ type: 'host-local', subnet: '10.0.0.0/24', somethingNew: true }));
  t.false(isBuiltinHostLocal({ type: 'dhcp' }));
});

function debianHostLocal(command: string, dataDir: string, containerId: string) {
  const conf = { cniVersion: '1.0.0', name: 'testnet', type: 'bridge', ipam: { type: 'host-local', subnet: '10.50.0.0/24', dataDir } };
  return runCommand(DEBIAN_HOST_LOCAL, [], {
    input: JSON.stringify(conf),
    env: { CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: '/run/netns/none', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
  });
}

test('shares an allocation directory with Debian host-local', async (t) => {
  const dir = await tmpDir('ipam', t);
  await hostLocalAdd(req(dir, 'ours-1'));
  const theirs = await debianHostLocal('ADD', dir, 'theirs-1');
  t.is(theirs.code, 0, theirs.stderr);
  t.is(parseCniResult(theirs.stdout).ips?.[0]?.address, '10.50.0.3/24', 'Debian continues after our last reservation');
  t.is((await hostLocalAdd(req(dir, 'ours-2'))).ips[0]?.address, '10.50.0.4/24', 'and we after theirs');
  // each finds and releases the other's allocations
  await t.notThrowsAsync(hostLocalCheck(req(dir, 'theirs-1')));
  t.is((await debianHostLocal('CHECK', dir, 'ours-1')).code, 0);
  t.is((await debianHostLocal('DEL', dir, 'ours-1')).code, 0);
  t.deepEqual((await hostLocalDel(req(dir, 'theirs-1'))).map(formatIP), ['10.50.0.3']);
  t.deepEqual(readdirSync(join(dir, 'testnet')).sort(), ['10.50.0.4', 'last_reserved_ip.0', 'lock']);
});

test('GC keeps valid attachments and releases the rest; STATUS reports exhaustion as code 50', async (t) => {
  const dir = await tmpDir('ipam', t);
  const ipam = { subnet: '10.53.0.0/29' };
  for (const id of ['keep', 'stale-1', 'stale-2']) await hostLocalAdd(req(dir, id, ipam));
  await hostLocalAdd(req(dir, 'keep', ipam, { ifName: 'eth1' }));
  const net = { network: 'testnet', ipam: { type: 'host-local', subnet: '10.53.0.0/29', dataDir: dir } };
  await t.notThrowsAsync(hostLocalStatus(net));
  const released = await hostLocalGc(net, [{ containerId: 'keep', ifName: 'eth0' }]);
  t.deepEqual(released.map(formatIP).sort(), ['10.53.0.3', '10.53.0.4', '10.53.0.5']);
  t.deepEqual(readdirSync(join(dir, 'testnet')).sort(), ['10.53.0.2', 'last_reserved_ip.0', 'lock']);
  // /29: .2-.6 usable; fill them all
  for (const id of ['f1', 'f2', 'f3', 'f4']) await hostLocalAdd(req(dir, id, ipam));
  const e = await t.throwsAsync(hostLocalStatus(net));
  t.is(cniCodeOf(e), 50);
});
