/**
 * The keystore (rkt's trustedkeys layout, prefix scoping, local masking) and detached signature
 * checks with openpgp and Debian gpg signatures.
 */
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGpgSigner, generateKey, hasGpg, signDetached, testIf, tmpDir, type GeneratedKey } from '@rktnetes/testkit';
import { checkPrefix, formatFingerprint, Keystore, namePrefixes, readPublicKeys, verifyImageSignature } from '../src/trust';

let a: GeneratedKey;
let b: GeneratedKey;
const DATA = Buffer.from('an image, or at least some bytes standing for one\n'.repeat(1000));

test.before(async () => {
  [a, b] = await Promise.all([generateKey({ name: 'key a', email: 'a@example.com' }), generateKey({ name: 'key b', email: 'b@example.com' })]);
});

interface Fixture {
  ks: Keystore;
  sys: string;
  local: string;
  image: string;
}

async function fixture(t: import('ava').ExecutionContext): Promise<Fixture> {
  const root = await tmpDir('keystore', t);
  const sys = join(root, 'sys');
  const local = join(root, 'local');
  const image = join(root, 'image.aci');
  writeFileSync(image, DATA);
  return { ks: new Keystore({ systemConfig: sys, localConfig: local }), sys, local, image };
}

function put(dir: string, sub: string, k: { fingerprint: string; armoredPublic: string } | { fingerprint: string; empty: true }): void {
  const d = join(dir, 'trustedkeys', sub);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, k.fingerprint), 'empty' in k ? '' : k.armoredPublic);
}

const check = (f: Fixture, name: string, signature: string | Buffer) => ({
  name,
  path: f.image,
  signature: Buffer.from(signature),
  signatureSource: 'image.aci.asc',
  image: 'image.aci',
});

test('keys apply to their prefix and below, by whole path components; root keys to all', async (t) => {
  const f = await fixture(t);
  put(f.local, 'prefix.d/example.com/app', a);
  put(f.sys, 'root.d', b);
  const fprs = async (name: string) => (await f.ks.trustedKeysFor(name)).map((k) => k.fingerprint).sort();
  t.deepEqual(await fprs('example.com/app'), [a.fingerprint, b.fingerprint].sort());
  t.deepEqual(await fprs('example.com/app/sub'), [a.fingerprint, b.fingerprint].sort());
  t.deepEqual(await fprs('example.com/apple'), [b.fingerprint]);
  t.deepEqual(await fprs('example.com'), [b.fingerprint]);
  t.true(f.ks.hasKeysForPrefix('example.com/app/sub'));
  t.false(f.ks.hasKeysForPrefix('example.com/other'), 'root keys do not count');
  t.deepEqual(namePrefixes('a.com/b/c'), ['a.com', 'a.com/b', 'a.com/b/c']);
});

test('an empty local file masks the system key of that fingerprint', async (t) => {
  const f = await fixture(t);
  put(f.sys, 'prefix.d/example.com', a);
  put(f.sys, 'root.d', b);
  put(f.local, 'prefix.d/example.com', { fingerprint: a.fingerprint, empty: true });
  put(f.local, 'root.d', { fingerprint: b.fingerprint, empty: true });
  t.deepEqual(await f.ks.trustedKeysFor('example.com/app'), []);
  t.false(f.ks.hasKeysForPrefix('example.com/app'));
});

test('a key file not named by its fingerprint, or not a key, is a keystore error', async (t) => {
  const f = await fixture(t);
  put(f.local, 'prefix.d/example.com', { fingerprint: b.fingerprint, armoredPublic: a.armoredPublic });
  await t.throwsAsync(f.ks.trustedKeysFor('example.com/app'), { message: /holds key .* not the one its name says/ });
  const g = await fixture(t);
  put(g.local, 'root.d', { fingerprint: a.fingerprint, armoredPublic: 'garbage' });
  await t.throwsAsync(g.ks.trustedKeysFor('x.com'), { message: /is not an OpenPGP public key/ });
});

test('stored keys are armored public keys, mode 0644, named by fingerprint', async (t) => {
  const f = await fixture(t);
  const [info] = await readPublicKeys(a.armoredPrivate, 'private key');
  const path = f.ks.storeTrustedKey('example.com/app', info!);
  t.is(path, join(f.local, 'trustedkeys', 'prefix.d', 'example.com', 'app', a.fingerprint));
  const { statSync, readFileSync } = await import('node:fs');
  t.is(statSync(path).mode & 0o777, 0o644);
  t.is(statSync(join(f.local, 'trustedkeys', 'prefix.d', 'example.com', 'app')).mode & 0o777, 0o755);
  const text = readFileSync(path, 'utf8');
  t.regex(text, /BEGIN PGP PUBLIC KEY BLOCK/);
  t.notRegex(text, /PRIVATE/);
  t.deepEqual((await f.ks.trustedKeysFor('example.com/app')).map((k) => k.fingerprint), [a.fingerprint]);
  t.is(f.ks.storeTrustedKey(undefined, info!), join(f.local, 'trustedkeys', 'root.d', a.fingerprint));
});

