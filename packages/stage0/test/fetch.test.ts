/**
 * `rkt fetch` of files and http(s) URLs against real servers on loopback: signatures, HTTP
 * caching (ETag, max-age), resumed downloads, pull policies, and every refusal (one line, exit
 * 254, store untouched). Needs a built stage0 (`node ../../tools/build.mjs`).
 */
import test from 'ava';
import { mkdirSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  aciImageId,
  busyboxImage,
  createGpgSigner,
  generateKey,
  hasGpg,
  signDetached,
  testIf,
  tmpDir,
  type GeneratedKey,
} from '@rktnetes/testkit';
import { cacheMaxAge } from '../src/fetch/http';
import { formatBytes, formatProgress, createProgress } from '../src/fetch/progress';
import { parseImageRef, parseAppString, ascUrlFor } from '../src/fetch/ref';
import { pairSignatures } from '../src/fetch/command';
import { defaultPullPolicy, fetchImage } from '../src/fetch/index';
import type { Context } from '../src/cli/context';
import { createLogger } from '@rktnetes/log';
import { openStore } from '@rktnetes/store';
import { rktEnv, startTestServer, writeJson, type RktEnv, type RktResult, type TestServer } from './helpers/http-server';

const NAME = 'example.com/fetch-test';
let aci: Buffer;
let key: GeneratedKey;
let otherKey: GeneratedKey;
let server: TestServer;

test.before(async () => {
  aci = await busyboxImage({ name: NAME, labels: { version: '1.0.0' } });
  [key, otherKey] = await Promise.all([generateKey({ name: 'fetch signer' }), generateKey({ name: 'someone else' })]);
});

test.before(async () => {
  server = await startTestServer();
});

test.after.always(async () => {
  await server?.close();
});

const shortId = (img: Buffer) => aciImageId(img, 32);

/** Trusts `k` for `prefix` (root when undefined) by writing the keystore file directly. */
function trust(env: RktEnv, k: { armoredPublic: string; fingerprint: string }, prefix?: string): void {
  const dir = prefix ? join(env.localConfig, 'trustedkeys', 'prefix.d', prefix) : join(env.localConfig, 'trustedkeys', 'root.d');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, k.fingerprint), k.armoredPublic);
}

/** A refusal: exit 254, one stderr line starting with `rkt:`, nothing on stdout. */
function refused(t: import('ava').ExecutionContext, r: RktResult, pattern: RegExp): void {
  t.is(r.code, 254, r.stderr);
  t.is(r.stdout, '');
  const errors = r.stderr.trim().split('\n').filter((l) => !l.startsWith('rkt: warning:') && !/^rkt: (fetching|searching|signing keys|signature verified)/.test(l));
  t.is(errors.length, 1, r.stderr);
  t.regex(errors[0] ?? '', /^rkt: /);
  t.regex(errors[0] ?? '', pattern);
}

async function files(t: import('ava').ExecutionContext, img: Buffer, sig?: string): Promise<{ dir: string; path: string }> {
  const dir = await tmpDir('fetch-files', t);
  const path = join(dir, 'image.aci');
  writeFileSync(path, img);
  if (sig !== undefined) writeFileSync(join(dir, 'image.aci.asc'), sig);
  return { dir, path };
}

let seq = 0;
/** Serves `img` (and its signature when given) under a fresh path; returns the image URL. */
function serve(img: Buffer, sig: string | undefined, extra: Partial<import('./helpers/http-server').Route> = {}, base = server.https): string {
  const path = `/images/${++seq}/app.aci`;
  server.route(path, { body: img, ...extra });
  if (sig !== undefined) server.route(path.replace(/\.aci$/, '.aci.asc'), { body: sig });
  return `${base}${path}`;
}

// ---- units ----------------------------------------------------------------------------------

