/**
 * The OpenPGP operations rkt needs (read public keys, read and check detached signatures),
 * with openpgp loaded on first use so that commands not touching signatures never pay for it.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { userError } from '@rktnetes/errors';

type OpenPGP = typeof import('openpgp');
type PublicKey = import('openpgp').PublicKey;
type Signature = import('openpgp').Signature;

let loaded: Promise<OpenPGP> | undefined;
/** openpgp, imported once. */
export function openpgp(): Promise<OpenPGP> {
  loaded ??= import('openpgp');
  return loaded;
}

/** A public key as the keystore and `rkt trust` present it. */
export interface KeyInfo {
  /** lowercase hex fingerprint of the primary key (the keystore file name) */
  fingerprint: string;
  /** lowercase hex fingerprints of the subkeys */
  subkeyFingerprints: string[];
  /** lowercase 16-hex key IDs of the primary key and every subkey */
  keyIds: string[];
  /** `Name <email>` of each user ID */
  userIds: string[];
  /** the public key alone, ascii-armored (what the keystore stores) */
  armored: string;
}

const isArmored = (data: Buffer) => data.subarray(0, 4096).toString('latin1').includes('-----BEGIN PGP');

function infoOf(key: PublicKey): KeyInfo {
  const pub = key.isPrivate() ? key.toPublic() : key;
  return {
    fingerprint: pub.getFingerprint().toLowerCase(),
    subkeyFingerprints: pub.getSubkeys().map((s) => s.getFingerprint().toLowerCase()),
    keyIds: pub.getKeyIDs().map((id) => id.toHex().toLowerCase()),
    userIds: pub.getUserIDs(),
    armored: pub.armor(),
  };
}

/**
 * The public keys in `data` (an armored or binary key or keyring; private keys are reduced to
 * their public part).
 *
 * @param what names the source in errors (a path or URL)
 * @throws RktError `trust.not-a-key` when `data` holds no OpenPGP key
 */
export async function readPublicKeys(data: Buffer | string, what: string): Promise<KeyInfo[]> {
  const pgp = await openpgp();
  const buf = Buffer.from(data);
  let keys: PublicKey[];
  try {
    if (isArmored(buf)) {
      // several armored blocks may be concatenated in one file: read each
      const text = buf.toString('utf8');
      const blocks = text.match(/-----BEGIN PGP (?:PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP (?:PUBLIC|PRIVATE) KEY BLOCK-----/g) ?? [text];
      keys = (await Promise.all(blocks.map((armoredKeys) => pgp.readKeys({ armoredKeys })))).flat();
    } else {
      keys = await pgp.readKeys({ binaryKeys: new Uint8Array(buf) });
    }
  } catch (e) {
    throw userError('trust.not-a-key', `${what} is not an OpenPGP public key`, { cause: e, details: { source: what } });
  }
  if (keys.length === 0) throw userError('trust.not-a-key', `${what} is not an OpenPGP public key`, { details: { source: what } });
  return keys.map(infoOf);
}

/** A parsed detached signature. */
export interface DetachedSignature {
  /** lowercase 16-hex IDs of the keys that made it */
  keyIds: string[];
  /** @internal the openpgp object */
  readonly sig: Signature;
}

/**
 * Parses an armored (`.aci.asc`) or binary detached signature.
 *
 * @throws RktError `signature.invalid` when `data` is not an OpenPGP signature
 */
export async function readDetachedSignature(data: Buffer, what: string): Promise<DetachedSignature> {
  const pgp = await openpgp();
  let sig: Signature;
  try {
    sig = isArmored(data)
      ? await pgp.readSignature({ armoredSignature: data.toString('utf8') })
      : await pgp.readSignature({ binarySignature: new Uint8Array(data) });
  } catch (e) {
    throw userError('signature.invalid', `${what} is not an OpenPGP signature`, { cause: e });
  }
  const keyIds = sig.getSigningKeyIDs().map((id) => id.toHex().toLowerCase());
  if (keyIds.length === 0) throw userError('signature.invalid', `${what} is not an OpenPGP signature`);
  return { keyIds, sig };
}

/** The outcome of {@link verifyDetachedFile}. */
export type VerifyOutcome =
  | { valid: true; key: KeyInfo; keyId: string }
  | { valid: false; reason: string; key?: KeyInfo; keyId?: string };

/**
 * Checks `signature` over the bytes of the file at `path` (streamed) with the public keys
 * `keys` (armored). Never throws for a bad signature: the outcome says why.
 */
export async function verifyDetachedFile(path: string, signature: DetachedSignature, keys: readonly string[]): Promise<VerifyOutcome> {
  const pgp = await openpgp();
  const verificationKeys = (await Promise.all(keys.map((armoredKeys) => pgp.readKeys({ armoredKeys })))).flat();
  const byId = new Map<string, PublicKey>();
  for (const k of verificationKeys) for (const id of k.getKeyIDs()) byId.set(id.toHex().toLowerCase(), k);
  const signer = signature.keyIds.map((id) => byId.get(id)).find((k) => k !== undefined);
  if (!signer) return { valid: false, reason: 'unknown key' };
  const message = await pgp.createMessage({ binary: Readable.toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array> });
  const result = await pgp.verify({ message, signature: signature.sig, verificationKeys: [signer], format: 'binary' });
  // a streamed message is only hashed while its data is read
  const reader = (result.data as unknown as ReadableStream<Uint8Array>).getReader();
  for (;;) if ((await reader.read()).done) break;
  const info = infoOf(signer);
  let lastReason = 'no signature';
  for (const s of result.signatures) {
    const keyId = s.keyID.toHex().toLowerCase();
    try {
      await s.verified;
      return { valid: true, key: info, keyId };
    } catch (e) {
      lastReason = e instanceof Error ? e.message : String(e);
    }
  }
  return { valid: false, reason: lastReason, key: info, keyId: signature.keyIds[0] as string };
}

/** `8B86 DE38 890D DB72 9186  7B02 5210 BD88 8818 2190`, as gpg and rkt print fingerprints. */
export function formatFingerprint(fpr: string): string {
  const groups = fpr.toUpperCase().match(/.{1,4}/g) ?? [];
  const half = Math.ceil(groups.length / 2);
  return `${groups.slice(0, half).join(' ')}  ${groups.slice(half).join(' ')}`.trim();
}
