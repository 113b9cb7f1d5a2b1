import test from 'ava';
import { RktError } from '@rktnetes/errors';
import { parseCniErrorResult, parseCniVersionResult } from '@rktnetes/schema';
import {
  CNI_INTERNAL_ERROR,
  cniCodeOf,
  cniError,
  loadBridgeConfig,
  parseCniArgs,
  parseCniEnv,
  restoreCaCertsEnv,
  runPlugin,
  toCniErrorResult,
  type CniEnv,
} from '@rktnetes/cni-bridge';
import { invokeHere, removeBundle } from './helpers/sandbox';

test.after.always(() => removeBundle());

const baseEnv = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin:/usr/lib/cni' };

function env(over: Record<string, string | undefined> = {}): CniEnv {
  const e: NodeJS.ProcessEnv = { ...baseEnv };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete e[k];
    else e[k] = v;
  }
  return parseCniEnv(e);
}

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    return cniCodeOf(e);
  }
  return undefined;
}

const conf = (o: Record<string, unknown> = {}) => Buffer.from(JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'bridge', ...o }));

test('parses the CNI environment', (t) => {
  const e = env({ CNI_ARGS: 'IgnoreUnknown=1;IP=10.1.0.5;K8S_POD_NAME=a=b' });
  t.is(e.command, 'ADD');
  t.is(e.containerId, 'abc');
  t.is(e.netns, '/run/netns/x');
  t.deepEqual(e.path, ['/opt/cni/bin', '/usr/lib/cni']);
  t.deepEqual([...e.args], [
    ['IgnoreUnknown', '1'],
    ['IP', '10.1.0.5'],
    ['K8S_POD_NAME', 'a=b'],
  ]);
  t.is(env({ CNI_COMMAND: 'DEL', CNI_NETNS: undefined }).netns, undefined);
  t.is(parseCniEnv({ CNI_COMMAND: 'VERSION' }).command, 'VERSION');
  t.is(parseCniEnv({ CNI_COMMAND: 'GC' }).containerId, '');
  t.is(parseCniEnv({ CNI_COMMAND: 'STATUS' }).command, 'STATUS');
});

test('the CA bundle variable hidden by the shebang is put back', (t) => {
  t.deepEqual(restoreCaCertsEnv({ A: '1', CNI_BRIDGE_CA_CERTS: '/etc/ca.pem' }), { A: '1', NODE_EXTRA_CA_CERTS: '/etc/ca.pem' });
  t.deepEqual(restoreCaCertsEnv({ A: '1', CNI_BRIDGE_CA_CERTS: '' }), { A: '1' });
  const untouched = { A: '1', NODE_EXTRA_CA_CERTS: '/x' };
  t.is(restoreCaCertsEnv(untouched), untouched);
});

test('missing or malformed environment variables are code 4 naming the variable', (t) => {
  const cases: Array<[Record<string, string | undefined>, RegExp]> = [
    [{ CNI_COMMAND: undefined }, /^CNI_COMMAND/],
    [{ CNI_COMMAND: 'FROB' }, /^CNI_COMMAND "FROB"/],
    [{ CNI_CONTAINERID: undefined }, /^CNI_CONTAINERID is not set/],
    [{ CNI_CONTAINERID: '-bad' }, /^CNI_CONTAINERID/],
    [{ CNI_IFNAME: undefined }, /^CNI_IFNAME/],
    [{ CNI_IFNAME: 'a-very-long-interface-name' }, /^CNI_IFNAME/],
    [{ CNI_IFNAME: 'eth"0' }, /^CNI_IFNAME/],
    [{ CNI_NETNS: undefined }, /^CNI_NETNS/],
    [{ CNI_COMMAND: 'CHECK', CNI_NETNS: undefined }, /^CNI_NETNS/],
    [{ CNI_ARGS: 'novalue' }, /^CNI_ARGS/],
  ];
  for (const [over, msg] of cases) {
    const err = t.throws(() => env(over), undefined, JSON.stringify(over));
    t.is(cniCodeOf(err), 4, JSON.stringify(over));
    t.regex(err?.message ?? '', msg);
  }
  t.deepEqual([...parseCniArgs(';;A=1;')], [['A', '1']]);
});

