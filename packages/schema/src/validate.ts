/**
 * The machinery every parser in this package is built on: an issue collector, JSON paths,
 * an object reader that tolerates Go-style case-insensitive keys and keeps unknown fields, and
 * the two errors (`schema.json`, `schema.invalid`) the public parsers throw.
 */
import { RktError } from '@rktnetes/errors';

/** One problem found while validating a document. `path` is a JSON path such as `app.exec[0]` ('' for the root). */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** Collects issues while a document is walked. */
export class Checker {
  readonly issues: ValidationIssue[] = [];

  add(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  get ok(): boolean {
    return this.issues.length === 0;
  }
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** The path of `key` below `path`: `a.b`, `a[0]`, or `a["odd key"]` for keys that are not identifiers. */
export function sub(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (IDENT.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

/** `<what>: <path>: <message>`, or `<what>: <message>` for the root. */
export function describeIssue(what: string, issue: ValidationIssue): string {
  return issue.path === '' ? `${what}: ${issue.message}` : `${what}: ${issue.path}: ${issue.message}`;
}

/**
 * The error for a document that failed validation: code `schema.invalid`, kind `user`, the
 * message naming the object and the first problem, `details.issues` listing all of them.
 */
export function invalidError(what: string, issues: ValidationIssue[], source?: string): RktError {
  const first = issues[0] ?? { path: '', message: 'invalid' };
  const label = source === undefined ? `invalid ${what}` : `invalid ${what} ${source}`;
  return new RktError('schema.invalid', describeIssue(label, first), {
    kind: 'user',
    details: { issues, ...(source === undefined ? {} : { source }) },
  });
}

/** Throws {@link invalidError} when the checker collected any issue. */
export function assertNoIssues(c: Checker, what: string, source?: string): void {
  if (!c.ok) throw invalidError(what, c.issues, source);
}

/**
 * Turns parser input into a JSON value: strings and bytes (UTF-8) are parsed as JSON, anything
 * else is taken as an already-decoded value. Throws `schema.json` (kind `user`) for malformed JSON.
 */
export function decodeJson(input: unknown, what: string, source?: string): unknown {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else if (input instanceof Uint8Array) {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch (e) {
      throw jsonError(what, 'not valid UTF-8', e, source);
    }
  } else {
    return input;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw jsonError(what, e instanceof Error ? e.message : String(e), e, source);
  }
}

function jsonError(what: string, reason: string, cause: unknown, source?: string): RktError {
  const label = source === undefined ? `invalid ${what}` : `invalid ${what} ${source}`;
  return new RktError('schema.json', `${label}: malformed JSON: ${reason}`, {
    kind: 'user',
    cause,
    details: source === undefined ? {} : { source },
  });
}

/** Whether `v` is a plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** A human name for the JSON type of `v`, for messages. */
export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v;
}

/** A parser of one JSON value at `path`; returns undefined after recording an issue. */
export type Parse<T> = (c: Checker, v: unknown, path: string) => T | undefined;

/**
 * Reads the fields of one JSON object. Lookups are exact first and then case-insensitive, as Go's
 * encoding/json (which wrote and read these documents in rkt) matches keys; `null` counts as
 * absent, as it does in Go. Fields never read are kept by {@link ObjectReader.extras}.
 */
export class ObjectReader {
  private readonly used = new Set<string>();

  constructor(
    readonly c: Checker,
    readonly raw: Record<string, unknown>,
    readonly path: string,
  ) {}

  private key(name: string): string | undefined {
    if (Object.hasOwn(this.raw, name)) return name;
    const lower = name.toLowerCase();
    return Object.keys(this.raw).find((k) => k.toLowerCase() === lower && !this.used.has(k));
  }

  /** The raw value of `name` (undefined when absent or null), marking the field as known. */
  get(name: string): unknown {
    const k = this.key(name);
    if (k === undefined) return undefined;
    this.used.add(k);
    const v = this.raw[k];
    return v === null ? undefined : v;
  }

  /** Parses a required field; records `is required` when it is absent. */
  required<T>(name: string, parse: Parse<T>): T | undefined {
    const v = this.get(name);
    const p = sub(this.path, name);
    if (v === undefined) {
      this.c.add(p, 'is required');
      return undefined;
    }
    return parse(this.c, v, p);
  }

  /** Parses an optional field. */
  optional<T>(name: string, parse: Parse<T>): T | undefined {
    const v = this.get(name);
    return v === undefined ? undefined : parse(this.c, v, sub(this.path, name));
  }

  /** The fields that were never read, in their original order. */
  extras(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(this.raw)) if (!this.used.has(k)) setOwn(out, k, v);
    return out;
  }
}

/** Reads `v` as an object, or records `must be an object`. */
export function reader(c: Checker, v: unknown, path: string): ObjectReader | undefined {
  if (!isObject(v)) {
    c.add(path, `must be an object, not ${jsonType(v)}`);
    return undefined;
  }
  return new ObjectReader(c, v, path);
}

/**
 * Sets an own enumerable property, even for keys such as `__proto__` that JSON.parse produces
 * as plain data but a bare assignment would treat as the prototype.
 */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  // plain assignment makes the same own property for every key but `__proto__` (the one
  // accessor on Object.prototype), and is several times faster than defineProperty
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/**
 * Builds the output object: the known fields in the given order (undefined ones dropped),
 * followed by the unknown fields of the input, which appc asks readers to tolerate.
 */
export function assemble<T>(known: Record<string, unknown>, r: ObjectReader): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(known)) if (v !== undefined) setOwn(out, k, v);
  for (const [k, v] of Object.entries(r.extras())) if (!Object.hasOwn(out, k)) setOwn(out, k, v);
  return out as T;
}