test('image arguments are classified like rkt does', (t) => {
  t.deepEqual(parseImageRef('sha512-abcd'), { kind: 'hash', ref: 'sha512-abcd' });
  t.like(parseImageRef('/abs/x.aci'), { kind: 'file', path: '/abs/x.aci' });
  t.like(parseImageRef('./x.aci', '/cwd'), { kind: 'file', path: '/cwd/x.aci' });
  t.like(parseImageRef('x.aci', '/nonexistent'), { kind: 'file', path: '/nonexistent/x.aci' });
  t.like(parseImageRef('file:///a%20b/x.aci'), { kind: 'file', path: '/a b/x.aci' });
  t.like(parseImageRef('https://h/x.aci'), { kind: 'url', scheme: 'https' });
  t.like(parseImageRef('docker://busybox'), { kind: 'url', scheme: 'docker' });
  t.like(parseImageRef('docker:busybox'), { kind: 'url', scheme: 'docker' });
  // skopeo's forms of local layered images: no `//`, the path may contain a ref after a colon
  t.like(parseImageRef('oci:/tmp/layout:v1'), { kind: 'url', scheme: 'oci', url: 'oci:/tmp/layout:v1' });
  t.like(parseImageRef('oci:layout'), { kind: 'url', scheme: 'oci', url: 'oci:layout' });
  t.like(parseImageRef('oci-archive:/tmp/a.tar:v1'), { kind: 'url', scheme: 'oci-archive' });
  t.like(parseImageRef('docker-archive:/tmp/a.tar:busybox:1'), { kind: 'url', scheme: 'docker-archive' });
  t.like(parseImageRef('OCI:///tmp/layout'), { kind: 'url', scheme: 'oci' });
  t.like(parseImageRef('example.com/app:v1.0,os=linux'), { kind: 'name', name: 'example.com/app', labels: { version: 'v1.0', os: 'linux' } });
  t.like(parseImageRef('busybox:latest'), { kind: 'name', name: 'busybox', labels: { version: 'latest' } });
  t.deepEqual(parseAppString('a.com/b'), { name: 'a.com/b', labels: {} });
  t.throws(() => parseAppString('a.com/b,os=linux:v1'), { message: /colon may only come right after the name/ });
  t.throws(() => parseAppString('A.com/b'), { message: /invalid image name/ });
  t.is(ascUrlFor('https://h/p/x.aci?q=1'), 'https://h/p/x.aci.asc?q=1');
  t.is(defaultPullPolicy('fetch'), 'update');
  t.is(defaultPullPolicy('run'), 'new');
});

test('--signature flags pair with the image before them', (t) => {
  const args = ['--dir=/d', 'fetch', 'a.aci', '--signature', 'a.asc', 'b.aci', 'c.aci', '--signature=c.asc'];
  t.deepEqual(pairSignatures(args, ['a.aci', 'b.aci', 'c.aci'], ['a.asc', 'c.asc']), [
    { ref: 'a.aci', signature: 'a.asc' },
    { ref: 'b.aci' },
    { ref: 'c.aci', signature: 'c.asc' },
  ]);
  t.throws(() => pairSignatures(['fetch', '--signature=x', 'a'], ['a'], ['x']), { message: /must follow the image/ });
  t.throws(() => pairSignatures([], ['a'], ['x', 'y']), { message: /2 --signature flags for 1 image/ });
});

test('Cache-Control max-age parsing and the progress line', (t) => {
  t.is(cacheMaxAge('public, max-age=3600'), 3600);
  t.is(cacheMaxAge('max-age=60, no-cache'), 0);
  t.is(cacheMaxAge(undefined), 0);
  t.is(cacheMaxAge('max-age=abc'), 0);
  t.is(formatBytes(3_250_000), '3.25 MB');
  t.is(formatProgress('image', 50, 100, 1000, 10), 'Downloading image: [=====>    ]  50% 50 B/100 B 1.00 KB/s');
  t.is(formatProgress('image', 1500, undefined, 0), 'Downloading image: 1.50 KB 0 B/s');
  const lines: string[] = [];
  const p = createProgress('image', 10, 0, { isTTY: true, columns: 80, write: (s: string) => lines.push(s) });
  p.add(10);
  p.done();
  t.regex(lines.join(''), /\rDownloading image: \[=+\] 100% 10 B\/10 B/);
  const quiet: string[] = [];
  const q = createProgress('image', 10, 0, { isTTY: false, write: (s: string) => quiet.push(s) });
  q.add(10);
  q.done();
  t.deepEqual(quiet, []);
});