test('applies the bridge defaults', (t) => {
  const c = loadBridgeConfig(conf({ isDefaultGateway: true, mtu: 0 }), env());
  t.is(c.bridge, 'cni0');
  t.true(c.isGateway);
  t.false(c.ipMasq);
  t.is(c.mtu, undefined);
  t.is(c.ipam, undefined);
  t.is(c.cniVersion, '1.0.0');
  // an empty ipam section means layer 2 only, as in the reference plugin
  t.is(loadBridgeConfig(conf({ ipam: {} }), env()).ipam, undefined);
});

test('the container MAC comes from runtimeConfig, args or CNI_ARGS, in that order', (t) => {
  t.is(loadBridgeConfig(conf(), env({ CNI_ARGS: 'MAC=0A:58:00:00:00:01' })).mac, '0a:58:00:00:00:01');
  t.is(loadBridgeConfig(conf({ args: { cni: { mac: '0a:58:00:00:00:02' } } }), env({ CNI_ARGS: 'MAC=0a:58:00:00:00:01' })).mac, '0a:58:00:00:00:02');
  t.is(
    loadBridgeConfig(conf({ runtimeConfig: { mac: '0a:58:00:00:00:03' }, args: { cni: { mac: '0a:58:00:00:00:02' } } }), env()).mac,
    '0a:58:00:00:00:03',
  );
  t.is(codeOf(() => loadBridgeConfig(conf({ runtimeConfig: { mac: 'zz' } }), env())), 7);
});

test('configuration errors carry the spec codes', (t) => {
  t.is(codeOf(() => loadBridgeConfig(Buffer.from('{not json'), env())), 6);
  t.is(codeOf(() => loadBridgeConfig(Buffer.from([0xff, 0xfe]), env())), 6);
  t.is(codeOf(() => loadBridgeConfig(conf({ name: '' }), env())), 7);
  t.is(codeOf(() => loadBridgeConfig(conf({ mtu: 'big' }), env())), 7);
  t.is(codeOf(() => loadBridgeConfig(conf({ ipam: { type: 'host-local', subnet: 'nope' } }), env())), 7);
  t.is(codeOf(() => loadBridgeConfig(conf({ hairpinMode: true, promiscMode: true }), env())), 7);
  t.is(codeOf(() => loadBridgeConfig(conf({ bridge: 'br#0' }), env())), 7);
  t.is(codeOf(() => loadBridgeConfig(conf({ cniVersion: '0.2.0' }), env())), 1);
  t.is(codeOf(() => loadBridgeConfig(conf({ cniVersion: '1.2.0' }), env())), 1);
  t.is(codeOf(() => loadBridgeConfig(conf({ cniVersion: undefined }), env())), 1);
  t.is(codeOf(() => loadBridgeConfig(conf({ cniVersion: '0.3.1' }), env({ CNI_COMMAND: 'CHECK' }))), 1);
  t.is(codeOf(() => loadBridgeConfig(conf({ prevResult: { ips: 'x' } }), env({ CNI_COMMAND: 'CHECK' }))), 7);
  // DEL tolerates an unreadable prevResult
  t.is(loadBridgeConfig(conf({ prevResult: { ips: 'x' } }), env({ CNI_COMMAND: 'DEL' })).prevResult, undefined);
});

test('fields of the reference plugin that are not implemented are code 2 naming key and value', (t) => {
  const err = t.throws(() => loadBridgeConfig(conf({ vlan: 100 }), env()));
  t.is(cniCodeOf(err), 2);
  t.regex(err?.message ?? '', /vlan.*100/);
  t.is(codeOf(() => loadBridgeConfig(conf({ macspoofchk: true }), env())), 2);
  // inert values are accepted
  t.notThrows(() => loadBridgeConfig(conf({ vlan: 0, macspoofchk: false }), env()));
});