// ---- primitive parsers ----------------------------------------------------------------------

export const str: Parse<string> = (c, v, path) => {
  if (typeof v === 'string') return v;
  c.add(path, `must be a string, not ${jsonType(v)}`);
  return undefined;
};

export const nonEmptyStr: Parse<string> = (c, v, path) => {
  const s = str(c, v, path);
  if (s === '') {
    c.add(path, 'must not be empty');
    return undefined;
  }
  return s;
};

export const bool: Parse<boolean> = (c, v, path) => {
  if (typeof v === 'boolean') return v;
  c.add(path, `must be a boolean, not ${jsonType(v)}`);
  return undefined;
};

/** An integer parser bounded to [min, max] (both inclusive, default to the safe-integer range). */
export function int(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): Parse<number> {
  return (c, v, path) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      c.add(path, `must be an integer, not ${jsonType(v)}`);
      return undefined;
    }
    if (!Number.isInteger(v)) {
      c.add(path, 'must be an integer');
      return undefined;
    }
    if (v < min || v > max) {
      c.add(path, `must be between ${min} and ${max}, got ${v}`);
      return undefined;
    }
    return v;
  };
}

/** A string parser that also requires `test` to hold, recording `message` when it does not. */
export function matching(test: (s: string) => boolean, message: string | ((s: string) => string)): Parse<string> {
  return (c, v, path) => {
    const s = str(c, v, path);
    if (s === undefined) return undefined;
    if (!test(s)) {
      c.add(path, typeof message === 'string' ? message : message(s));
      return undefined;
    }
    return s;
  };
}

/**
 * An array parser. Every item is checked; when any fails the whole array is undefined, so
 * indexes in later cross-item checks (duplicates) always match the input.
 */
export function array<T>(item: Parse<T>): Parse<T[]> {
  return (c, v, path) => {
    if (!Array.isArray(v)) {
      c.add(path, `must be an array, not ${jsonType(v)}`);
      return undefined;
    }
    const out: T[] = [];
    let ok = true;
    v.forEach((x, i) => {
      const p = item(c, x, sub(path, i));
      if (p === undefined) ok = false;
      else out.push(p);
    });
    return ok ? out : undefined;
  };
}

/** A JSON object whose values are all strings (userAnnotations, userLabels, sysctl). */
export const stringMap: Parse<Record<string, string>> = (c, v, path) => {
  if (!isObject(v)) {
    c.add(path, `must be an object, not ${jsonType(v)}`);
    return undefined;
  }
  const out: Record<string, string> = {};
  let ok = true;
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === 'string') setOwn(out, k, x);
    else {
      c.add(sub(path, k), `must be a string, not ${jsonType(x)}`);
      ok = false;
    }
  }
  return ok ? out : undefined;
};

/** Records an issue at `sub(path, i).field` for every item whose `key(item)` repeats an earlier one. */
export function checkUnique<T>(
  c: Checker,
  items: readonly T[] | undefined,
  path: string,
  field: string,
  key: (item: T) => string | undefined,
  what: string,
): void {
  if (!items) return;
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const k = key(item);
    if (k === undefined) return;
    if (seen.has(k)) c.add(sub(sub(path, i), field), `duplicate ${what} ${JSON.stringify(k)}`);
    seen.add(k);
  });
}
