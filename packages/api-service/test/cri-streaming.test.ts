/**
 * Exec, Attach and PortForward end to end, as root: the bundled `rkt-api-service cri` with the
 * real rkt and stage1-coreos, busybox pods, and the streaming server driven by real clients
 * (spdy-transport for SPDY/3.1, ws for WebSockets; helpers/k8s-streams.ts). Two pods on the pod
 * network and one on the host's; everything removed and checked for leaks at the end.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasBusybox, hasTool, isRoot, type LeakCompare } from '@rktnetes/testkit';
import { bundlesPresent, fails, finishCri, freePort, grpc, startCriSuite, type CriClient, type CriServer, type Registry } from './cri-fixture';
import { plainStatus, spdyCommand, spdyConnect, spdyForward, wsCommand, wsForward } from './helpers/k8s-streams';

const enabled = isRoot() && hasBusybox() && bundlesPresent() && hasTool('docker-registry') && hasTool('skopeo');
const it = enabled ? test : test.skip;
const serial = enabled ? test.serial : test.skip;
const Code = grpc.status;

interface Pod {
  sandbox: string;
  uuid: string;
  /** a container running `sleep` */
  main: string;
}

interface Env {
  cri: CriServer;
  client: CriClient;
  registry: Registry;
  image: string;
  check: LeakCompare;
  seen: Set<string>;
  pods: Pod[];
  hostPod: Pod;
  hostPort: number;
}

let env: Env | undefined;
const cleanups: Array<() => unknown> = [];
const hooks = { teardown: (fn: () => unknown) => void cleanups.push(fn) };

async function runPod(client: CriClient, image: string, name: string, hostNetwork = false, seen?: Set<string>): Promise<Pod> {
  const config = {
    metadata: { name, namespace: 'streaming', uid: `uid-${name}`, attempt: 0 },
    hostname: hostNetwork ? '' : name,
    linux: hostNetwork ? { security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } } : {},
  };
  const { pod_sandbox_id: sandbox } = await client.runtime('RunPodSandbox', { config });
  const st = await client.runtime('PodSandboxStatus', { pod_sandbox_id: sandbox, verbose: true });
  const uuid = JSON.parse(st.info.info).podUuid as string;
  seen?.add(uuid);
  if (st.status.network.ip) seen?.add(st.status.network.ip);
  const main = await container(client, sandbox, config, { metadata: { name: 'main' }, image: { image }, command: ['sleep', '3600'] });
  return { sandbox, uuid, main };
}

async function container(client: CriClient, sandbox: string, sandboxConfig: object, config: Record<string, unknown>): Promise<string> {
  const { container_id: id } = await client.runtime('CreateContainer', { pod_sandbox_id: sandbox, config, sandbox_config: sandboxConfig });
  await client.runtime('StartContainer', { container_id: id });
  return id;
}

test.before(async () => {
  if (!enabled) return;
  const { check, registry, cri, client, image } = await startCriSuite(hooks);
  const seen = new Set([cri.dataDir]);
  const [a, b, hostPod] = await Promise.all([runPod(client, image, 'pod-a', false, seen), runPod(client, image, 'pod-b', false, seen), runPod(client, image, 'pod-host', true, seen)]);
  const hostPort = await freePort();
  env = { cri, client, registry, image, check, seen, pods: [a!, b!], hostPod: hostPod!, hostPort };
});

test.after.always(async (t) => {
  if (!env) return;
  const { cri } = env;
  await finishCri(t, env, cleanups, {
    // nothing of the sessions is left running
    afterStop: () => {
      const stray = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.includes(cri.dataDir) && /\b(attach|exec)\b/.test(l));
      t.deepEqual(stray, [], 'no rkt exec or attach left running');
    },
  });
});


const execUrl = async (cid: string, cmd: string[], o: { stdin?: boolean; stderr?: boolean; tty?: boolean } = {}) =>
  (await env!.client.runtime('Exec', { container_id: cid, cmd, stdin: !!o.stdin, stdout: true, stderr: !!o.stderr, tty: !!o.tty })).url as string;

const status = (error: string) => JSON.parse(error) as { status: string; reason?: string; details?: { causes: Array<{ reason: string; message: string }> } };

