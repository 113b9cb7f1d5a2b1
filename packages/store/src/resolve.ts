/**
 * Resolving image references (key, key prefix, name[:version] with labels) to keys, and
 * reading manifests from the database.
 */
import { userError, usageError } from '@rktnetes/errors';
import { parseImageManifest, type ImageManifest, type NameValue } from './deps';
import { KEY_HEX_LENGTH, KEY_PREFIX, looksLikeKey, normalizeKeyPrefix } from './keys';
import type { StoreContext } from './context';
import type { ImageRow } from './rows';

/** Labels to match: a list as in manifests, or a plain object. */
export type LabelsInput = readonly NameValue[] | Readonly<Record<string, string>>;

export function labelsToList(labels: LabelsInput | undefined): NameValue[] {
  if (!labels) return [];
  if (Array.isArray(labels)) return labels.map((l: NameValue) => ({ name: l.name, value: l.value }));
  return Object.entries(labels as Record<string, string>).map(([name, value]) => ({ name, value }));
}

/**
 * The full key for a key or key prefix. Throws `store.invalid-key` (usage) for a malformed
 * one, `store.not-found` when nothing matches and `store.ambiguous` when several do.
 */
export function resolveKey(ctx: StoreContext, ref: string): string {
  const prefix = normalizeKeyPrefix(ref);
  if (prefix.length === KEY_PREFIX.length + KEY_HEX_LENGTH) {
    if (ctx.rows.image(prefix)) return prefix;
    throw notFound(ref);
  }
  const keys = ctx.rows.keysWithPrefix(prefix, 2);
  if (keys.length === 0) throw notFound(ref);
  if (keys.length > 1) {
    throw userError('store.ambiguous', `image ID "${ref}" is ambiguous: it matches more than one image; give more digits`, {
      details: { ref },
    });
  }
  return keys[0] as string;
}

function notFound(ref: string, extra = ''): Error {
  return userError('store.not-found', `image "${ref}"${extra} not found in the store`, { details: { ref } });
}

/** Splits `name[:version]`; AC identifiers cannot contain ':'. */
export function splitNameVersion(ref: string): { name: string; version?: string } {
  const i = ref.lastIndexOf(':');
  if (i <= 0) return { name: ref };
  return { name: ref.slice(0, i), version: ref.slice(i + 1) };
}

/**
 * The image best matching `name` and `labels` the way rkt picks one: every requested label
 * must be present; without a version label, images marked latest win; then the most recently
 * imported. Throws `store.not-found`.
 */
export function resolveByName(ctx: StoreContext, name: string, labels: NameValue[]): string {
  const versionRequested = labels.some((l) => l.name === 'version');
  let best: ImageRow | undefined;
  for (const row of ctx.rows.imagesNamed(name)) {
    const have = new Map(labelsOf(row).map((l) => [l.name, l.value]));
    if (!labels.every((l) => have.get(l.name) === l.value)) continue;
    if (!best) {
      best = row;
      continue;
    }
    if (!versionRequested && best.latest !== row.latest) {
      if (row.latest) best = row;
      continue;
    }
    if (row.import_time > best.import_time || (row.import_time === best.import_time && row.key > best.key)) best = row;
  }
  if (!best) {
    const desc = labels.length ? ` with labels ${labels.map((l) => `${l.name}=${l.value}`).join(',')}` : '';
    throw notFound(name, desc);
  }
  return best.key;
}

function labelsOf(row: ImageRow): NameValue[] {
  const v: unknown = JSON.parse(row.labels);
  return Array.isArray(v) ? (v as NameValue[]) : [];
}

/**
 * A key from any reference: a key or key prefix (`sha512-...`), or `name[:version]` plus
 * optional labels (a version both in the reference and the labels must agree).
 */
export function resolveRef(ctx: StoreContext, ref: string, labels?: LabelsInput): string {
  if (looksLikeKey(ref)) return resolveKey(ctx, ref);
  const { name, version } = splitNameVersion(ref);
  const list = labelsToList(labels);
  if (version !== undefined) {
    const given = list.find((l) => l.name === 'version');
    if (given && given.value !== version) {
      throw usageError('store.invalid-ref', `image "${ref}": version ${version} conflicts with label version=${given.value}`);
    }
    if (!given) list.push({ name: 'version', value: version });
  }
  return resolveByName(ctx, name, list);
}

/** The validated manifest of an image (full key). Throws `store.not-found`. */
export function manifestOf(ctx: StoreContext, key: string): { manifest: ImageManifest; text: string } {
  const row = ctx.rows.image(key);
  if (!row) throw notFound(key);
  return { manifest: parseImageManifest(row.manifest), text: row.manifest };
}
