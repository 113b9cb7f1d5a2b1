/**
 * Registry authentication (htpasswd basic auth, bearer tokens) and TLS with a self-signed
 * certificate, through the built CLI. Build first: cd packages/stage0 && node ../../tools/build.mjs
 */
import test from 'ava';
import { hasTool } from '@rktnetes/testkit';
import { pushImage, rktEnv, startProxy, startRegistry, writeConfig, type Rkt } from './registry-fixture';

const ready = hasTool('docker-registry') && hasTool('skopeo') && hasTool('htpasswd') && hasTool('openssl');
const rtest = ready ? test : test.skip;

const USER = { user: 'alice', password: 'wonderland' };

function creds(rkt: Rkt, registry: string, c: { user: string; password: string }): void {
  writeConfig(rkt, 'auth.d/docker.json', { rktKind: 'dockerAuth', rktVersion: 'v1', registries: [registry], credentials: c });
}

/** The error lines of a failed run (the warning about disabled verification aside). */
function errorLines(stderr: string): string[] {
  return stderr
    .trim()
    .split('\n')
    .filter((l) => l !== '' && !l.includes('signature verification has been disabled'));
}

rtest('basic auth: credentials from a dockerAuth entry; missing or wrong ones fail in one line', async (t) => {
  const reg = await startRegistry(t, { htpasswd: USER });
  await pushImage(t, reg, 'private/app:1', { layers: [{ secret: 'data' }] }, { creds: USER });
  const url = `docker://${reg.host}/private/app:1`;

  const anon = await rktEnv(t);
  const none = await anon.run('--insecure-options=image,http', 'fetch', url);
  t.is(none.code, 254);
  t.deepEqual(errorLines(none.stderr), [
    `rkt: registry ${reg.host}: authentication required for private/app without credentials (add a dockerAuth entry to auth.d) (HTTP 401 Unauthorized, UNAUTHORIZED: authentication required)`,
  ]);

  const wrong = await rktEnv(t);
  creds(wrong, reg.host, { user: 'alice', password: 'nope' });
  const bad = await wrong.run('--insecure-options=image,http', 'fetch', url);
  t.is(bad.code, 254);
  const lines = errorLines(bad.stderr);
  t.is(lines.length, 1);
  t.regex(lines[0] ?? '', /^rkt: registry 127\.0\.0\.1:\d+: authentication failed for private\/app as user "alice" \(HTTP 401/);

  const good = await rktEnv(t);
  creds(good, reg.host, USER);
  const ok = await good.run('--insecure-options=image,http', 'fetch', url);
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /^sha512-/);
});

rtest('bearer tokens: the challenge leads to the token endpoint, which gets the credentials', async (t) => {
  const reg = await startRegistry(t);
  await pushImage(t, reg, 'tok/app:1', { layers: [{ a: 'a' }, { b: 'b' }] });
  const proxy = await startProxy(t, reg, { bearer: USER });
  const url = `docker://${proxy.host}/tok/app:1`;

  const good = await rktEnv(t);
  creds(good, proxy.host, USER);
  const ok = await good.run('--insecure-options=image,http', 'fetch', url);
  t.is(ok.code, 0, ok.stderr);
  const tokenRequests = proxy.requests.filter((r) => r.path === '/token');
  t.is(tokenRequests.length, 1, 'one token for the whole pull');
  t.true(proxy.requests.filter((r) => r.path.includes('/blobs/')).every((r) => r.status === 200));

  const wrong = await rktEnv(t);
  creds(wrong, proxy.host, { user: 'alice', password: 'nope' });
  const bad = await wrong.run('--insecure-options=image,http', 'fetch', url);
  t.is(bad.code, 254);
  const lines = errorLines(bad.stderr);
  t.is(lines.length, 1);
  t.regex(lines[0] ?? '', /authentication failed for tok\/app as user "alice" \(HTTP 401/);
});

rtest('a self-signed registry needs --insecure-options=tls', async (t) => {
  const reg = await startRegistry(t, { tls: true });
  await pushImage(t, reg, 'tls/app:1', { layers: [{ a: 'a' }] });
  const rkt = await rktEnv(t);
  const url = `docker://${reg.host}/tls/app:1`;
  const refused = await rkt.run('--insecure-options=image', 'fetch', url);
  t.is(refused.code, 254);
  const lines = errorLines(refused.stderr);
  t.is(lines.length, 1);
  t.regex(lines[0] ?? '', /TLS certificate not trusted .*use --insecure-options=tls/);
  const ok = await rkt.run('--insecure-options=image,tls', 'fetch', url);
  t.is(ok.code, 0, ok.stderr);
});
