import test from 'ava';
import { linkSync } from 'node:fs';
import { createServer } from 'node:net';
import { request } from 'node:http';
import { join } from 'node:path';
import { tmpDir } from '@rktnetes/testkit';
import { JSON_TYPE, TEXT_TYPE, newMdsToken, registerApp, registerPod, registerPodDir, unregisterPod } from '@rktnetes/api-service';
import { startService } from './helpers/server';
import { writePod } from './helpers/pods';

interface Reply {
  status: number;
  type: string | undefined;
  body: string;
}

/** An HTTP request over loopback, as an app in a pod would make it. */
function http(url: string, method = 'GET', form?: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const body = form ? new URLSearchParams(form).toString() : undefined;
    const req = request(url, { method, headers: body ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function setUp(t: { teardown: (fn: () => unknown) => void }) {
  const dir = await tmpDir('api-mds', t);
  const socket = join(dir, 'run', 'metadata-svc.sock');
  const svc = await startService(['metadata', '--listen', '127.0.0.1:0', '--registration-socket', socket]);
  t.teardown(() => svc.stop());
  return { dir, socket, svc, base: `http://${svc.addresses[0]}` };
}

test('a registered pod reads its metadata over HTTP with its token, with the spec\'s content types', async (t) => {
  const { dir, socket, base } = await setUp(t);
  const pod = await writePod(dir, {
    state: 'prepared',
    annotations: [{ name: 'ip-address', value: '10.1.2.3' }],
    apps: [
      { name: 'web', annotations: [{ name: 'role', value: 'frontend' }, { name: 'shared', value: 'from-pod' }], imageAnnotations: [{ name: 'shared', value: 'from-image' }, { name: 'built-by', value: 'ci' }] },
      { name: 'side' },
    ],
  });
  const { uuid, token } = await registerPodDir(pod.path, { socketPath: socket });
  t.is(uuid, pod.uuid);
  t.regex(token, /^[0-9a-f]{32}$/);
  const url = `${base}/${token}/acMetadata/v1`;

  let r = await http(`${url}/pod/annotations`);
  t.is(r.status, 200);
  t.is(r.type, JSON_TYPE);
  t.deepEqual(JSON.parse(r.body), [{ name: 'ip-address', value: '10.1.2.3' }]);
  r = await http(`${url}/pod/annotations/ip-address`);
  t.deepEqual([r.status, r.type, r.body], [200, TEXT_TYPE, '10.1.2.3']);
  t.is((await http(`${url}/pod/annotations/missing`)).status, 404);
  r = await http(`${url}/pod/manifest`);
  t.deepEqual([r.status, r.type], [200, JSON_TYPE]);
  t.is(JSON.parse(r.body).acKind, 'PodManifest');
  r = await http(`${url}/pod/uuid`);
  t.deepEqual([r.status, r.type, r.body], [200, 'text/plain; charset=us-ascii', pod.uuid]);

  r = await http(`${url}/apps/web/annotations`);
  t.deepEqual([r.status, r.type], [200, JSON_TYPE]);
  t.deepEqual(
    JSON.parse(r.body).sort((a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name)),
    [
      { name: 'built-by', value: 'ci' },
      { name: 'role', value: 'frontend' },
      { name: 'shared', value: 'from-pod' },
    ],
    'image annotations overridden by the pod manifest',
  );
  t.is((await http(`${url}/apps/web/annotations/shared`)).body, 'from-pod');
  r = await http(`${url}/apps/web/image/manifest`);
  t.deepEqual([r.status, r.type, JSON.parse(r.body).name], [200, JSON_TYPE, 'example.com/web']);
  r = await http(`${url}/apps/web/image/id`);
  t.deepEqual([r.status, r.type], [200, TEXT_TYPE]);
  t.regex(r.body, /^sha512-[0-9a-f]{128}$/);
  t.is((await http(`${url}/apps/side/annotations`)).body, '[]');
  t.is((await http(`${url}/apps/nope/annotations`)).status, 404);
  t.is((await http(`${url}/apps/Bad_Name/annotations`)).status, 400);
  t.is((await http(`${url}/pod/nope`)).status, 404);
  t.is((await http(`${url}/pod/uuid`, 'DELETE')).status, 405);

  t.is((await http(`${base}/${newMdsToken()}/acMetadata/v1/pod/uuid`)).status, 401, 'an unknown token');
  await unregisterPod(uuid, socket);
  t.is((await http(`${url}/pod/uuid`)).status, 401, 'unregistered');
});

test('HMAC identity: sign as one pod, verify as another', async (t) => {
  const { dir, socket, base } = await setUp(t);
  const a = await writePod(dir, { state: 'prepared' });
  const b = await writePod(dir, { state: 'prepared' });
  const ra = await registerPodDir(a.path, { socketPath: socket });
  const rb = await registerPodDir(b.path, { socketPath: socket, token: 'b-token-0123456789' });
  const sign = await http(`${base}/${ra.token}/acMetadata/v1/pod/hmac/sign`, 'POST', { content: 'I am pod a' });
  t.deepEqual([sign.status, sign.type], [200, TEXT_TYPE]);
  t.is(Buffer.from(sign.body, 'base64').length, 64, 'base64 HMAC-SHA512');
  const verify = (form: Record<string, string>) => http(`${base}/${rb.token}/acMetadata/v1/pod/hmac/verify`, 'POST', form);
  t.is((await verify({ content: 'I am pod a', uuid: a.uuid, signature: sign.body })).status, 200);
  t.is((await verify({ content: 'I am pod b', uuid: a.uuid, signature: sign.body })).status, 403);
  t.is((await verify({ content: 'I am pod a', uuid: b.uuid, signature: sign.body })).status, 403);
  t.is((await verify({ content: 'I am pod a', uuid: 'nope', signature: sign.body })).status, 400);
  t.is((await verify({ content: 'I am pod a', uuid: a.uuid, signature: '***' })).status, 400);
  t.is((await verify({ uuid: a.uuid, signature: sign.body })).status, 400);
  t.is((await http(`${base}/${ra.token}/acMetadata/v1/pod/hmac/sign`, 'POST', {})).status, 400);
  t.is((await http(`${base}/${ra.token}/acMetadata/v1/pod/hmac/sign`, 'GET')).status, 405);
});

test('registration errors: bad uuid, missing token, invalid manifests, unknown pod', async (t) => {
  const { dir, socket } = await setUp(t);
  const pod = await writePod(dir, { state: 'prepared' });
  const { readFile } = await import('node:fs/promises');
  const manifest = await readFile(join(pod.path, 'pod'), 'utf8');
  await t.throwsAsync(registerPod('not-a-uuid', 'tok', manifest, socket), { message: /400/ });
  await t.throwsAsync(registerPod(pod.uuid, '', manifest, socket), { message: /400 token missing/ });
  await t.throwsAsync(registerPod(pod.uuid, 'tok', '{"acKind":"PodManifest"}', socket), { message: /400 .*invalid pod manifest/ });
  await t.throwsAsync(registerApp(pod.uuid, 'app', '{}', socket), { message: /404/ });
  await registerPod(pod.uuid, 'tok', manifest, socket);
  await t.throwsAsync(registerApp(pod.uuid, 'app', '{"acKind":"ImageManifest"}', socket), { message: /400/ });
  await t.throwsAsync(unregisterPod('6733c3e8-2c48-4f4b-9a1a-0a3fd7dc1c6e', socket), { message: /404/ });
  await t.throwsAsync(registerPod(pod.uuid, 'tok', manifest, join(dir, 'nothing.sock')), { message: /cannot reach the metadata service/ });
});

test('socket activation: the registration socket comes from systemd as fd 3', async (t) => {
  const dir = await tmpDir('api-mds', t);
  const socket = join(dir, 'metadata-svc.sock');
  // systemd holds the socket; here the test does, under a second name: closing our copy must
  // not unlink the name clients use, and our copy must stop accepting once the service has it
  const listener = createServer();
  await new Promise<void>((r) => listener.listen(`${socket}.bind`, () => r()));
  linkSync(`${socket}.bind`, socket);
  const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
  const svc = await startService(['metadata', '--listen', '127.0.0.1:0'], {
    viaShell: true,
    env: { ...process.env, LISTEN_FDS: '1', LISTEN_FDNAMES: 'rkt-metadata.socket' },
    stdio: ['ignore', 'ignore', 'pipe', fd],
  }).catch((e: Error) => e);
  t.true(svc instanceof Error && /LISTEN_FDS/.test(svc.message), 'sockets from systemd exclude --listen');
  const pub = createServer();
  await new Promise<void>((r) => pub.listen(0, '127.0.0.1', () => r()));
  const port = (pub.address() as { port: number }).port;
  const pubFd = (pub as unknown as { _handle: { fd: number } })._handle.fd;
  const active = await startService(['metadata'], {
    viaShell: true,
    env: { ...process.env, LISTEN_FDS: '2', LISTEN_FDNAMES: 'registration:public' },
    stdio: ['ignore', 'ignore', 'pipe', fd, pubFd],
  });
  t.teardown(() => active.stop());
  listener.close();
  pub.close();
  const pod = await writePod(dir, { state: 'prepared' });
  const { token } = await registerPodDir(pod.path, { socketPath: socket });
  const r = await http(`http://127.0.0.1:${port}/${token}/acMetadata/v1/pod/uuid`);
  t.deepEqual([r.status, r.body], [200, pod.uuid]);
});
