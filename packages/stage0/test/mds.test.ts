/**
 * `rkt run --mds-register` against the real metadata service (packages/api-service) and the real
 * stage1-coreos: the pod registers over the registration socket, its app reads its own pod
 * annotation through `AC_METADATA_URL`, gc unregisters it. Failing to reach the service is a
 * one-line error that leaves no pod. The registration client is checked without privileges
 * against a fake service.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasCode } from '@rktnetes/errors';
import { openStore } from '@rktnetes/store';
import { realSys, unmountTree } from '@rktnetes/sys';
import { busyboxImage, hasBusybox, isRoot, leakCheck, removeTree, runCommand, testIf, tmpDir } from '@rktnetes/testkit';
import { MDS_REGISTERED_FILE, metadataSocketPath, refreshPodRegistration, registerPod, unregisterPod } from '../src/pod/mds';
import { COREOS, COREOS_PKG, RKT, ensureCoreos } from './helpers/fixtures';

const MDS = fileURLToPath(new URL('../../api-service/dist/rkt-api-service.mjs', import.meta.url));
const UUID = '6e3b0bde-7f7c-4c43-8a38-2d1f3c0e2a11';

// ------------------------------------------------------------------------------ client, unprivileged

interface Seen {
  method: string;
  url: string;
  body: string;
}

/** A fake registration socket answering `status(req)` and recording requests. */
async function fakeService(t: ExecutionContext, status: (r: Seen) => number): Promise<{ socket: string; seen: Seen[] }> {
  const dir = await tmpDir('mds-fake');
  const socket = join(dir, 'mds.sock');
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') };
      seen.push(r);
      res.writeHead(status(r));
      res.end('no such thing');
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.teardown(async () => {
    await new Promise((resolve) => server.close(resolve));
    await removeTree(dir);
  });
  return { socket, seen };
}

/** A pod directory with a manifest of two apps and their image manifests. */
async function fakePod(): Promise<string> {
  const pod = await tmpDir('mds-pod');
  const app = (name: string) => ({ name, image: { id: `sha512-${'a'.repeat(64)}` }, app: { exec: ['/bin/true'], user: '0', group: '0' } });
  await writeFile(join(pod, 'pod'), JSON.stringify({ acVersion: '0.8.11', acKind: 'PodManifest', apps: [app('one'), app('two')] }));
  for (const name of ['one', 'two']) {
    await mkdir(join(pod, 'appsinfo', name), { recursive: true });
    await writeFile(join(pod, 'appsinfo', name, 'manifest'), JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: `example.com/${name}` }));
  }
  return pod;
}

test('the socket is RKT_METADATA_SOCKET or rkt\'s default', (t) => {
  t.is(metadataSocketPath({}), '/run/rkt/metadata-svc.sock');
  t.is(metadataSocketPath({ RKT_METADATA_SOCKET: '/tmp/x.sock' }), '/tmp/x.sock');
});

test('registering sends the pod then each app, writes the marker; unregistering only with the marker', async (t) => {
  const svc = await fakeService(t, () => 200);
  const pod = await fakePod();
  t.teardown(() => removeTree(pod));
  t.is(await unregisterPod(pod, UUID, svc.socket), undefined);
  t.is(svc.seen.length, 0, 'no marker, no request');
  const token = await registerPod(pod, UUID, svc.socket);
  t.regex(token, /^[0-9a-f]{32}$/);
  t.deepEqual(
    svc.seen.map((r) => `${r.method} ${r.url}`),
    [`PUT /pods/${UUID}?token=${token}`, `PUT /pods/${UUID}/one`, `PUT /pods/${UUID}/two`],
  );
  t.true(svc.seen[0]!.body.includes('"PodManifest"'));
  t.true(svc.seen[2]!.body.includes('example.com/two'));
  t.true(existsSync(join(pod, MDS_REGISTERED_FILE)));
  t.is(await unregisterPod(pod, UUID, svc.socket), undefined);
  t.is(`${svc.seen.at(-1)!.method} ${svc.seen.at(-1)!.url}`, `DELETE /pods/${UUID}`);
});