/** The number of open fds of the server process. */
const serverFds = () => readdirSync(`/proc/${env!.cri.child.pid}/fd`).length;

// ------------------------------------------------------------------------------ exec

it('exec without a terminal: stdout and stderr apart, stdin, exit codes, SPDY and WebSocket', async (t) => {
  const { pods, cri } = env!;
  const [a] = pods;
  const url = await execUrl(a!.main, ['sh', '-c', 'echo out; echo err >&2; exit 3'], { stderr: true });
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]+$/);
  t.true(cri.stderr().includes(`streaming on http://${new URL(url).host}`));
  const r = await spdyCommand(url, { stderr: true });
  t.is(r.stdout, 'out\n');
  t.is(r.stderr, 'err\n');
  t.like(status(r.error), { status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
  const big = 'x'.repeat(1 << 20);
  const cat = await spdyCommand(await execUrl(a!.main, ['sh', '-c', 'wc -c; echo done'], { stdin: true, stderr: true }), { stdin: big, stderr: true });
  t.is(cat.stdout.replace(/\s+/g, ' ').trim(), `${1 << 20} done`);
  t.deepEqual(status(cat.error), { metadata: {}, status: 'Success' } as never);
  const ws = await wsCommand(await execUrl(a!.main, ['cat'], { stdin: true }), { protocol: 'v5.channel.k8s.io', stdin: 'over a websocket\n' });
  t.is(ws.stdout, 'over a websocket\n');
  t.is(status(ws.error).status, 'Success');
  const ws4 = await wsCommand(await execUrl(a!.main, ['sh', '-c', 'echo $HOSTNAME; exit 9']), { protocol: 'v4.base64.channel.k8s.io' });
  t.is(ws4.stdout, 'pod-a\n');
  t.is(status(ws4.error).details!.causes[0]!.message, '9');
  const missing = await spdyCommand(await execUrl(a!.main, ['/no/such/program'], { stderr: true }), { stderr: true });
  t.not(status(missing.error).status, 'Success');
});

it('exec with a terminal: controlling terminal, initial size, resizes as SIGWINCH', async (t) => {
  const [a] = env!.pods;
  // a signal interrupts read: read until a line came
  const script = 'trap "echo winch; stty size" WINCH; stty size; echo ready; x=; until [ -n "$x" ]; do read x; done; echo "got $x"; exit 7';
  let resized = false;
  const r = await spdyCommand(await execUrl(a!.main, ['sh', '-c', script], { stdin: true, tty: true }), {
    tty: true,
    keepStdin: true,
    resizes: [{ Width: 100, Height: 30 }],
    onStdout: (_c, all) => {
      if (all.includes('ready') && !resized) {
        resized = true;
        return { resize: { Width: 120, Height: 40 } };
      }
      if (all.includes('40 120')) return { stdin: 'line\r', endStdin: true };
      return undefined;
    },
  });
  t.is(r.stderr, '');
  const lines = r.stdout.split('\r\n');
  t.true(lines.includes('30 100'), r.stdout);
  t.true(lines.includes('winch'), r.stdout);
  t.true(lines.includes('40 120'), r.stdout);
  t.true(lines.includes('got line'), r.stdout);
  t.like(status(r.error), { reason: 'NonZeroExitCode', details: { causes: [{ message: '7' }] } });
});

// serial: the server's fds are counted
serial('a client that goes away takes its command with it', async (t) => {
  const { client, pods } = env!;
  const [, b] = pods;
  const fds = serverFds();
  const s = await spdyConnect(await execUrl(b!.main, ['sleep', '4242'], { stderr: true }), ['v4.channel.k8s.io']);
  if ('status' in s) return t.fail();
  await s.open({ streamtype: 'error' });
  await s.open({ streamtype: 'stdout' });
  await s.open({ streamtype: 'stderr' });
  const running = async () => (await client.runtime('ExecSync', { container_id: b!.main, cmd: ['ps', '-o', 'args'], timeout: 10 })).stdout.toString().includes('sleep 4242');
  for (let i = 0; i < 50 && !(await running()); i++) await sleep(100);
  t.true(await running(), 'the command runs');
  s.close();
  for (let i = 0; i < 100 && (await running()); i++) await sleep(100);
  t.false(await running(), 'the command is gone');
  for (let i = 0; i < 50 && serverFds() > fds; i++) await sleep(100);
  t.true(serverFds() <= fds, 'the server closed what the session opened');
});

