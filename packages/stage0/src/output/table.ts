/**
 * Column-aligned text tables as rkt prints them (Go's text/tabwriter with tab padding: every
 * column but the last is padded to a multiple of 8 characters with tab characters, so the
 * output lines up in a terminal and splits on whitespace in scripts).
 */

/** One column of a listing: its field name (as `--fields` spells it), legend and cell text. */
export interface Column<T> {
  /** the field name users select and sort by, e.g. `importtime` */
  field: string;
  /** the legend printed above the column, e.g. `IMPORT TIME` */
  header: string;
  /** the cell text for one row */
  cell: (row: T) => string;
}

/** How {@link renderTable} lays out text. */
export interface TableOptions {
  /** leave out the legend line (`--no-legend`) */
  noLegend?: boolean;
  /**
   * `tabs` (default) pads like rkt's tabwriter (tab characters, tab stops every 8 columns);
   * `spaces` pads with spaces to the same widths
   */
  padding?: 'tabs' | 'spaces';
}

const TAB_WIDTH = 8;

/**
 * Lays out rows of cells. Returns the text with a trailing newline, or '' when there is nothing
 * to print (no rows and no legend).
 */
export function layoutCells(lines: readonly (readonly string[])[], padding: 'tabs' | 'spaces' = 'tabs'): string {
  if (lines.length === 0) return '';
  const cols = Math.max(...lines.map((l) => l.length));
  const widths: number[] = [];
  for (let c = 0; c < cols - 1; c++) {
    let w = 0;
    for (const l of lines) w = Math.max(w, (l[c] ?? '').length);
    // one cell of padding at least, rounded up to the next tab stop
    widths.push(Math.ceil((w + 1) / TAB_WIDTH) * TAB_WIDTH);
  }
  let out = '';
  for (const l of lines) {
    let line = '';
    for (let c = 0; c < l.length; c++) {
      const text = l[c] ?? '';
      if (c === l.length - 1) {
        line += text;
        break;
      }
      const gap = (widths[c] ?? 0) - text.length;
      line += text + (padding === 'tabs' ? '\t'.repeat(Math.ceil(gap / TAB_WIDTH)) : ' '.repeat(gap));
    }
    out += line + '\n';
  }
  return out;
}

/** Renders `rows` under `columns` (in the order given), with a legend unless `noLegend`. */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[], opts: TableOptions = {}): string {
  const lines: string[][] = [];
  if (!opts.noLegend) lines.push(columns.map((c) => c.header));
  for (const r of rows) lines.push(columns.map((c) => c.cell(r)));
  return layoutCells(lines, opts.padding);
}
