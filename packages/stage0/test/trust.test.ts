/**
 * `rkt trust`: keys from files, URLs and discovery, fingerprint review on a terminal, and every
 * refusal (one line, exit 254, nothing written). Needs a built stage0.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGpgSigner, generateKey, hasGpg, privilegedTest, testIf, tmpDir, type GeneratedKey } from '@rktnetes/testkit';
import { discoveryPage, rktEnv, startTestServer, type RktEnv, type RktResult, type TestServer } from './helpers/http-server';

let a: GeneratedKey;
let b: GeneratedKey;
let server: TestServer;

test.before(async () => {
  [a, b] = await Promise.all([generateKey({ name: 'trust a', email: 'a@example.com' }), generateKey({ name: 'trust b', email: 'b@example.com' })]);
  server = await startTestServer();
  server.route('/keys/a.asc', { body: a.armoredPublic });
});

test.after.always(async () => {
  await server?.close();
});

const prefixKey = (env: RktEnv, prefix: string, fpr: string) => join(env.localConfig, 'trustedkeys', 'prefix.d', prefix, fpr);
const noKeys = (env: RktEnv) => !existsSync(join(env.localConfig, 'trustedkeys'));
const spaced = (fpr: string) => {
  const g = fpr.toUpperCase().match(/.{4}/g) as string[];
  return `${g.slice(0, 5).join(' ')}  ${g.slice(5).join(' ')}`;
};

async function keyFile(t: import('ava').ExecutionContext, content: string | Buffer, name = 'key.asc'): Promise<string> {
  const dir = await tmpDir('trust-keys', t);
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function refused(t: import('ava').ExecutionContext, r: RktResult, pattern: RegExp): void {
  t.is(r.code, 254, r.stderr);
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('rkt: warning:'));
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0] ?? '', /^rkt: /);
  t.regex(lines[0] ?? '', pattern);
}

test('trust --prefix with a key file and --skip-fingerprint-review stores it like rkt', async (t) => {
  const env = await rktEnv(t);
  const path = await keyFile(t, a.armoredPublic);
  const r = await env.run(['trust', '--prefix=example.com/app', '--skip-fingerprint-review', path]);
  t.is(r.code, 0, r.stderr);
  const stored = prefixKey(env, 'example.com/app', a.fingerprint);
  t.is(
    r.stdout,
    [
      'Prefix: "example.com/app"',
      `Key: "${path}"`,
      `GPG key fingerprint is: ${spaced(a.fingerprint)}`,
      ...(r.stdout.includes('Subkey') ? [r.stdout.split('\n').find((l) => l.includes('Subkey')) as string] : []),
      '\ttrust a <a@example.com>',
      `Trusting "${path}" for prefix "example.com/app" without fingerprint review.`,
      `Added key for prefix "example.com/app" at "${stored}"`,
      '',
    ].join('\n'),
  );
  t.is(statSync(stored).mode & 0o777, 0o644);
  t.is(statSync(join(env.localConfig, 'trustedkeys', 'prefix.d', 'example.com')).mode & 0o777, 0o755);
  t.regex(readFileSync(stored, 'utf8'), /BEGIN PGP PUBLIC KEY BLOCK/);
});

test('trust --root stores a root key', async (t) => {
  const env = await rktEnv(t);
  const r = await env.run(['trust', '--root', '--skip-fingerprint-review', await keyFile(t, b.armoredPublic)]);
  t.is(r.code, 0, r.stderr);
  t.true(existsSync(join(env.localConfig, 'trustedkeys', 'root.d', b.fingerprint)));
  t.regex(r.stdout, /Added root key at ".*root\.d\/[0-9a-f]{40}"/);
});

test('without a terminal the review cannot happen: refused, nothing written', async (t) => {
  const env = await rktEnv(t);
  const r = await env.run(['trust', '--prefix=example.com/app', await keyFile(t, a.armoredPublic)]);
  refused(t, r, /cannot ask to review the fingerprint of key .*: not a terminal; use --skip-fingerprint-review/);
  t.true(noKeys(env));
});

test('on a terminal the fingerprint is reviewed: yes trusts, no does not', async (t) => {
  const env = await rktEnv(t);
  const path = await keyFile(t, a.armoredPublic);
  const yes = await env.runOnTty(['trust', '--prefix=example.com/app', path], 'yes\n');
  t.is(yes.code, 0, yes.stdout);
  t.regex(yes.stdout, /Are you sure you want to trust this key \(yes\/no\)\?/);
  t.regex(yes.stdout, /after fingerprint review/);
  t.true(existsSync(prefixKey(env, 'example.com/app', a.fingerprint)));
  const no = await env.runOnTty(['trust', '--prefix=example.com/other', path], 'no\n');
  t.is(no.code, 0, no.stdout);
  t.regex(no.stdout, /Not trusting/);
  t.false(existsSync(prefixKey(env, 'example.com/other', a.fingerprint)));
});

test('a file that is not a key is refused and nothing is written, even with other good keys', async (t) => {
  const env = await rktEnv(t);
  const bad = await keyFile(t, 'hello, I am not a key\n', 'bad.asc');
  refused(t, await env.run(['trust', '--prefix=example.com/app', '--skip-fingerprint-review', bad]), new RegExp(`key ${bad} is not an OpenPGP public key`));
  const good = await keyFile(t, a.armoredPublic);
  refused(t, await env.run(['trust', '--prefix=example.com/app', '--skip-fingerprint-review', good, bad]), /is not an OpenPGP public key/);
  refused(t, await env.run(['trust', '--prefix=example.com/app', '--skip-fingerprint-review', '/nonexistent.asc']), /cannot read key \/nonexistent\.asc: no such file/);
  t.true(noKeys(env));
});

test('usage mistakes are refused with one line', async (t) => {
  const env = await rktEnv(t);
  const path = await keyFile(t, a.armoredPublic);
  refused(t, await env.run(['trust', path]), /aborting due to implicit unbounded trust \(root domain\)/);
  refused(t, await env.run(['trust', '--root', '--prefix=example.com', path]), /--root and --prefix usage mutually exclusive/);
  refused(t, await env.run(['trust', '--root']), /give the key files to trust/);
  refused(t, await env.run(['trust', '--prefix=https://example.com', path]), /must not contain a URL scheme, omit https:\/\//);
  refused(t, await env.run(['trust', '--prefix=Example.com', path]), /is not a valid image name prefix/);
  refused(t, await env.run(['trust']), /give --prefix=PREFIX/);
  t.true(noKeys(env));
});

test('keys are fetched from https URLs; --trust-keys-from-https skips the review for them', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const url = `${server.https}/keys/a.asc`;
  refused(t, await env.run(['trust', '--prefix=example.com/app', url]), /not a terminal/);
  const r = await env.run(['--trust-keys-from-https', 'trust', '--prefix=example.com/app', url]);
  t.is(r.code, 0, r.stderr);
  t.true(existsSync(prefixKey(env, 'example.com/app', a.fingerprint)));
  refused(t, await env.run(['trust', '--prefix=example.com/app', '--skip-fingerprint-review', `${server.https}/keys/missing.asc`]), /answered HTTP 404 Not Found/);
});

test('plain http key URLs need --insecure-allow-http', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const url = `${server.http}/keys/a.asc`;
  refused(t, await env.run(['trust', '--prefix=example.com/app', '--skip-fingerprint-review', url]), /refusing to fetch key http:.* over plain http; use --insecure-allow-http/);
  t.true(noKeys(env));
  const r = await env.run(['trust', '--prefix=example.com/app', '--skip-fingerprint-review', '--insecure-allow-http', url]);
  t.is(r.code, 0, r.stderr);
});

test('binary keys, private keys (public part only) and keyrings of several keys', async (t) => {
  const env = await rktEnv(t);
  const openpgp = await import('openpgp');
  const binary = Buffer.from((await openpgp.readKey({ armoredKey: a.armoredPublic })).write());
  t.is((await env.run(['trust', '--prefix=x.com', '--skip-fingerprint-review', await keyFile(t, binary, 'bin.gpg')])).code, 0);
  t.regex(readFileSync(prefixKey(env, 'x.com', a.fingerprint), 'utf8'), /BEGIN PGP PUBLIC KEY BLOCK/);
  t.is((await env.run(['trust', '--prefix=y.com', '--skip-fingerprint-review', await keyFile(t, b.armoredPrivate, 'priv.asc')])).code, 0);
  t.notRegex(readFileSync(prefixKey(env, 'y.com', b.fingerprint), 'utf8'), /PRIVATE/);
  const ring = await keyFile(t, `${a.armoredPublic}\n${b.armoredPublic}`, 'ring.asc');
  const r = await env.run(['trust', '--prefix=z.com', '--skip-fingerprint-review', ring]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(readdirSync(join(env.localConfig, 'trustedkeys', 'prefix.d', 'z.com')).sort(), [a.fingerprint, b.fingerprint].sort());
});

testIf(test, hasGpg(), 'needs gpg')('a key exported by Debian gpg is trusted under its fingerprint', async (t) => {
  const signer = await createGpgSigner({ t });
  const env = await rktEnv(t);
  const r = await env.run(['trust', '--prefix=example.com', '--skip-fingerprint-review', await keyFile(t, signer.armoredPublic)]);
  t.is(r.code, 0, r.stderr);
  t.true(existsSync(prefixKey(env, 'example.com', signer.fingerprint)));
  t.regex(r.stdout, new RegExp(`GPG key fingerprint is: ${spaced(signer.fingerprint)}`));
});

privilegedTest(test)('trust --prefix alone discovers the published keys (ac-discovery-pubkeys)', async (t) => {
  const env = await rktEnv(t, server.certPath);
  const prefix = `${server.host}/trusted`;
  server.route('/trusted', { body: discoveryPage([{ name: 'ac-discovery-pubkeys', prefix, value: `${server.https}/keys/a.asc` }]) });
  const r = await env.run(['trust', `--prefix=${prefix}`, '--skip-fingerprint-review']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`Key: "${server.https.replace(/\./g, '\\.')}/keys/a\\.asc"`));
  t.true(existsSync(prefixKey(env, prefix, a.fingerprint)));
  const none = await env.run(['trust', `--prefix=${server.host}/nothing-here`, '--skip-fingerprint-review']);
  refused(t, none, /cannot determine the key location for prefix ".*\/nothing-here": discovery of .* failed: no ac-discovery-pubkeys meta tag found/);
});
