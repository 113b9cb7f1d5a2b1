import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createGpgSigner,
  fingerprintOf,
  generateKey,
  gpgSign,
  hasGpg,
  runCommand,
  runCommandOk,
  signDetached,
  tmpDir,
  verifyDetached,
} from '@rktnetes/testkit';

const withGpg = hasGpg() ? test : test.skip;

test('generateKey makes a fresh key with a lowercase fingerprint', async (t) => {
  const a = await generateKey({ name: 'Alice', email: 'alice@example.com' });
  const b = await generateKey();
  t.regex(a.fingerprint, /^[0-9a-f]{40}$/);
  t.is(a.keyId, a.fingerprint.slice(-16));
  t.not(a.fingerprint, b.fingerprint);
  t.is(a.userId, 'Alice <alice@example.com>');
  t.regex(a.armoredPublic, /BEGIN PGP PUBLIC KEY BLOCK/);
  t.regex(a.armoredPrivate, /BEGIN PGP PRIVATE KEY BLOCK/);
  t.is(await fingerprintOf(a.armoredPublic), a.fingerprint);
});

test('openpgp sign and verify round trip', async (t) => {
  const key = await generateKey();
  const data = Buffer.from('an image\0with binary');
  const sig = await signDetached(data, key);
  t.regex(sig, /BEGIN PGP SIGNATURE/);
  t.deepEqual(await verifyDetached(data, sig, key.armoredPublic), { valid: true, keyId: key.keyId });
  const tampered = await verifyDetached(Buffer.from('an image\0with binarY'), sig, key.armoredPublic);
  t.false(tampered.valid);
  const other = await generateKey();
  t.false((await verifyDetached(data, sig, other.armoredPublic)).valid);
  t.false((await verifyDetached(data, 'not a signature', key.armoredPublic)).valid);
});

test('a passphrase-protected key signs with its passphrase', async (t) => {
  const key = await generateKey({ passphrase: 'sekr3t' });
  t.regex(key.armoredPrivate, /BEGIN PGP PRIVATE KEY BLOCK/);
  const sig = await signDetached('data', key.armoredPrivate, { passphrase: 'sekr3t' });
  t.true((await verifyDetached('data', sig, key.armoredPublic)).valid);
  t.true((await verifyDetached('data', await signDetached('data', key), key.armoredPublic)).valid);
});

test('keys can be made in the past and expire', async (t) => {
  const created = new Date(Date.now() - 10 * 86400_000);
  const key = await generateKey({ date: created, expiresIn: 86400 });
  await t.throwsAsync(signDetached('data', key));
  const sig = await signDetached('data', key, { date: new Date(created.getTime() + 3600_000) });
  // the key was valid when the signature was made
  t.true((await verifyDetached('data', sig, key.armoredPublic)).valid);
  t.false((await verifyDetached('data', sig, key.armoredPublic, { date: new Date(created.getTime() - 3600_000) })).valid);
});

for (const algo of ['rsa2048', 'ed25519'] as const) {
  withGpg(`a gpg ${algo} signature verifies with openpgp`, async (t) => {
    const data = Buffer.from(`signed by gpg ${algo}`);
    const g = await gpgSign(data, { algo });
    t.regex(g.fingerprint, /^[0-9a-f]{40}$/);
    t.is(await fingerprintOf(g.armoredPublic), g.fingerprint);
    const r = await verifyDetached(data, g.signature, g.armoredPublic);
    t.true(r.valid, r.error);
    t.is(r.keyId, g.fingerprint.slice(-16));
    t.false((await verifyDetached(Buffer.from('other'), g.signature, g.armoredPublic)).valid);
  });
}

withGpg('a gpg signer signs several payloads and cleans up its home and agent', async (t) => {
  const signer = await createGpgSigner({ algo: 'ed25519' });
  const s1 = await signer.sign('one');
  const s2 = await signer.sign(Buffer.from('two'));
  t.true((await verifyDetached('one', s1, signer.armoredPublic)).valid);
  t.true((await verifyDetached('two', s2, signer.armoredPublic)).valid);
  await signer.close();
  await signer.close();
  const ls = await runCommand('ls', [signer.home]);
  t.not(ls.code, 0, 'GNUPGHOME removed');
});

withGpg('an openpgp signature verifies with gpg', async (t) => {
  const key = await generateKey();
  const dir = await tmpDir('gpgverify', t);
  const home = join(dir, 'home');
  await runCommandOk('mkdir', ['-m', '0700', home]);
  const env = { ...process.env, GNUPGHOME: home };
  t.teardown(async () => {
    await runCommand('gpgconf', ['--kill', 'all'], { env });
  });
  await writeFile(join(dir, 'data'), 'payload');
  await writeFile(join(dir, 'data.asc'), await signDetached('payload', key));
  await runCommandOk('gpg', ['--batch', '--import'], { env, input: key.armoredPublic });
  const r = await runCommand('gpg', ['--batch', '--status-fd', '1', '--verify', join(dir, 'data.asc'), join(dir, 'data')], { env });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`VALIDSIG ${key.fingerprint.toUpperCase()}`));
});
