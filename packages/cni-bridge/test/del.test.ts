import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { type ToolResult, cmdDel, loadBridgeConfig, masqChainName, masqComment, parseCniEnv } from '@rktnetes/cni-bridge';

const NETWORK = 'deltest';
const ID = 'ctr1';
const CHAIN = masqChainName(NETWORK, ID);
const C = `-m comment --comment "${masqComment(NETWORK, ID).replace(/"/g, '\\"')}"`;
const jump = (ip: string): string => `-A POSTROUTING -s ${ip}/32 ${C} -j ${CHAIN}`;

/** A nat table that iptables -S lists and iptables-restore changes, recording each restore. */
function fakeIptables(lines: string[], events: string[]) {
  return (tool: string, _args: readonly string[], opts: { input?: string | Buffer } = {}): ToolResult => {
    if (tool === 'iptables') return { status: 0, stdout: `${lines.join('\n')}\n`, stderr: '' };
    if (tool !== 'iptables-restore') throw new Error(`unexpected sync tool ${tool}`);
    for (const l of String(opts.input).split('\n')) {
      if (l.startsWith('-D ')) lines.splice(lines.indexOf(`-A ${l.slice(3)}`), 1);
      if (l.startsWith('-X ')) lines.splice(lines.indexOf(`-N ${l.slice(3)}`), 1);
      if (l.startsWith('-F ')) for (let i = lines.length - 1; i >= 0; i--) if (lines[i]?.startsWith(`-A ${l.slice(3)} `)) lines.splice(i, 1);
    }
    events.push(`restore ${String(opts.input).split('\n').filter((l) => l.startsWith('-')).join('; ')}`);
    return { status: 0, stdout: '', stderr: '' };
  };
}

function setup(t: { teardown(fn: () => void): void }, allocated: string[]) {
  const dataDir = mkdtempSync(join(tmpdir(), 'cni-del-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  mkdirSync(join(dataDir, NETWORK));
  for (const ip of allocated) writeFileSync(join(dataDir, NETWORK, ip), `${ID}\r\neth0`);
  const env = parseCniEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: ID, CNI_IFNAME: 'eth0', CNI_NETNS: '/run/netns/x' });
  const raw = { cniVersion: '1.0.0', name: NETWORK, type: 'cni-bridge', ipMasq: true, ipam: { type: 'host-local', subnet: '10.99.0.0/24', dataDir } };
  return { conf: loadBridgeConfig(Buffer.from(JSON.stringify(raw)), env), env };
}

const addrShow = (ips: string[]): string =>
  `${JSON.stringify([{ ifindex: 2, ifname: 'eth0', flags: [], mtu: 1500, addr_info: ips.map((local) => ({ family: 'inet', local, prefixlen: 24, scope: 'global' })) }])}\n`;

test('DEL removes the rules of the released addresses while the veth goes, then those only the container had', async (t) => {
  const { conf, env } = setup(t, ['10.99.0.2']);
  const events: string[] = [];
  const nat = ['-P POSTROUTING ACCEPT', `-N ${CHAIN}`, jump('10.99.0.2'), jump('10.99.0.7'), `-A ${CHAIN} -d 10.99.0.0/24 ${C} -j ACCEPT`];
  let finishLink: (() => void) | undefined;
  await cmdDel(conf, env, {
    run: fakeIptables(nat, events),
    runAsync: (tool, args, opts) => {
      t.is(tool, 'ip');
      t.deepEqual(args, ['-j', '-batch', '-']);
      t.is(opts?.netns, '/run/netns/x');
      events.push('link del started');
      return new Promise((resolve) => {
        finishLink = () => {
          events.push('link del done');
          resolve({ status: 0, stdout: addrShow(['10.99.0.2', '10.99.0.7']), stderr: '' });
        };
        // the kernel finishes only after the first rules are gone
        const poll = setInterval(() => {
          if (events.some((e) => e.startsWith('restore'))) {
            clearInterval(poll);
            finishLink?.();
          }
        }, 1);
      });
    },
  });
  t.deepEqual(events, [
    'link del started',
    `restore -D POSTROUTING -s 10.99.0.2/32 ${C} -j ${CHAIN}`,
    'link del done',
    `restore -D POSTROUTING -s 10.99.0.7/32 ${C} -j ${CHAIN}; -F ${CHAIN}; -X ${CHAIN}`,
  ]);
  t.deepEqual(nat, ['-P POSTROUTING ACCEPT']);
});

test('DEL reports a failed veth removal first and still releases the address and every rule', async (t) => {
  const { conf, env } = setup(t, []);
  const events: string[] = [];
  const nat = [`-N ${CHAIN}`, jump('10.99.0.9')];
  const err = await t.throwsAsync(
    cmdDel(conf, env, {
      run: fakeIptables(nat, events),
      runAsync: async () => ({ status: 2, stdout: '', stderr: 'RTNETLINK answers: Operation not permitted\nCommand failed -:2\n' }),
    }),
  );
  t.regex(err?.message ?? '', /failed to delete eth0 in \/run\/netns\/x/);
  // nothing known to IPAM: every jump to the attachment's chain goes, as before
  t.deepEqual(nat, []);
});