test('the marker holds the token (0600); a refresh registers the pod again under it, only when registered', async (t) => {
  const svc = await fakeService(t, () => 200);
  const pod = await fakePod();
  t.teardown(() => removeTree(pod));
  t.is(await refreshPodRegistration(pod, UUID, svc.socket), undefined);
  t.is(svc.seen.length, 0, 'no marker, no request');
  const token = await registerPod(pod, UUID, svc.socket);
  t.is(await readFile(join(pod, MDS_REGISTERED_FILE), 'utf8'), token);
  t.is((await stat(join(pod, MDS_REGISTERED_FILE))).mode & 0o777, 0o600);
  svc.seen.length = 0;
  t.is(await refreshPodRegistration(pod, UUID, svc.socket), undefined);
  t.deepEqual(
    svc.seen.map((r) => `${r.method} ${r.url}`),
    [`PUT /pods/${UUID}?token=${token}`, `PUT /pods/${UUID}/one`, `PUT /pods/${UUID}/two`],
  );
  // a marker written before tokens: registered, but nothing to refresh with
  await writeFile(join(pod, MDS_REGISTERED_FILE), '');
  svc.seen.length = 0;
  t.is(await refreshPodRegistration(pod, UUID, svc.socket), undefined);
  t.is(svc.seen.length, 0);
});

test('a refused app undoes the registration; an absent service is mds.unreachable', async (t) => {
  const svc = await fakeService(t, (r) => (r.url.endsWith('/two') ? 400 : 200));
  const pod = await fakePod();
  t.teardown(() => removeTree(pod));
  const e = await t.throwsAsync(registerPod(pod, UUID, svc.socket));
  t.true(hasCode(e, 'mds.register'), String(e));
  t.regex(e!.message, /refused PUT \/pods\/.*\/two: 400 no such thing/);
  t.is(`${svc.seen.at(-1)!.method} ${svc.seen.at(-1)!.url}`, `DELETE /pods/${UUID}`);
  t.false(existsSync(join(pod, MDS_REGISTERED_FILE)));
  const gone = await t.throwsAsync(registerPod(pod, UUID, join(pod, 'nothing.sock')));
  t.true(hasCode(gone, 'mds.unreachable'), String(gone));
  t.false(gone!.message.includes('token='));
});

// ------------------------------------------------------------------------------ end to end, privileged

const ptest = testIf(test, isRoot() && hasBusybox() && existsSync(COREOS_PKG) && existsSync(MDS), 'needs root, busybox, stage1-coreos and the built api-service');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A GET on the public face; resolves with the status. */
function getStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
}

/** The app: one hand-written HTTP GET of a pod annotation with busybox nc (its wget is not usable here). */
const READ_ANNOTATION = [
  'echo "url=$AC_METADATA_URL"',
  'u=${AC_METADATA_URL#http://}; hp=${u%%/*}; tok=${u#*/}',
  'printf "GET /%s/acMetadata/v1/pod/annotations/mds-note HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n" "$tok" "$hp" | nc -w 5 "${hp%:*}" "${hp##*:}"',
].join('\n');