test('a good signature by a trusted key returns the signer', async (t) => {
  const f = await fixture(t);
  put(f.local, 'prefix.d/example.com', a);
  const signer = await verifyImageSignature(f.ks, check(f, 'example.com/app', await signDetached(DATA, a)));
  t.deepEqual(signer, { fingerprint: a.fingerprint, userIds: ['key a <a@example.com>'], prefix: 'example.com' });
});

test('binary signatures verify too', async (t) => {
  const f = await fixture(t);
  put(f.local, 'root.d', a);
  const openpgp = await import('openpgp');
  const armored = await signDetached(DATA, a);
  const binary = Buffer.from((await openpgp.readSignature({ armoredSignature: armored })).write());
  t.like(await verifyImageSignature(f.ks, check(f, 'example.com/app', binary)), { fingerprint: a.fingerprint, prefix: undefined });
});

test('refusals: unknown signer, signer trusted elsewhere, tampered data, not a signature', async (t) => {
  const f = await fixture(t);
  put(f.local, 'prefix.d/example.com/app', a);
  put(f.local, 'prefix.d/example.org', b);
  await t.throwsAsync(verifyImageSignature(f.ks, check(f, 'example.com/app', await signDetached(DATA, b))), {
    code: 'signature.untrusted',
    message: `image image.aci: signed by key ${b.keyId}, which is trusted only for prefix "example.org", not for "example.com/app"`,
  } as never);
  const stranger = await generateKey();
  await t.throwsAsync(verifyImageSignature(f.ks, check(f, 'example.com/app', await signDetached(DATA, stranger))), {
    message: `image image.aci: signed by key ${stranger.keyId}, which is not trusted for "example.com/app" (run: rkt trust --prefix "example.com/app")`,
  });
  await t.throwsAsync(verifyImageSignature(f.ks, check(f, 'example.com/app', await signDetached(Buffer.from('other'), a))), {
    message: new RegExp(`^image image\\.aci: bad signature image\\.aci\\.asc by key ${a.fingerprint}: `),
  });
  await t.throwsAsync(verifyImageSignature(f.ks, check(f, 'example.com/app', 'not a signature')), {
    message: /^signature image\.aci\.asc of image image\.aci is not an OpenPGP signature/,
  });
});

test('a signature made while its key was valid still verifies after the key expired (as gpg)', async (t) => {
  const f = await fixture(t);
  const old = await generateKey({ date: new Date(Date.now() - 3 * 86400_000), expiresIn: 86400 });
  put(f.local, 'prefix.d/example.com/app', old);
  const sig = await signDetached(DATA, old, { date: new Date(Date.now() - 2.5 * 86400_000) });
  t.like(await verifyImageSignature(f.ks, check(f, 'example.com/app', sig)), { fingerprint: old.fingerprint });
});

for (const algo of ['rsa2048', 'ed25519'] as const) {
  testIf(test, hasGpg(), 'needs gpg')(`a ${algo} signature made by gpg verifies`, async (t) => {
    const signer = await createGpgSigner({ t, algo, name: `gpg ${algo}` });
    const f = await fixture(t);
    const [info] = await readPublicKeys(signer.armoredPublic, 'gpg key');
    t.is(info?.fingerprint, signer.fingerprint);
    f.ks.storeTrustedKey('example.com', info!);
    const got = await verifyImageSignature(f.ks, check(f, 'example.com/app', await signer.sign(DATA)));
    t.is(got.fingerprint, signer.fingerprint);
    t.deepEqual(got.userIds, [`gpg ${algo} <gpg@example.com>`]);
    await t.throwsAsync(verifyImageSignature(f.ks, check(f, 'example.com/app', await signer.sign(Buffer.from('x')))), { message: /bad signature/ });
  });
}

test('prefixes are checked and fingerprints formatted like gpg', (t) => {
  t.is(checkPrefix('example.com/app/'), 'example.com/app');
  t.throws(() => checkPrefix('https://example.com'), { message: 'prefix "https://example.com" must not contain a URL scheme, omit https://' });
  t.throws(() => checkPrefix('Example.com'), { message: /is not a valid image name prefix/ });
  t.is(formatFingerprint('8b86de38890ddb7291867b025210bd8888182190'), '8B86 DE38 890D DB72 9186  7B02 5210 BD88 8818 2190');
});
