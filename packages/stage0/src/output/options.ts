/**
 * The flags list-like commands share: `--format`, `--fields`, `--sort`, `--order`, parsed and
 * validated the way rkt does (comma-separated option lists checked against the permitted
 * values), with usage errors naming the flag.
 */
import { usageError } from '@rktnetes/errors';
import { toJSON, type JsonValue } from './json';

/** `tabbed` is rkt's default (spelled as an empty `--format`). */
export type OutputFormat = 'tabbed' | 'json' | 'json-pretty';

/** The accepted `--format` values; `''` and `tabbed` both mean a table. */
export const OUTPUT_FORMATS: readonly string[] = ['', 'tabbed', 'json', 'json-pretty'];

/** Parses `--format`. Throws `cli.format` (usage) for anything else. */
export function parseOutputFormat(value: string | undefined): OutputFormat {
  switch (value ?? '') {
    case '':
    case 'tabbed':
      return 'tabbed';
    case 'json':
      return 'json';
    case 'json-pretty':
      return 'json-pretty';
    default:
      throw usageError('cli.format', `--format: invalid value "${value}" (valid: json, json-pretty, or empty for a table)`);
  }
}

/** `value` as JSON text for a JSON format, with a trailing newline. */
export function renderJSONOutput(value: JsonValue, format: Exclude<OutputFormat, 'tabbed'>): string {
  return toJSON(value, format === 'json-pretty' ? '\t' : '') + '\n';
}

/**
 * Parses a comma-separated option list (`--fields`, `--sort`): every item must be one of
 * `permitted`; blanks around items are ignored, duplicates are dropped, order is kept.
 * Throws `cli.option-list` (usage) naming the flag and the permitted values.
 */
export function parseOptionList(flag: string, value: string, permitted: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of value.split(',')) {
    const item = raw.trim().toLowerCase();
    if (!item) continue;
    if (!permitted.includes(item)) {
      throw usageError('cli.option-list', `--${flag}: unknown value "${raw.trim()}" (valid: ${permitted.join(', ')})`);
    }
    if (!out.includes(item)) out.push(item);
  }
  if (out.length === 0) throw usageError('cli.option-list', `--${flag}: at least one of ${permitted.join(', ')} is required`);
  return out;
}

/** `--order`. */
export type SortOrder = 'asc' | 'desc';

/** Parses `--order` (case-insensitive). Throws `cli.order` (usage). */
export function parseSortOrder(value: string | undefined): SortOrder {
  const v = (value ?? 'asc').toLowerCase();
  if (v === 'asc' || v === 'desc') return v;
  throw usageError('cli.order', `--order: invalid value "${value}" (valid: asc, desc)`);
}

/** A sort key of a row: compared numerically (numbers, bigints), as booleans (false first) or as strings. */
export type SortKey = string | number | bigint | boolean;

/**
 * Sorts a copy of `rows` by the keys of `fields` in turn (`keyOf(row, field)`), ascending or
 * descending. Ties keep their input order (the sort is stable), so pass rows in a meaningful
 * order, e.g. import order.
 */
export function sortRows<T>(rows: readonly T[], fields: readonly string[], order: SortOrder, keyOf: (row: T, field: string) => SortKey): T[] {
  const dir = order === 'desc' ? -1 : 1;
  const keyed = rows.map((row, i) => ({ row, i, keys: fields.map((f) => keyOf(row, f)) }));
  keyed.sort((a, b) => {
    for (let k = 0; k < fields.length; k++) {
      const c = compareKeys(a.keys[k] as SortKey, b.keys[k] as SortKey);
      if (c !== 0) return c * dir;
    }
    return a.i - b.i;
  });
  return keyed.map((k) => k.row);
}

function compareKeys(a: SortKey, b: SortKey): number {
  if (typeof a === 'string' || typeof b === 'string') {
    const x = String(a);
    const y = String(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const x = typeof a === 'boolean' ? Number(a) : a;
  const y = typeof b === 'boolean' ? Number(b) : b;
  return x < y ? -1 : x > y ? 1 : 0;
}