test('fetchImage (the API of rkt run/prepare): store lookups, trusted locations, dependencies', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const lines: string[] = [];
  const ctx: Context = {
    dataDir: env.dataDir,
    debug: false,
    insecure: new Set(),
    localConfig: env.localConfig,
    systemConfig: env.systemConfig,
    userConfig: env.userConfig,
    trustKeysFromHttps: false,
    log: createLogger({ prefix: 'rkt', write: (l) => lines.push(l) }),
  };
  const base = await busyboxImage({ name: 'example.com/base', labels: { version: '1' } });
  const app = await busyboxImage({ name: 'example.com/with-dep', manifest: { dependencies: [{ imageName: 'example.com/base', labels: [{ name: 'version', value: '1' }] }] } });
  const store = openStore(env.dataDir);
  t.teardown(() => store.close());
  const appFile = await files(t, app);
  await t.throwsAsync(fetchImage(ctx, store, { ref: appFile.path, pullPolicy: 'new' }), { code: 'signature.missing' } as never);
  // a trusted location needs no signature and prints no warning; its dependency must then resolve
  await t.throwsAsync(fetchImage(ctx, store, { ref: appFile.path, pullPolicy: 'never', trustedLocation: true }), {
    message: /image example\.com\/base,version=1 not found in the store/,
  });
  const key = await fetchImage(ctx, store, { ref: appFile.path, pullPolicy: 'never', trustedLocation: true, withDependencies: false });
  t.is(key, aciImageId(app));
  const baseFile = await files(t, base);
  t.is(await fetchImage(ctx, store, { ref: baseFile.path, pullPolicy: 'new', trustedLocation: true }), aciImageId(base));
  t.is(await fetchImage(ctx, store, { ref: 'example.com/with-dep', pullPolicy: 'new' }), key);
  t.is(await fetchImage(ctx, store, { ref: shortId(app), pullPolicy: 'never' }), key);
  t.deepEqual(lines.filter((l) => l.includes('warning')), []);
});

// ---- files ------------------------------------------------------------------------------------

test('an unsigned image file is refused and the store stays empty', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const { path } = await files(t, aci);
  const r = await env.run(['fetch', path]);
  refused(t, r, new RegExp(`image ${path} is not signed: no signature file ${path}\\.asc; use --insecure-options=image`));
  t.deepEqual(env.images(), []);
});

test('--insecure-options=image imports an unsigned file with a warning and prints the short ID', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const { path } = await files(t, aci);
  const r = await env.run(['--insecure-options=image', 'fetch', path]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${shortId(aci)}\n`);
  t.regex(r.stderr, /rkt: warning: image signature verification has been disabled/);
  t.deepEqual(env.images(), [aciImageId(aci)]);
});

test('a signed file verifies with a trusted key; --full prints the whole ID; file:// works', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, 'example.com');
  const { path } = await files(t, aci, await signDetached(aci, key));
  const r = await env.run(['fetch', path]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${shortId(aci)}\n`);
  t.regex(r.stderr, /signature verified: fetch signer <test@example.com>/);
  const full = await env.run(['fetch', '--full', `file://${path}`]);
  t.is(full.stdout, `${aciImageId(aci)}\n`);
});