test('errors become CNI error results', (t) => {
  const inner = new Error('RTNETLINK answers: Operation not permitted');
  const e = cniError(CNI_INTERNAL_ERROR, 'cni.bridge', 'could not add bridge cni0', { cause: inner });
  t.deepEqual(toCniErrorResult(e, '0.4.0'), {
    cniVersion: '0.4.0',
    code: 999,
    msg: 'could not add bridge cni0',
    details: 'RTNETLINK answers: Operation not permitted',
  });
  t.is(toCniErrorResult(new Error('boom'), '1.0.0').code, 999);
  t.is(toCniErrorResult(new RktError('schema.invalid', 'invalid CNI network config: name: must not be empty'), '1.0.0').code, 7);
  t.is(toCniErrorResult(cniError(11, 'cni.busy', 'later', { details: 'why' }), '1.0.0').details, 'why');
});

test('runPlugin answers VERSION with the caller version and the supported list', async (t) => {
  const out = await runPlugin({ env: { CNI_COMMAND: 'VERSION' }, stdin: Buffer.from('{"cniVersion":"0.3.1"}') });
  t.is(out.exitCode, 0);
  t.deepEqual(JSON.parse(out.stdout), { cniVersion: '0.3.1', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  const empty = await runPlugin({ env: { CNI_COMMAND: 'VERSION' }, stdin: Buffer.alloc(0) });
  t.is(JSON.parse(empty.stdout).cniVersion, '1.0.0');
});

test('runPlugin reports a missing netns as code 3 without touching anything', async (t) => {
  const out = await runPlugin({
    env: { ...baseEnv, CNI_NETNS: '/run/netns/rkt-test-does-not-exist' },
    stdin: conf({ cniVersion: '0.4.0' }),
  });
  t.is(out.exitCode, 1);
  const er = parseCniErrorResult(out.stdout);
  t.is(er.code, 3);
  t.is(er.cniVersion, '0.4.0');
  t.regex(er.msg, /does not exist/);
});

// the same, through the bundled executable

test('bin: VERSION', async (t) => {
  const r = await invokeHere('VERSION', { cniVersion: '1.0.0' });
  t.is(r.code, 0);
  t.deepEqual(parseCniVersionResult(r.stdout).supportedVersions, ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
});

test('bin: a missing variable is code 4 on stdout with exit 1', async (t) => {
  const r = await invokeHere('ADD', { cniVersion: '1.0.0', name: 'n', type: 'bridge' }, { ifName: 'eth0', netns: '/run/netns/x' });
  t.is(r.code, 1);
  const er = parseCniErrorResult(r.stdout);
  t.is(er.code, 4);
  t.regex(er.msg, /CNI_CONTAINERID/);
});

test('bin: an invalid config is code 7, malformed JSON code 6, an old version code 1', async (t) => {
  const o = { containerId: 'c1', ifName: 'eth0', netns: '/run/netns/x' };
  const bad = await invokeHere('ADD', { cniVersion: '1.0.0', name: 'n', type: 'bridge', ipam: { type: 'host-local', subnet: '10.0.0.0/99' } }, o);
  t.is(bad.code, 1);
  t.is(parseCniErrorResult(bad.stdout).code, 7);
  t.regex(parseCniErrorResult(bad.stdout).msg, /ipam\.subnet/);
  const garbled = await invokeHere('ADD', '{"cniVersion":', o);
  t.is(parseCniErrorResult(garbled.stdout).code, 6);
  const old = await invokeHere('DEL', { cniVersion: '0.2.0', name: 'n', type: 'bridge' }, o);
  t.is(parseCniErrorResult(old.stdout).code, 1);
  const unknown = await invokeHere('FROB', { cniVersion: '1.0.0', name: 'n', type: 'bridge' }, o);
  t.is(parseCniErrorResult(unknown.stdout).code, 4);
  const gcOld = await invokeHere('GC', { cniVersion: '1.0.0', name: 'n', type: 'bridge' }, {});
  t.is(parseCniErrorResult(gcOld.stdout).code, 1);
  t.regex(parseCniErrorResult(gcOld.stdout).msg, /does not allow GC/);
  const gcNoList = await invokeHere('GC', { cniVersion: '1.1.0', name: 'n', type: 'bridge' }, {});
  t.is(parseCniErrorResult(gcNoList.stdout).code, 7);
});
