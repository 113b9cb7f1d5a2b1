/**
 * Image keys and tree store IDs.
 *
 * An image key is `sha512-` + the 128 hex digits of the sha512 of the uncompressed image tar
 * (the appc image ID). rkt itself keys by the first 64 hex digits; any such shorter form is
 * accepted as a prefix.
 */
import { usageError } from '@rktnetes/errors';
import { sha512Hex } from './sha512';

export const KEY_PREFIX = 'sha512-';
/** hex digits of a full key */
export const KEY_HEX_LENGTH = 128;
/** the shortest accepted prefix: `sha512-` and two hex digits (as rkt) */
export const MIN_PREFIX_HEX = 2;
/** the length rkt prints in listings: `sha512-` + 32 hex */
export const SHORT_KEY_LENGTH = KEY_PREFIX.length + 32;

const FULL_KEY = /^sha512-[0-9a-f]{128}$/;
const TREE_ID = /^deps-sha512-[0-9a-f]{64}$/;

/** Whether `s` is a full image key. */
export function isFullKey(s: string): boolean {
  return FULL_KEY.test(s);
}

/** Whether `s` is a tree store ID. */
export function isTreeStoreID(s: string): boolean {
  return TREE_ID.test(s);
}

/** Whether `s` looks like a key or key prefix (as opposed to an image name). */
export function looksLikeKey(s: string): boolean {
  return s.startsWith(KEY_PREFIX);
}

/**
 * Validates a key or key prefix and returns it lowercased. Throws `store.invalid-key` (usage)
 * when it is not `sha512-` followed by 2 to 128 hex digits.
 */
export function normalizeKeyPrefix(ref: string): string {
  const hex = ref.slice(KEY_PREFIX.length).toLowerCase();
  if (!ref.startsWith(KEY_PREFIX) || !/^[0-9a-f]*$/.test(hex) || hex.length < MIN_PREFIX_HEX || hex.length > KEY_HEX_LENGTH) {
    throw usageError('store.invalid-key', `invalid image ID "${ref}": want sha512- followed by ${MIN_PREFIX_HEX} to ${KEY_HEX_LENGTH} hex digits`);
  }
  return KEY_PREFIX + hex;
}

/** The key of a finished sha512 digest (hex). */
export function keyFromHex(hex: string): string {
  return KEY_PREFIX + hex;
}

/** The truncated form rkt prints (`sha512-` + 32 hex). */
export function shortKey(key: string): string {
  return key.slice(0, SHORT_KEY_LENGTH);
}

/**
 * The tree store ID of a flattened dependency list (top image first): `deps-sha512-` + 64 hex
 * digits of the sha512 of the keys joined by commas. It changes when a dependency resolves to
 * a different image, so a re-resolved chain renders into a new tree.
 */
export function treeStoreIDFor(keys: readonly string[]): string {
  // plain-JavaScript SHA-512: rkt run then need not load node:crypto (see sha512.ts)
  const h = sha512Hex(keys.join(','));
  return `deps-${KEY_PREFIX}${h.slice(0, 64)}`;
}