test('a relative path is resolved in the working directory', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key);
  const { dir } = await files(t, aci, await signDetached(aci, key));
  const r = await env.run(['fetch', './image.aci'], { cwd: dir });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${shortId(aci)}\n`);
});

testIf(test, hasGpg(), 'needs gpg')('a signature made by Debian gpg verifies', async (t) => {
  const signer = await createGpgSigner({ t, name: 'gpg signer' });
  const env = await rktEnv(t, server.certPath);
  trust(env, signer, NAME);
  const { path } = await files(t, aci, await signer.sign(aci));
  const r = await env.run(['fetch', path]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${shortId(aci)}\n`);
  t.regex(r.stderr, /signature verified: gpg signer <gpg@example.com>/);
});

test('--signature names the signature file of the preceding image', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, NAME);
  const { dir, path } = await files(t, aci);
  const sig = join(dir, 'elsewhere.asc');
  writeFileSync(sig, await signDetached(aci, key));
  const r = await env.run(['fetch', path, `--signature=${sig}`]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${shortId(aci)}\n`);
});

test('a signature by an untrusted key is refused', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, NAME);
  const { path } = await files(t, aci, await signDetached(aci, otherKey));
  const r = await env.run(['fetch', path]);
  refused(t, r, new RegExp(`image ${path}: signed by key ${otherKey.keyId}, which is not trusted for "${NAME}" \\(run: rkt trust --prefix "${NAME}"\\)`));
  t.deepEqual(env.images(), []);
});

test('a key trusted only for another prefix is refused and the message says where it is trusted', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, 'example.org/other');
  const { path } = await files(t, aci, await signDetached(aci, key));
  const r = await env.run(['fetch', path]);
  refused(t, r, new RegExp(`signed by key ${key.keyId}, which is trusted only for prefix "example.org/other", not for "${NAME}"`));
  t.deepEqual(env.images(), []);
});

test('a prefix matches whole path components only', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, 'example.com/fetch'); // a string prefix of the name, not a path prefix
  const { path } = await files(t, aci, await signDetached(aci, key));
  const r = await env.run(['fetch', path]);
  refused(t, r, /which is trusted only for prefix "example.com\/fetch"/);
});

test('a signature of other data is refused as bad', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, NAME);
  const { path } = await files(t, aci, await signDetached(Buffer.from('something else'), key));
  const r = await env.run(['fetch', path]);
  refused(t, r, new RegExp(`image ${path}: bad signature ${path}\\.asc by key ${key.fingerprint}`));
  t.deepEqual(env.images(), []);
});

test('a signature file that is not a signature is refused', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, NAME);
  const { path } = await files(t, aci, 'this is not a signature\n');
  const r = await env.run(['fetch', path]);
  refused(t, r, /signature .*image\.aci\.asc of image .* is not an OpenPGP signature/);
  t.deepEqual(env.images(), []);
});

test('an empty local key file masks a system key', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const sysDir = join(env.systemConfig, 'trustedkeys', 'prefix.d', NAME);
  mkdirSync(sysDir, { recursive: true });
  writeFileSync(join(sysDir, key.fingerprint), key.armoredPublic);
  const { path } = await files(t, aci, await signDetached(aci, key));
  t.is((await env.run(['fetch', path])).code, 0);
  const localDir = join(env.localConfig, 'trustedkeys', 'prefix.d', NAME);
  mkdirSync(localDir, { recursive: true });
  writeFileSync(join(localDir, key.fingerprint), '');
  refused(t, await env.run(['fetch', '--pull-policy=update', path]), /not trusted for/);
});

test('a corrupt image is refused and nothing is stored', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const { path } = await files(t, aci.subarray(0, 700));
  const r = await env.run(['--insecure-options=image', 'fetch', path]);
  refused(t, r, new RegExp(`image ${path}`));
  t.deepEqual(env.images(), []);
  const dir = join(env.dataDir, 'cas', 'tmp');
  t.deepEqual(existsSync(dir) ? readdirSync(dir) : [], []);
});

test('an image for another architecture is refused unless asked for', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const arm = await busyboxImage({ name: NAME, labels: { arch: 'aarch64' } });
  const { path } = await files(t, arm);
  const r = await env.run(['--insecure-options=image', 'fetch', path]);
  refused(t, r, new RegExp(`image ${path} is for linux/aarch64, not linux/amd64`));
  t.deepEqual(env.images(), []);
});

test('a missing file is a one-line error', async (t) => {
  const env = await rktEnv(t, server.certPath);
  refused(t, await env.run(['fetch', '/nonexistent/x.aci']), /image \/nonexistent\/x\.aci: cannot open \/nonexistent\/x\.aci: no such file/);
});

test('docker:// images need --insecure-options=image (no signature verification); unknown schemes are refused', async (t) => {
  const env = await rktEnv(t, server.certPath);
  // refused before any network traffic: one line, exit 254
  refused(t, await env.run(['fetch', 'docker://busybox']), /^rkt: image docker:\/\/busybox: signature verification for docker images is not supported; use --insecure-options=image$/);
  refused(t, await env.run(['fetch', 'docker:busybox']), /signature verification for docker images is not supported; use --insecure-options=image$/);
  refused(t, await env.run(['fetch', 'ftp://h/x.aci']), /unsupported URL scheme "ftp"/);
});

test('image IDs and names resolve in the store only with --pull-policy=never', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const { path } = await files(t, aci);
  t.is((await env.run(['--insecure-options=image', 'fetch', path])).code, 0);
  const byId = await env.run(['fetch', '--pull-policy=never', shortId(aci)]);
  t.is(byId.stdout, `${shortId(aci)}\n`, byId.stderr);
  const byName = await env.run(['fetch', '--store-only', `${NAME}:1.0.0`]);
  t.is(byName.stdout, `${shortId(aci)}\n`, byName.stderr);
  refused(t, await env.run(['fetch', '--pull-policy=never', 'example.com/missing']), /image example\.com\/missing not found in the store \(pull policy "never"/);
  refused(t, await env.run(['fetch', 'sha512-0123456789']), /sha512-0123456789.*not found/);
});

// ---- http(s) --------------------------------------------------------------------------------

test('an https URL is fetched with its signature next to it', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, NAME);
  const url = serve(aci, await signDetached(aci, key));
  const r = await env.run(['fetch', url]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${shortId(aci)}\n`);
  t.regex(r.stderr, new RegExp(`rkt: fetching image from ${url.replace(/[.?]/g, '\\$&')}`));
});

