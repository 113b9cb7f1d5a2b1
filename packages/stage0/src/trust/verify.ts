/**
 * Checking an image's detached signature against the keys the keystore trusts for the image's
 * name, with error messages that say what to do.
 */
import { readFileSync } from 'node:fs';
import { userError } from '@rktnetes/errors';
import type { Keystore } from './keystore';
import { openpgp, readDetachedSignature, readPublicKeys, verifyDetachedFile, type DetachedSignature, type KeyInfo } from './pgp';

/** Who signed an image. */
export interface Signer {
  fingerprint: string;
  userIds: string[];
  /** the prefix the key is trusted for; undefined for a root key */
  prefix: string | undefined;
}

/** What {@link verifyImageSignature} checks. */
export interface ImageSignatureCheck {
  /** the image name from its manifest: selects the trusted keys */
  name: string;
  /** the image file exactly as signed (compressed or not) */
  path: string;
  /** the detached signature bytes */
  signature: Buffer;
  /** where the signature came from (path or URL), for messages */
  signatureSource: string;
  /** how the image is named in messages (what the user asked for) */
  image: string;
}

/**
 * Verifies that `check.signature` is a good signature of `check.path` made by a key trusted for
 * `check.name`. Returns the signer.
 *
 * @throws RktError `signature.invalid` (not a signature), `signature.untrusted` (key unknown or
 *   trusted only for other prefixes), `signature.bad` (does not match the image), and the
 *   keystore's `trust.*` errors
 */
export async function verifyImageSignature(ks: Keystore, check: ImageSignatureCheck): Promise<Signer> {
  const sig = await readDetachedSignature(check.signature, `signature ${check.signatureSource} of image ${check.image}`);
  const trusted = await ks.trustedKeysFor(check.name);
  const outcome = await verifyDetachedFile(
    check.path,
    sig,
    trusted.map((k) => k.armored),
  );
  if (outcome.valid) {
    const entry = trusted.find((k) => k.fingerprint === outcome.key.fingerprint);
    return { fingerprint: outcome.key.fingerprint, userIds: outcome.key.userIds, prefix: entry?.prefix };
  }
  if (!outcome.key) throw await untrusted(ks, check, sig);
  throw userError(
    'signature.bad',
    `image ${check.image}: bad signature ${check.signatureSource} by key ${outcome.key.fingerprint}: ${outcome.reason.replace(/\.$/, '')}`,
    { details: { image: check.image, fingerprint: outcome.key.fingerprint } },
  );
}

/**
 * Throws `signature.untrusted` unless one of the keys that made `sig` is trusted for `name`:
 * lets a fetch by name fail before downloading the image (rkt checks identity early too).
 */
export async function checkSignerTrusted(ks: Keystore, check: Omit<ImageSignatureCheck, 'path'>): Promise<void> {
  const sig = await readDetachedSignature(check.signature, `signature ${check.signatureSource} of image ${check.image}`);
  const trusted = await ks.trustedKeysFor(check.name);
  const pgp = await openpgp();
  for (const k of trusted) {
    const key = await pgp.readKey({ armoredKey: k.armored });
    const ids = new Set(key.getKeyIDs().map((id) => id.toHex().toLowerCase()));
    if (sig.keyIds.some((id) => ids.has(id))) return;
  }
  throw await untrusted(ks, check, sig);
}

/** Where else the signer's key is trusted: prefixes of key files holding one of its key IDs. */
async function prefixesTrusting(ks: Keystore, sig: DetachedSignature): Promise<string[]> {
  const out = new Set<string>();
  for (const k of ks.allTrustedKeys()) {
    if (k.prefix === undefined) continue;
    try {
      const [info] = await readPublicKeys(readFileSync(k.path), k.path);
      if (info && info.keyIds.some((id) => sig.keyIds.includes(id))) out.add(k.prefix);
    } catch {
      // an unreadable key file trusts nothing
    }
  }
  return [...out].sort();
}

async function untrusted(ks: Keystore, check: Omit<ImageSignatureCheck, 'path'>, sig: DetachedSignature): Promise<Error> {
  const keyId = sig.keyIds[0] as string;
  const elsewhere = await prefixesTrusting(ks, sig);
  const hint = `run: rkt trust --prefix "${check.name}"`;
  const message = elsewhere.length
    ? `image ${check.image}: signed by key ${keyId}, which is trusted only for prefix ${elsewhere.map((p) => `"${p}"`).join(', ')}, not for "${check.name}"`
    : `image ${check.image}: signed by key ${keyId}, which is not trusted for "${check.name}" (${hint})`;
  return userError('signature.untrusted', message, { details: { image: check.image, keyId, name: check.name } });
}

export type { KeyInfo };
