/**
 * Trusted signing keys: the keystore (rkt's `trustedkeys/root.d` and `prefix.d` layout),
 * adding keys (`rkt trust`) and verifying image signatures against them.
 */
export { Keystore, checkPrefix, namePrefixes, type TrustedKey, type KeystoreDirs } from './keystore';
export { readPublicKeys, readDetachedSignature, verifyDetachedFile, formatFingerprint, type KeyInfo, type DetachedSignature, type VerifyOutcome } from './pgp';
export { verifyImageSignature, checkSignerTrusted, type Signer, type ImageSignatureCheck } from './verify';
export { addTrustedKeys, fetchKeys, describeKeys, processReviewIO, type AcceptMode, type ReviewIO, type AddKeysOptions, type AddedKey, type FetchedKeys } from './add';
