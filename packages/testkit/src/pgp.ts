/**
 * OpenPGP keys and detached signatures made per test run with openpgp v6 (loaded lazily).
 * Keys are v4 EdDSA/ECDH on curve25519, which gpg 2.2 understands too.
 */
import { userError } from '@rktnetes/errors';

/** A generated key pair. */
export interface GeneratedKey {
  armoredPublic: string;
  armoredPrivate: string;
  /** lowercase hex, 40 digits */
  fingerprint: string;
  /** lowercase hex, the last 16 digits of the fingerprint */
  keyId: string;
  /** `Name <email>` */
  userId: string;
  /** set when the key was generated with one */
  passphrase?: string;
}

/** Options of {@link generateKey}. */
export interface GenerateKeyOptions {
  /** default 'rktnetes test' */
  name?: string;
  /** default 'test@example.com' */
  email?: string;
  passphrase?: string;
  /** creation time (default now); a date in the past helps expiry tests */
  date?: Date;
  /** seconds after creation when the key expires (default never) */
  expiresIn?: number;
}

const loadOpenpgp = () => import('openpgp');

/** Generates a fresh key pair (curve25519, a few milliseconds). */
export async function generateKey(opts: GenerateKeyOptions = {}): Promise<GeneratedKey> {
  const openpgp = await loadOpenpgp();
  const name = opts.name ?? 'rktnetes test';
  const email = opts.email ?? 'test@example.com';
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name, email }],
    format: 'armored',
    ...(opts.passphrase ? { passphrase: opts.passphrase } : {}),
    ...(opts.date ? { date: opts.date } : {}),
    ...(opts.expiresIn ? { keyExpirationTime: opts.expiresIn } : {}),
  });
  const key = await openpgp.readKey({ armoredKey: publicKey });
  const fingerprint = key.getFingerprint().toLowerCase();
  return {
    armoredPublic: publicKey,
    armoredPrivate: privateKey,
    fingerprint,
    keyId: fingerprint.slice(-16),
    userId: `${name} <${email}>`,
    ...(opts.passphrase ? { passphrase: opts.passphrase } : {}),
  };
}

/** Options of {@link signDetached}. */
export interface SignOptions {
  /** passphrase of an armored private key (taken from a {@link GeneratedKey} otherwise) */
  passphrase?: string;
  /** signature creation time (default now) */
  date?: Date;
}

/**
 * An ascii-armored detached signature of `data` (what an `.aci.asc` file holds).
 *
 * @param key a {@link GeneratedKey} or an armored private key
 */
export async function signDetached(data: Buffer | string, key: GeneratedKey | string, opts: SignOptions = {}): Promise<string> {
  const openpgp = await loadOpenpgp();
  const armored = typeof key === 'string' ? key : key.armoredPrivate;
  const passphrase = opts.passphrase ?? (typeof key === 'string' ? undefined : key.passphrase);
  let privateKey = await openpgp.readPrivateKey({ armoredKey: armored });
  if (passphrase !== undefined && !privateKey.isDecrypted()) {
    privateKey = await openpgp.decryptKey({ privateKey, passphrase });
  }
  const message = await openpgp.createMessage({ binary: new Uint8Array(Buffer.from(data)) });
  return openpgp.sign({
    message,
    signingKeys: privateKey,
    detached: true,
    format: 'armored',
    ...(opts.date ? { date: opts.date } : {}),
  });
}

/** Result of {@link verifyDetached}. */
export interface VerifyResult {
  valid: boolean;
  /** lowercase hex key ID of the signer as named in the signature */
  keyId?: string;
  /** why verification failed */
  error?: string;
}

/**
 * Verifies an armored detached signature over `data` with an armored public key (or keyring of
 * several keys). Never throws for a bad signature: the result says why.
 */
export async function verifyDetached(
  data: Buffer | string,
  armoredSignature: string,
  armoredPublicKeys: string,
  opts: { date?: Date } = {},
): Promise<VerifyResult> {
  const openpgp = await loadOpenpgp();
  try {
    const [signature, verificationKeys, message] = await Promise.all([
      openpgp.readSignature({ armoredSignature }),
      openpgp.readKeys({ armoredKeys: armoredPublicKeys }),
      openpgp.createMessage({ binary: new Uint8Array(Buffer.from(data)) }),
    ]);
    const result = await openpgp.verify({
      message,
      signature,
      verificationKeys,
      format: 'binary',
      ...(opts.date ? { date: opts.date } : {}),
    });
    const first = result.signatures[0];
    if (!first) return { valid: false, error: 'no signature' };
    const keyId = first.keyID.toHex().toLowerCase();
    try {
      await first.verified;
      return { valid: true, keyId };
    } catch (e) {
      return { valid: false, keyId, error: e instanceof Error ? e.message : String(e) };
    }
  } catch (e) {
    return { valid: false, error: e instanceof Error ? e.message : String(e) };
  }
}

/** Reads the lowercase hex fingerprint of an armored public key. */
export async function fingerprintOf(armoredKey: string): Promise<string> {
  const openpgp = await loadOpenpgp();
  try {
    return (await openpgp.readKey({ armoredKey })).getFingerprint().toLowerCase();
  } catch (e) {
    throw userError('testkit.key-invalid', 'cannot read armored public key', { cause: e });
  }
}
