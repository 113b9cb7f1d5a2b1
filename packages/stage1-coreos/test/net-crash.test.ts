/**
 * gc after crashes: a pod whose processes were SIGKILLed, and a stage1 killed in the middle of
 * its network setup (a plugin that never answers ADD). gc works from net-info.json and the files
 * written before each ADD, and leaves nothing behind. Privileged; runs in a sandbox namespace.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetSandbox, canRunNetTests, waitFor } from './helpers/net-sandbox';

const it = canRunNetTests() ? test : test.skip;

async function sandbox(t: ExecutionContext): Promise<NetSandbox> {
  const s = await new NetSandbox().open();
  t.teardown(() => s.close());
  return s;
}

const SLEEPER = { exec: ['/bin/sleep', '1000'], app: { ports: [{ name: 'http', protocol: 'tcp', port: 80 }] } };

it('gc after SIGKILL of the pod processes removes networks, forwarded ports and the namespace', async (t) => {
  const s = await sandbox(t);
  const pod = await s.startPod(await s.image('sleeper', SLEEPER), ['--port=http:8090']);
  // run adds the forwarding rules just after it records the addresses: wait for them
  await waitFor('the port forwarding rules', async () => ((await s.rules()).some((r) => r.includes('RKT-PFWD')) ? true : undefined));
  t.is((await s.veths()).length, 1);
  // the run process became the init's parent; PID 1 and the app die with it (parent-death signal)
  pod.child.kill('SIGKILL');
  await pod.done;
  await waitFor('the pod to count as exited', async () => ((await s.rkt(['status', pod.uuid])).stdout.includes('state=exited') ? true : undefined));
  t.true(existsSync(`/run/netns/rkt-${pod.uuid}`), 'nothing is released before gc');
  const gc = await s.gc();
  t.is(gc.code, 0, gc.stderr);
  t.deepEqual(await s.leftovers(), []);
});

it('gc after stage1 was SIGKILLed during ADD: DEL for every network recorded before it', async (t) => {
  const s = await sandbox(t);
  const log = join(s.root, 'hang.log');
  const pidFile = join(s.root, 'hang.pid');
  // a plugin found in the local net.d (rkt's plugin path) that never finishes ADD
  writeFileSync(
    join(s.localConfig, 'net.d', 'hang-plugin'),
    `#!/bin/sh\necho "$CNI_COMMAND $CNI_IFNAME $CNI_CONTAINERID" >> ${log}\nif [ "$CNI_COMMAND" = ADD ]; then echo $$ > ${pidFile}; exec sleep 1000; fi\nexit 0\n`,
    { mode: 0o755 },
  );
  // file name order: the default network (99-default.conf) joins before zz-hang.conf
  s.writeNet('zz-hang.conf', { cniVersion: '1.0.0', name: 'hang', type: 'hang-plugin' });
  const uuidFile = join(s.root, 'hang.uuid');
  const child = s.spawnRkt(s.runArgs(await s.image('sleeper', SLEEPER), ['--net=default,hang'], uuidFile));
  const exited = new Promise((r) => child.on('close', r));
  const hangPid = await waitFor('the hanging ADD', () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) || undefined : undefined), 60_000);
  const uuid = readFileSync(uuidFile, 'utf8').trim();
  s.track(uuid);
  const [def, hang] = s.netInfo(uuid);
  t.like(def, { netName: 'default', ifName: 'eth0' });
  t.regex(def!.ip, /^172\.16\.28\./, 'the default network was added');
  t.like(hang, { netName: 'hang', ifName: 'eth1', ip: '' }, 'the hanging network is recorded before its ADD');
  child.kill('SIGKILL');
  process.kill(hangPid, 'SIGKILL');
  await exited;
  await waitFor('the pod to count as exited', async () => ((await s.rkt(['status', uuid])).stdout.includes('state=exited') ? true : undefined));
  const gc = await s.gc();
  t.is(gc.code, 0, gc.stderr);
  t.deepEqual(await s.leftovers(), []);
  t.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), [`ADD eth1 ${uuid}`, `DEL eth1 ${uuid}`], 'the plugin got its DEL');
});
