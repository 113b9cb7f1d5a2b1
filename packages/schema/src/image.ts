/**
 * The image manifest (spec/aci.md "Image Manifest Schema"): parse, validate, serialize.
 */
import type { ImageManifest } from './types';
import { absolutePath, acIdentifier, acKind, acVersion, annotations, app, dependencies, labels } from './components';
import { Checker, type ValidationIssue, array, assemble, assertNoIssues, decodeJson, reader } from './validate';

/** Options of the manifest parsers. */
export interface ParseOptions {
  /** where the document came from (a path, an image ID), added to error messages and details */
  source?: string;
}

const WHAT = 'image manifest';

function check(c: Checker, v: unknown): ImageManifest | undefined {
  const r = reader(c, v, '');
  if (!r) return undefined;
  return assemble<ImageManifest>(
    {
      acKind: r.required('acKind', acKind('ImageManifest')),
      acVersion: r.required('acVersion', acVersion),
      name: r.required('name', acIdentifier),
      labels: r.optional('labels', labels),
      app: r.optional('app', app),
      dependencies: r.optional('dependencies', dependencies),
      pathWhitelist: r.optional('pathWhitelist', array(absolutePath)),
      annotations: r.optional('annotations', annotations),
    },
    r,
  );
}

/**
 * Every problem of an image manifest given as a JSON value (not text), in document order;
 * empty when it is valid.
 */
export function validateImageManifest(obj: unknown): ValidationIssue[] {
  const c = new Checker();
  check(c, obj);
  return c.issues;
}

/**
 * Parses and validates an image manifest from JSON text, UTF-8 bytes or an already-decoded
 * value. The result has its known fields in spec order, `null` fields dropped (as Go reads
 * them) and unknown fields kept.
 *
 * Throws `schema.json` for malformed JSON and `schema.invalid` (kind `user`) naming the first
 * problem (`invalid image manifest: app.user: is required`), with all of them in
 * `details.issues`.
 */
export function parseImageManifest(input: unknown, opts: ParseOptions = {}): ImageManifest {
  const value = decodeJson(input, WHAT, opts.source);
  const c = new Checker();
  const m = check(c, value);
  assertNoIssues(c, WHAT, opts.source);
  return m as ImageManifest;
}

/**
 * The JSON text of an image manifest after validating it (throws like
 * {@link parseImageManifest}); keys in spec order, so equal manifests give equal text.
 */
export function serializeImageManifest(m: ImageManifest, opts: { indent?: number } = {}): string {
  return JSON.stringify(parseImageManifest(m), null, opts.indent);
}
