/**
 * appc discovery: meta tag parsing and templates, and `rkt fetch NAME` against real servers on
 * ports 443/80 of a random loopback address (root only), so that `https://{name}?ac-discovery=1`
 * is exactly what the spec says. Needs a built stage0.
 */
import test from 'ava';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aciImageId, busyboxImage, generateKey, privilegedTest, signDetached, type GeneratedKey } from '@rktnetes/testkit';
import { discoveryPrefixes, extractAcMeta, renderTemplate } from '../src/fetch/discovery';
import { discoveryPage, rktEnv, startTestServer, type RktEnv, type RktResult, type TestServer } from './helpers/http-server';

let server: TestServer;
let key: GeneratedKey;
let stranger: GeneratedKey;

const root = privilegedTest(test);

test.before(async () => {
  [key, stranger] = await Promise.all([generateKey({ name: 'discovery signer' }), generateKey({ name: 'stranger' })]);
  if (process.getuid?.() === 0) server = await startTestServer();
});

test.after.always(async () => {
  await server?.close();
});

function trust(env: RktEnv, k: GeneratedKey, prefix: string): void {
  const dir = join(env.localConfig, 'trustedkeys', 'prefix.d', prefix);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, k.fingerprint), k.armoredPublic);
}

function refused(t: import('ava').ExecutionContext, r: RktResult, pattern: RegExp): void {
  t.is(r.code, 254, r.stderr);
  t.is(r.stdout, '');
  const errors = r.stderr
    .trim()
    .split('\n')
    .filter((l) => !/^rkt: (warning:|fetching|searching|signing keys|signature verified)/.test(l) && !/^(Prefix|Key|GPG|\t|    Subkey)/.test(l));
  t.is(errors.length, 1, r.stderr);
  t.regex(errors[0] ?? '', pattern);
}

let seq = 0;
/** A fresh app name under the server host with a discovery page, image and signature. */
async function publish(opts: {
  img?: Buffer;
  version?: string;
  signWith?: GeneratedKey | null;
  pubkeys?: boolean;
  scheme?: 'https' | 'http';
  manifestName?: string;
  labels?: Record<string, string>;
  dependencies?: unknown[];
}): Promise<{ name: string; img: Buffer; aciPath: string; pubkeyPath: string }> {
  const app = `app${++seq}`;
  const name = `${server.host}/${app}`;
  const version = opts.version ?? '1.0.0';
  const scheme = opts.scheme ?? 'https';
  const base = scheme === 'https' ? server.https : server.http;
  const img =
    opts.img ??
    (await busyboxImage({
      name: opts.manifestName ?? name,
      labels: { version, ...opts.labels },
      ...(opts.dependencies ? { manifest: { dependencies: opts.dependencies } } : {}),
    }));
  const pubkeyPath = `/keys/${app}.asc`;
  const tags: Parameters<typeof discoveryPage>[0] = [{ name: 'ac-discovery', prefix: name, value: `${base}/aci/{name}-{version}-{os}-{arch}.{ext}` }];
  if (opts.pubkeys) tags.push({ name: 'ac-discovery-pubkeys', prefix: name, value: `${base}${pubkeyPath}` });
  server.route(`/${app}`, { body: discoveryPage(tags), only: scheme });
  const aciPath = `/aci/${name}-${version}-linux-amd64.aci`;
  server.route(aciPath, { body: img, only: scheme, etag: `"${app}"` });
  const signer = opts.signWith === undefined ? key : opts.signWith;
  if (signer) server.route(`${aciPath}.asc`, { body: await signDetached(img, signer), only: scheme });
  server.route(pubkeyPath, { body: key.armoredPublic, only: scheme });
  return { name, img, aciPath, pubkeyPath };
}

// ---- units ----------------------------------------------------------------------------------

test('meta tags are read in any attribute order, quoting and with entities; comments are skipped', (t) => {
  const html = `<html><head>
    <meta name="ac-discovery" content="example.com https://example.com/{name}-{version}.{ext}">
    <META content='example.com/app  https://x/{name}.{ext}' NAME=ac-discovery />
    <!-- <meta name="ac-discovery" content="example.com https://commented/out"> -->
    <meta name="ac-discovery-pubkeys" content="example.com https://example.com/pubkeys.gpg?a=1&amp;b=2">
    <meta name="description" content="other things">
    <meta name="ac-discovery" content="onlyprefix">
  </head></html>`;
  t.deepEqual(extractAcMeta(html), [
    { name: 'ac-discovery', prefix: 'example.com', value: 'https://example.com/{name}-{version}.{ext}' },
    { name: 'ac-discovery', prefix: 'example.com/app', value: 'https://x/{name}.{ext}' },
    { name: 'ac-discovery-pubkeys', prefix: 'example.com', value: 'https://example.com/pubkeys.gpg?a=1&b=2' },
  ]);
});

test('templates render every variable or nothing; prefixes walk up the name', (t) => {
  const vars = { name: 'example.com/app', version: '1.0', os: 'linux', arch: 'amd64', ext: 'aci' };
  t.is(renderTemplate('https://s/{os}/{arch}/{name}-{version}.{ext}', vars), 'https://s/linux/amd64/example.com/app-1.0.aci');
  t.is(renderTemplate('https://s/{name}-{channel}.{ext}', vars), undefined);
  t.deepEqual(discoveryPrefixes('example.com/project/sub'), ['example.com/project/sub', 'example.com/project', 'example.com']);
});

// ---- fetch by name --------------------------------------------------------------------------

