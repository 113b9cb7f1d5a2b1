/**
 * JSON output: compact (`--format=json`) or indented with tabs (`--format=json-pretty`, as
 * Go's json.MarshalIndent with a tab, which rkt uses). Unlike JSON.stringify, bigints are
 * written as plain integers, so nanosecond timestamps survive exactly.
 */

/** A value {@link toJSON} can write. `undefined` members of objects are left out. */
export type JsonValue = string | number | bigint | boolean | null | undefined | readonly JsonValue[] | { readonly [k: string]: JsonValue };

/** Serialises `value`; `indent` ('' for compact) is repeated per nesting level. */
export function toJSON(value: JsonValue, indent = ''): string {
  const nl = indent ? '\n' : '';
  const sep = indent ? ': ' : ':';
  const write = (v: JsonValue, depth: number): string => {
    if (v === null || v === undefined) return 'null';
    switch (typeof v) {
      case 'bigint':
        return v.toString();
      case 'number':
        return Number.isFinite(v) ? String(v) : 'null';
      case 'string':
      case 'boolean':
        return JSON.stringify(v);
    }
    const inner = indent.repeat(depth + 1);
    const outer = indent.repeat(depth);
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      return `[${nl}${v.map((x: JsonValue) => inner + write(x, depth + 1)).join(`,${nl}`)}${nl}${outer}]`;
    }
    const entries = Object.entries(v as { [k: string]: JsonValue }).filter(([, x]) => x !== undefined);
    if (entries.length === 0) return '{}';
    return `{${nl}${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}${sep}${write(x, depth + 1)}`).join(`,${nl}`)}${nl}${outer}}`;
  };
  return write(value, 0);
}