test('a second fetch sends the ETag and reuses the stored image on 304', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, NAME);
  const url = serve(aci, await signDetached(aci, key), { etag: '"v1"' });
  const path = new URL(url).pathname;
  t.is((await env.run(['fetch', url])).code, 0);
  const r = await env.run(['fetch', url]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${shortId(aci)}\n`);
  t.is(server.count(path), 2);
  t.is(server.count(path, { withBody: true }), 1);
  const second = server.requests.filter((q) => q.path === path)[1];
  t.is(second?.headers['if-none-match'], '"v1"');
  t.is(second?.status, 304);
});

test('a fresh copy (Cache-Control max-age) is reused without asking the server', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, NAME);
  const url = serve(aci, await signDetached(aci, key), { cacheControl: 'max-age=3600' });
  const path = new URL(url).pathname;
  t.is((await env.run(['fetch', url])).code, 0);
  const r = await env.run(['fetch', url]);
  t.is(r.stdout, `${shortId(aci)}\n`, r.stderr);
  t.is(server.count(path), 1);
});

test('--pull-policy=new uses a URL already fetched; never refuses an unknown one', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, NAME);
  const url = serve(aci, await signDetached(aci, key));
  const path = new URL(url).pathname;
  t.is((await env.run(['fetch', url])).code, 0);
  const r = await env.run(['fetch', '--pull-policy=new', url]);
  t.is(r.stdout, `${shortId(aci)}\n`, r.stderr);
  t.is(server.count(path), 1);
  const never = await env.run(['fetch', '--pull-policy=never', `${server.https}/images/never/app.aci`]);
  refused(t, never, /not found in the store \(pull policy "never"/);
  t.is(server.count('/images/never/app.aci'), 0);
});

test('an interrupted download resumes with a Range request', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, NAME);
  const cut = 600_000;
  const url = serve(aci, await signDetached(aci, key), { etag: '"r1"', cutAfter: cut });
  const path = new URL(url).pathname;
  const first = await env.run(['fetch', url]);
  refused(t, first, /download of .* (interrupted|ended early)/);
  t.deepEqual(env.images(), []);
  const tmp = readdirSync(join(env.dataDir, 'cas', 'tmp')).filter((n) => n.startsWith('fetch-'));
  t.is(tmp.length, 1, 'the partial download is kept');
  server.route(path, { body: aci, etag: '"r1"' });
  const second = await env.run(['fetch', url]);
  t.is(second.code, 0, second.stderr);
  t.is(second.stdout, `${shortId(aci)}\n`);
  const last = server.requests.filter((q) => q.path === path).at(-1);
  t.is(last?.headers.range, `bytes=${cut}-`);
  t.is(last?.headers['if-range'], '"r1"');
  t.is(last?.status, 206);
  t.is(last?.sent, aci.length - cut);
  t.deepEqual(readdirSync(join(env.dataDir, 'cas', 'tmp')).filter((n) => n.startsWith('fetch-')), [], 'nothing left behind');
});

test('a partial download of a changed resource starts over', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, NAME);
  const url = serve(aci, await signDetached(aci, key), { etag: '"old"', cutAfter: 300_000 });
  const path = new URL(url).pathname;
  t.is((await env.run(['fetch', url])).code, 254);
  server.route(path, { body: aci, etag: '"new"' });
  const r = await env.run(['fetch', url]);
  t.is(r.code, 0, r.stderr);
  const last = server.requests.filter((q) => q.path === path).at(-1);
  t.is(last?.headers['if-range'], '"old"');
  t.is(last?.status, 200);
  t.is(last?.sent, aci.length);
});

test('concurrent fetches of one URL download it once', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, NAME);
  const url = serve(aci, await signDetached(aci, key), { etag: '"c1"' });
  const path = new URL(url).pathname;
  const [r1, r2] = await Promise.all([env.run(['fetch', url]), env.run(['fetch', url])]);
  t.is(r1.code, 0, r1.stderr);
  t.is(r2.code, 0, r2.stderr);
  t.is(r1.stdout, r2.stdout);
  t.is(server.count(path, { withBody: true }), 1, 'the second waited and revalidated');
  t.deepEqual(env.images(), [aciImageId(aci)]);
});

test('redirects are followed', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, NAME);
  const target = serve(aci, await signDetached(aci, key));
  server.route('/redirect/app.aci', { redirect: target });
  server.route('/redirect/app.aci.asc', { redirect: target.replace(/\.aci$/, '.aci.asc') });
  const r = await env.run(['fetch', `${server.https}/redirect/app.aci`]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${shortId(aci)}\n`);
});