root('fetch NAME:VERSION discovers, verifies and stores the image; pull policy new then uses the store', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const { name, img, aciPath } = await publish({});
  trust(env, key, name);
  const r = await env.run(['fetch', `${name}:1.0.0`]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${aciImageId(img, 32)}\n`);
  t.regex(r.stderr, new RegExp(`searching for app image ${name}:1.0.0`));
  t.is(server.count(aciPath), 1);
  const again = await env.run(['fetch', '--pull-policy=new', `${name}:1.0.0`]);
  t.is(again.stdout, `${aciImageId(img, 32)}\n`);
  t.is(server.count(aciPath), 1, 'served from the store');
  const update = await env.run(['fetch', `${name}:1.0.0`]);
  t.is(update.code, 0, update.stderr);
  t.is(server.count(aciPath, { withBody: true }), 1, 'revalidated with the ETag, not downloaded again');
});

root('a name without version discovers version "latest"', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const { name, img } = await publish({ version: 'latest' });
  trust(env, key, name);
  const r = await env.run(['fetch', name]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${aciImageId(img, 32)}\n`);
});

root('discovery walks up the name to a parent page', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const { name, img } = await publish({});
  const deep = `${name}/deeper/still`;
  // the image is named like the deep name; its discovery page is at the top (the app page)
  const deepImg = await busyboxImage({ name: deep, labels: { version: '2.0.0' } });
  server.route(`/aci/${deep}-2.0.0-linux-amd64.aci`, { body: deepImg });
  server.route(`/aci/${deep}-2.0.0-linux-amd64.aci.asc`, { body: await signDetached(deepImg, key) });
  trust(env, key, name);
  const r = await env.run(['fetch', `${deep}:2.0.0`]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${aciImageId(deepImg, 32)}\n`);
  const path = new URL(`https://${deep}`).pathname;
  t.is(server.count(path), 1);
  t.is(server.count(path.replace(/\/still$/, '')), 1);
  t.not(img.length, 0);
});

root('a discovery page without meta tags is a one-line error', async (t) => {
  const env = await rktEnv(t, server.certPath);
  server.route('/nometa', { body: '<html><head><title>nothing</title></head></html>' });
  const r = await env.run(['fetch', `${server.host}/nometa:1.0`]);
  refused(t, r, new RegExp(`discovery of ${server.host.replace(/\./g, '\\.')}/nometa failed: no ac-discovery meta tag found; tried https://`));
  t.deepEqual(env.images(), []);
});

root('discovery over plain http needs --insecure-options=http', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const { name, img } = await publish({ scheme: 'http' });
  trust(env, key, name);
  refused(t, await env.run(['fetch', `${name}:1.0.0`]), /no ac-discovery meta tag found; tried https:.*\(HTTP 404 Not Found\)/);
  const r = await env.run(['--insecure-options=http', 'fetch', `${name}:1.0.0`]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${aciImageId(img, 32)}\n`);
});

root('a discovered image with another name, version or architecture is refused', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const wrongName = await publish({ manifestName: 'example.com/impostor' });
  trust(env, key, wrongName.name);
  refused(t, await env.run(['fetch', `${wrongName.name}:1.0.0`]), /the downloaded image is named "example\.com\/impostor", not "127\./);

  const arm = await publish({ labels: { arch: 'aarch64' } });
  trust(env, key, arm.name);
  refused(t, await env.run(['fetch', `${arm.name}:1.0.0`]), /is for linux\/aarch64, not linux\/amd64/);

  const v = await publish({ version: '3.0.0', img: await busyboxImage({ name: `${server.host}/app${seq + 1}`, labels: { version: '9.9.9' } }) });
  trust(env, key, v.name);
  refused(t, await env.run(['fetch', `${v.name}:3.0.0`]), /requested label version=3\.0\.0 but the image has version=9\.9\.9/);
  t.deepEqual(env.images(), []);
});

root('an untrusted signer fails before the image is downloaded', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const { name, aciPath } = await publish({ signWith: stranger, pubkeys: true });
  trust(env, key, name);
  const r = await env.run(['fetch', `${name}:1.0.0`]);
  refused(t, r, new RegExp(`signed by key ${stranger.keyId}, which is not trusted for "${name.replace(/\./g, '\\.')}"`));
  t.is(server.count(aciPath), 0);
});

root('without a trusted key the published keys need review; no terminal means refusal', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const { name } = await publish({ pubkeys: true });
  const r = await env.run(['fetch', `${name}:1.0.0`]);
  refused(t, r, /which is not trusted for/);
  t.regex(r.stderr, /warning: not trusting the keys published for .*not a terminal/);
  t.false(existsSync(join(env.localConfig, 'trustedkeys')));
});

root('--trust-keys-from-https trusts the published keys and fetches', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const { name, img } = await publish({ pubkeys: true });
  const r = await env.run(['--trust-keys-from-https', 'fetch', `${name}:1.0.0`]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${aciImageId(img, 32)}\n`);
  t.true(existsSync(join(env.localConfig, 'trustedkeys', 'prefix.d', name, key.fingerprint)));
});

root('dependencies are discovered and fetched too', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const base = await publish({ version: '0.1.0' });
  const app = await publish({ dependencies: [{ imageName: base.name, labels: [{ name: 'version', value: '0.1.0' }] }] });
  trust(env, key, server.host);
  const r = await env.run(['fetch', `${app.name}:1.0.0`]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${aciImageId(app.img, 32)}\n`);
  t.deepEqual(env.images().sort(), [aciImageId(app.img), aciImageId(base.img)].sort());
});

root('a 404 for the image of a discovered name names the URL', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const { name, aciPath } = await publish({});
  server.routes.delete(aciPath);
  trust(env, key, name);
  refused(t, await env.run(['fetch', `${name}:1.0.0`]), new RegExp(`answered HTTP 404 Not Found`));
});