/** A data dir with the probe image, a `rkt` runner and a metadata service to start; all removed at teardown. */
async function e2eSetup(t: ExecutionContext, name: string) {
  ensureCoreos();
  const dir = await tmpDir(name);
  const data = join(dir, 'data');
  const cfg = join(dir, 'cfg');
  await mkdir(data, { recursive: true });
  await mkdir(cfg, { recursive: true });
  const socket = join(dir, 'mds.sock');
  const port = await freePort();
  const env = { ...process.env, RKT_METADATA_SOCKET: socket, RKT_METADATA_PORT: String(port) };
  const globals = ['--dir', data, '--local-config', cfg, '--system-config', cfg, '--user-config', cfg];
  const rkt = (args: string[], extra: NodeJS.ProcessEnv = {}) => runCommand(process.execPath, [RKT, ...globals, ...args], { env: { ...env, ...extra }, timeoutMs: 90_000 });
  let svc: ChildProcess | undefined;
  let log = '';
  t.teardown(async () => {
    svc?.kill('SIGTERM');
    await rkt(['gc', '--grace-period=0s']).catch(() => undefined);
    try {
      unmountTree(dir, realSys());
    } catch {
      // removeTree reports it
    }
    await removeTree(dir);
  });
  const aci = join(dir, 'mds-probe.aci');
  await writeFile(aci, await busyboxImage({ name: 'example.com/mds-probe', exec: ['/bin/sh', '-c', READ_ANNOTATION] }));
  const store = openStore(data);
  try {
    await store.importImage(aci);
  } finally {
    store.close();
  }
  /** Starts the metadata service on `host:port` and waits for its registration socket. */
  const startService = async (host: string) => {
    svc = spawn(process.execPath, [MDS, 'metadata', `--listen=${host}:${port}`, `--registration-socket=${socket}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    svc.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    svc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    for (let i = 0; !existsSync(socket); i++) {
      if (i > 100 || svc.exitCode !== null) throw new Error(`metadata service did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** The directory of the pod `uuid`, wherever it is now. */
  const podDir = async (uuid: string) => {
    const pods = await readdir(join(data, 'pods', 'exited-garbage')).catch(() => [] as string[]);
    return pods.includes(uuid) ? join(data, 'pods', 'exited-garbage', uuid) : join(data, 'pods', 'run', uuid);
  };
  return { dir, data, port, rkt, startService, podDir, log: () => log };
}

const runFlags = (net: string) => ['run', '--insecure-options=image', `--stage1-path=${COREOS}`, `--net=${net}`, '--mds-register', '--annotation=mds-note=hello-from-mds', 'example.com/mds-probe'];

ptest('--mds-register: the app reads its pod annotation from the service; gc unregisters; no service, no pod', async (t) => {
  const e = await e2eSetup(t, 'mds-e2e');
  const check = await leakCheck({ cgroupRoots: ['/sys/fs/cgroup'], netns: false, veth: false, iptables: false });

  // no service: one line, 254, nothing left
  const refused = await e.rkt(runFlags('host'));
  t.is(refused.code, 254, refused.stderr);
  t.is(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  t.regex(refused.stderr, /cannot reach the metadata service/);
  for (const state of await readdir(join(e.data, 'pods')).catch(() => [] as string[])) t.deepEqual(await readdir(join(e.data, 'pods', state)), [], `pods/${state}`);

  await e.startService('127.0.0.1');
  const r = await e.rkt(runFlags('host'));
  t.is(r.code, 0, `${r.stderr}\n${r.stdout}\n${e.log()}`);
  t.true(r.stdout.includes('hello-from-mds'), r.stdout);
  const url = /url=(http:\/\/127\.0\.0\.1:\d+\/[0-9a-f]{32})/.exec(r.stdout)?.[1];
  t.truthy(url, r.stdout);
  t.true(url!.includes(`:${e.port}/`));
  const list = await e.rkt(['list', '--no-legend', '--full']);
  const uuid = list.stdout.split(/\s+/)[0]!;
  const podDir = await e.podDir(uuid);
  t.true(existsSync(join(podDir, MDS_REGISTERED_FILE)), podDir);
  t.is(await getStatus(`${url}/acMetadata/v1/pod/uuid`), 200, 'registered while the pod exists');

  const gc = await e.rkt(['gc', '--grace-period=0s']);
  t.is(gc.code, 0, gc.stderr);
  t.is(await getStatus(`${url}/acMetadata/v1/pod/uuid`), 401, 'gc unregistered the pod');
  t.deepEqual((await check()).filter((l) => l.includes(uuid) || l.includes(e.dir)), []);
});

ptest('--mds-register --net=default: the app reaches the service at the gateway of its network', async (t) => {
  const e = await e2eSetup(t, 'mds-net');
  const check = await leakCheck({ cgroupRoots: ['/sys/fs/cgroup'], netns: true, veth: false, iptables: false });
  await e.startService('0.0.0.0');
  const r = await e.rkt(runFlags('default'));
  t.is(r.code, 0, `${r.stderr}\n${r.stdout}\n${e.log()}`);
  const url = /url=(http:\/\/172\.16\.28\.1:\d+\/[0-9a-f]{32})/.exec(r.stdout)?.[1];
  t.truthy(url, r.stdout);
  t.true(url!.includes(`:${e.port}/`));
  t.true(r.stdout.includes('hello-from-mds'), r.stdout);
  const uuid = (await e.rkt(['list', '--no-legend', '--full'])).stdout.split(/\s+/)[0]!;
  // from the host side through loopback: the bridge address may go with the last pod on it
  const local = url!.replace('172.16.28.1', '127.0.0.1');
  t.is(await getStatus(`${local}/acMetadata/v1/pod/uuid`), 200, 'registered while the pod exists');

  const gc = await e.rkt(['gc', '--grace-period=0s']);
  t.is(gc.code, 0, gc.stderr);
  t.is(await getStatus(`${local}/acMetadata/v1/pod/uuid`), 401, 'gc unregistered the pod');
  t.deepEqual((await check()).filter((l) => l.includes(uuid) || l.includes(e.dir)), []);
});

ptest('rkt app sandbox --mds-register: apps added later read the pod annotation; app rm and gc update the service', async (t) => {
  const e = await e2eSetup(t, 'mds-sandbox');
  await e.startService('127.0.0.1');
  const uuidFile = join(e.dir, 'uuid');
  const sandbox = spawn(
    process.execPath,
    [RKT, '--dir', e.data, '--local-config', join(e.dir, 'cfg'), '--system-config', join(e.dir, 'cfg'), '--user-config', join(e.dir, 'cfg'),
      'app', 'sandbox', '--insecure-options=image', `--stage1-path=${COREOS}`, '--net=host', '--mds-register', '--annotation=mds-note=hello-from-sandbox', `--uuid-file-save=${uuidFile}`],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RKT_METADATA_SOCKET: join(e.dir, 'mds.sock'), RKT_METADATA_PORT: String(e.port) } },
  );
  let out = '';
  sandbox.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  sandbox.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  t.teardown(() => void sandbox.kill('SIGKILL'));
  let uuid = '';
  for (const deadline = Date.now() + 30_000; ; ) {
    uuid = existsSync(uuidFile) ? (await readFile(uuidFile, 'utf8')).trim() : '';
    if (uuid && (await e.rkt(['status', '--wait-ready=10s', uuid])).code === 0) break;
    if (sandbox.exitCode !== null || Date.now() > deadline) return t.fail(`rkt app sandbox did not come up: ${out}${e.log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  t.is((await readFile(join(await e.podDir(uuid), MDS_REGISTERED_FILE), 'utf8')).length, 32, 'the marker holds the token');

  const add = await e.rkt(['app', 'add', uuid, 'example.com/mds-probe', '--name=reader']);
  t.is(add.code, 0, add.stderr);
  const start = await e.rkt(['app', 'start', uuid, '--app=reader']);
  t.is(start.code, 0, start.stderr);
  let logs = '';
  for (const deadline = Date.now() + 30_000; !logs.includes('hello-from-sandbox') && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 200));
    logs = (await e.rkt(['logs', uuid, '--app=reader'])).stdout;
  }
  t.true(logs.includes('hello-from-sandbox'), `${logs}\n${out}\n${e.log()}`);
  const url = /url=(http:\/\/127\.0\.0\.1:\d+\/[0-9a-f]{32})/.exec(logs)?.[1];
  t.truthy(url, logs);
  t.is(await getStatus(`${url}/acMetadata/v1/apps/reader/image/id`), 200, 'the added app is registered');

  const rm = await e.rkt(['app', 'rm', uuid, '--app=reader']);
  t.is(rm.code, 0, rm.stderr);
  t.is(await getStatus(`${url}/acMetadata/v1/apps/reader/image/id`), 404, 'the removed app is gone from the service');
  t.is(await getStatus(`${url}/acMetadata/v1/pod/uuid`), 200, 'the pod stays registered');

  t.is((await e.rkt(['stop', uuid])).code, 0);
  await new Promise<void>((r) => (sandbox.exitCode !== null ? r() : sandbox.on('close', () => r())));
  const gc = await e.rkt(['gc', '--grace-period=0s']);
  t.is(gc.code, 0, gc.stderr);
  t.is(await getStatus(`${url}/acMetadata/v1/pod/uuid`), 401, 'gc unregistered the pod');
});