test('plain http needs --insecure-options=http', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, NAME);
  const url = serve(aci, await signDetached(aci, key), {}, server.http);
  refused(t, await env.run(['fetch', url]), /refusing to fetch http:\/\/.* over plain http; use --insecure-options=http/);
  const r = await env.run(['--insecure-options=http', 'fetch', url]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${shortId(aci)}\n`);
});

test('an untrusted TLS certificate is refused unless --insecure-options=tls', async (t) => {
  const env = await rktEnv(t); // no NODE_EXTRA_CA_CERTS
  trust(env, key, NAME);
  const url = serve(aci, await signDetached(aci, key));
  refused(t, await env.run(['fetch', url]), /cannot fetch https:.*TLS certificate not trusted .*use --insecure-options=tls/);
  t.deepEqual(env.images(), []);
  const r = await env.run(['--insecure-options=tls', 'fetch', url]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /warning: TLS verification has been disabled/);
});

test('HTTP errors and timeouts are one-line errors naming the URL', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, NAME);
  const sig = await signDetached(aci, key);
  const missing = `${server.https}/images/missing/app.aci`;
  server.route('/images/missing/app.aci.asc', { body: sig });
  refused(t, await env.run(['fetch', missing]), new RegExp(`image ${missing}: ${missing} answered HTTP 404 Not Found`));
  const broken = serve(aci, sig, { status: 500 });
  refused(t, await env.run(['fetch', broken]), /answered HTTP 500 Internal Server Error/);
  const hanging = serve(aci, sig, { hang: true });
  const r = await env.run(['fetch', hanging], { env: { RKT_FETCH_TIMEOUT_MS: '700' } });
  refused(t, r, /cannot fetch https:.* timed out after 700ms without progress/);
  const unsigned = serve(aci, undefined);
  refused(t, await env.run(['fetch', unsigned]), /is not signed: no signature at https:.*\.aci\.asc \(HTTP 404 Not Found\); use --insecure-options=image/);
  refused(t, await env.run(['--insecure-options=image', 'fetch', 'https://127.0.0.1:1/x.aci']), /connection refused/);
  t.deepEqual(env.images(), []);
});

test('a corrupt download is refused and removed', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, NAME);
  const bad = aci.subarray(0, 10_000);
  const url = serve(bad, await signDetached(bad, key));
  refused(t, await env.run(['fetch', url]), new RegExp(`image "?${url.replace(/[.?]/g, '\\$&')}"?: .*(tar|truncated|corrupt)`));
  t.deepEqual(env.images(), []);
  t.deepEqual(readdirSync(join(env.dataDir, 'cas', 'tmp')), []);
});

test('credentials from auth.d are sent over https', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, NAME);
  const sig = await signDetached(aci, key);
  const auth = `Basic ${Buffer.from('alice:secret').toString('base64')}`;
  server.route('/private/app.aci', { body: aci, auth });
  server.route('/private/app.aci.asc', { body: sig, auth });
  const url = `${server.https}/private/app.aci`;
  refused(t, await env.run(['fetch', url]), /answered HTTP 401 Unauthorized/);
  writeJson(join(env.userConfig, 'auth.d', 'test.json'), {
    rktKind: 'auth',
    rktVersion: 'v1',
    domains: [new URL(url).host],
    type: 'basic',
    credentials: { user: 'alice', password: 'secret' },
  });
  const r = await env.run(['fetch', url]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${shortId(aci)}\n`);
});