// ------------------------------------------------------------------------------ attach

it('attach: a shell container’s stdin, stdout and stderr; detaching on stdin end', async (t) => {
  const { client, image, pods } = env!;
  const [a] = pods;
  const sh = await container(client, a!.sandbox, {}, { metadata: { name: 'shell' }, image: { image }, command: ['sh'], stdin: true });
  const url = (await client.runtime('Attach', { container_id: sh, stdin: true, stdout: true, stderr: true })).url as string;
  t.regex(url, /\/attach\//);
  const r = await spdyCommand(url, { stdin: 'echo attached; echo oops >&2\n', stderr: true });
  t.is(r.stdout, 'attached\n');
  t.is(r.stderr, 'oops\n');
  t.is(status(r.error).status, 'Success');
  const st = await client.runtime('ContainerStatus', { container_id: sh });
  t.is(st.status.state, 'CONTAINER_RUNNING', 'detaching leaves the container running');
  // again, over a WebSocket
  const again = await wsCommand((await client.runtime('Attach', { container_id: sh, stdin: true, stdout: true, stderr: true })).url, {
    protocol: 'v5.channel.k8s.io',
    stdin: 'echo again\n',
  });
  t.is(again.stdout, 'again\n');
});

it('attach to a container with a terminal: its size follows the client', async (t) => {
  const { client, image, pods } = env!;
  const [b] = pods;
  const tty = await container(client, b!.sandbox, {}, { metadata: { name: 'tty' }, image: { image }, command: ['sh'], stdin: true, tty: true });
  const url = (await client.runtime('Attach', { container_id: tty, stdin: true, stdout: true, stderr: false, tty: true })).url as string;
  let asked = false;
  const r = await spdyCommand(url, {
    tty: true,
    keepStdin: true,
    resizes: [{ Width: 99, Height: 33 }],
    onStdout: (_c, all) => {
      if (!asked) {
        asked = true;
        return { stdin: 'stty size; echo "sum $((40+2))"\r' };
      }
      if (all.includes('sum 42')) return { endStdin: true };
      return undefined;
    },
  });
  t.true(r.stdout.includes('33 99'), r.stdout);
  t.is(status(r.error).status, 'Success');
});

// ------------------------------------------------------------------------------ port forward

/** Starts an echo server (`nc -ll -e cat`) in a pod and waits until `probe` reaches it. */
async function echoServer(sandbox: string, port: number, probe: () => Promise<string>): Promise<void> {
  const { client, image } = env!;
  await container(client, sandbox, {}, { metadata: { name: `echo-${port}` }, image: { image }, command: ['nc', '-ll', '-p', String(port), '-e', 'cat'] });
  for (let i = 0; i < 100; i++) {
    if ((await probe().catch(() => '')) === 'ping') return;
    await sleep(100);
  }
  throw new Error(`the echo server on port ${port} did not start`);
}

it('port forward into the pod network namespace: SPDY and WebSocket, parallel connections, a refused port', async (t) => {
  const { client, pods } = env!;
  const [a] = pods;
  const pfUrl = async () => (await client.runtime('PortForward', { pod_sandbox_id: a!.sandbox, port: [8080] })).url as string;
  const session = await spdyConnect(await pfUrl(), ['portforward.k8s.io']);
  if ('status' in session) return t.fail();
  let id = 0;
  await echoServer(a!.sandbox, 8080, async () => (await spdyForward(session, 8080, ++id, 'ping')).data);
  const payloads = Array.from({ length: 8 }, (_, i) => `connection ${i} `.repeat(1000 * (i + 1)));
  const echoed = await Promise.all(payloads.map((p) => spdyForward(session, 8080, ++id, p)));
  t.deepEqual(
    echoed.map((e) => e.data),
    payloads,
  );
  t.true(echoed.every((e) => e.error === ''));
  const refused = await spdyForward(session, 8081, ++id, 'x');
  t.regex(refused.error, /failed to connect to localhost:8081 inside the pod: .*connection refused/);
  session.close();
  // the host's loopback is not the pod's
  const onHost = await new Promise<boolean>((resolve) => {
    const s = net.connect(8080, '127.0.0.1', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
  if (!onHost) t.pass('nothing listens on the host loopback port');
  const ws = await wsForward(await pfUrl(), [{ port: 8080, send: 'over a websocket', expect: 16 }]);
  t.is(ws[0]!.data, 'over a websocket');
  t.deepEqual(ws[0]!.first, [8080, 8080]);
});

it('port forward in a host-network sandbox reaches the host loopback', async (t) => {
  const { client, hostPod, hostPort } = env!;
  const session = await spdyConnect((await client.runtime('PortForward', { pod_sandbox_id: hostPod.sandbox })).url, ['portforward.k8s.io']);
  if ('status' in session) return t.fail();
  let id = 0;
  await echoServer(hostPod.sandbox, hostPort, async () => (await spdyForward(session, hostPort, ++id, 'ping')).data);
  t.is((await spdyForward(session, hostPort, ++id, 'from the host network')).data, 'from the host network');
  session.close();
  // it is the host's own loopback
  const direct = await new Promise<string>((resolve, reject) => {
    let got = '';
    const s = net.connect(hostPort, '127.0.0.1', () => s.end('direct'));
    s.on('data', (d) => (got += d));
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
  t.is(direct, 'direct');
});

// ------------------------------------------------------------------------------ several pods, requests

it('sessions in two pods at once', async (t) => {
  const { pods } = env!;
  const runs = await Promise.all(
    pods.flatMap((p) => [0, 1, 2].map(async (i) => ({ i, r: await spdyCommand(await execUrl(p.main, ['sh', '-c', `echo $HOSTNAME ${i}`])) }))),
  );
  t.deepEqual(
    runs.map(({ r }) => r.stdout),
    ['pod-a 0\n', 'pod-a 1\n', 'pod-a 2\n', 'pod-b 0\n', 'pod-b 1\n', 'pod-b 2\n'],
  );
});

it('Exec, Attach and PortForward check their requests; a URL works once', async (t) => {
  const { client, image, pods } = env!;
  const [a] = pods;
  const e = (m: string, req: object) => fails(client.runtime(m, req)).then((x) => x.code);
  t.is(await e('Exec', { container_id: 'f'.repeat(64), cmd: ['true'], stdout: true }), Code.NOT_FOUND);
  t.is(await e('Exec', { container_id: a!.main, cmd: ['true'] }), Code.INVALID_ARGUMENT, 'no stream at all');
  t.is(await e('Exec', { container_id: a!.main, cmd: [], stdout: true }), Code.INVALID_ARGUMENT, 'no command');
  t.is(await e('Exec', { container_id: a!.main, cmd: ['true'], stdout: true, stderr: true, tty: true }), Code.INVALID_ARGUMENT, 'tty and stderr');
  t.is(await e('Attach', { container_id: 'f'.repeat(64), stdout: true }), Code.NOT_FOUND);
  t.is(await e('PortForward', { pod_sandbox_id: 'f'.repeat(64) }), Code.NOT_FOUND);
  const done = await container(client, a!.sandbox, {}, { metadata: { name: 'done' }, image: { image }, command: ['true'] });
  for (let i = 0; i < 100 && (await client.runtime('ContainerStatus', { container_id: done })).status.state !== 'CONTAINER_EXITED'; i++) await sleep(100);
  t.is(await e('Exec', { container_id: done, cmd: ['true'], stdout: true }), Code.FAILED_PRECONDITION);
  t.is(await e('Attach', { container_id: done, stdout: true }), Code.FAILED_PRECONDITION);
  const url = await execUrl(a!.main, ['true']);
  t.is((await spdyCommand(url)).stdout, '');
  t.is(await plainStatus(url, { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': 'v4.channel.k8s.io' }), 404, 'used');
  t.is(await plainStatus(url.replace(/[^/]+$/, 'unknown-token')), 404);
});