test('several images print one ID each, in order', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const other = await busyboxImage({ name: 'example.com/other' });
  const a = await files(t, aci);
  const b = await files(t, other);
  const r = await env.run(['--insecure-options=image', 'fetch', a.path, b.path]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${shortId(aci)}\n${shortId(other)}\n`);
});

test('each --signature applies to the image before it (both flag forms)', async (t) => {
  const env = await rktEnv(t, server.certPath);
  trust(env, key, 'example.com');
  const other = await busyboxImage({ name: 'example.com/other' });
  const a = await files(t, aci);
  const b = await files(t, other);
  const sigA = join(a.dir, 'a.sig');
  const sigB = join(b.dir, 'b.sig');
  writeFileSync(sigA, await signDetached(aci, key));
  writeFileSync(sigB, await signDetached(other, key));
  const r = await env.run(['fetch', a.path, '--signature', sigA, b.path, `--signature=${sigB}`]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${shortId(aci)}\n${shortId(other)}\n`);
  const swapped = await env.run(['fetch', '--pull-policy=update', a.path, '--signature', sigB]);
  refused(t, swapped, /bad signature/);
});

test('progress is shown on a terminal', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const url = serve(aci, undefined);
  const r = await env.runOnTty(['--insecure-options=image', 'fetch', url], '');
  t.is(r.code, 0, r.stdout);
  t.regex(r.stdout, /Downloading image: \[=+\] 100% 2\.\d\d MB\/2\.\d\d MB/);
});
