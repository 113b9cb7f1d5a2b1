/**
 * `rkt image list`: the images of the store as a table or rkt's JSON.
 */
import type { ImageInfo } from '@rktnetes/store';
import type { Context } from '../cli/context';
import {
  formatExactTime,
  humanizeBytes,
  humanizeTime,
  parseOptionList,
  parseOutputFormat,
  parseSortOrder,
  renderJSONOutput,
  renderTable,
  shortenID,
  sortRows,
  type Column,
  type OutputFormat,
  type SortKey,
  type SortOrder,
  writeStdout,
} from '../output';
import { displayName, withStore } from './store';

/** The field names of `--fields` and `--sort` (rkt's). */
export const IMAGE_FIELDS = ['id', 'name', 'importtime', 'lastused', 'size', 'latest'] as const;
export type ImageField = (typeof IMAGE_FIELDS)[number];

/** One listed image. */
export interface ImageRow {
  /** full image ID */
  id: string;
  /** `name:version` or the name */
  name: string;
  importTime: Date;
  lastUsed: Date;
  /** the image plus its rendered tree, bytes */
  size: number;
  latest: boolean;
}

/** One element of `--format=json` output (rkt's ImageListEntry: times in nanoseconds). */
export type ImageListEntry = {
  id: string;
  name: string;
  import_time: bigint;
  last_used_time: bigint;
  size: number;
};

/** Parsed `rkt image list` flags. */
export interface ImageListOptions {
  fields: ImageField[];
  sort: ImageField[];
  order: SortOrder;
  full: boolean;
  noLegend: boolean;
  format: OutputFormat;
}

/** Parses the raw flag values; usage errors name the flag. */
export function imageListOptions(raw: { fields: string; sort: string; order: string; full: boolean; 'no-legend': boolean; format: string }): ImageListOptions {
  return {
    fields: parseOptionList('fields', raw.fields, IMAGE_FIELDS) as ImageField[],
    sort: parseOptionList('sort', raw.sort, IMAGE_FIELDS) as ImageField[],
    order: parseSortOrder(raw.order),
    full: raw.full,
    noLegend: raw['no-legend'],
    format: parseOutputFormat(raw.format),
  };
}

/** The row of one image: size counts its rendered tree, as rkt. */
export function imageRow(info: ImageInfo): ImageRow {
  return {
    id: info.key,
    name: displayName(info),
    importTime: info.importTime,
    lastUsed: info.lastUsed,
    size: info.size + info.treeStoreSize,
    latest: info.latest,
  };
}

function sortKey(r: ImageRow, field: string): SortKey {
  switch (field as ImageField) {
    case 'id':
      return r.id;
    case 'name':
      return r.name;
    case 'importtime':
      return r.importTime.getTime();
    case 'lastused':
      return r.lastUsed.getTime();
    case 'size':
      return r.size;
    case 'latest':
      return r.latest;
  }
}

/** `rows` (in import order) sorted by `fields`; ties keep import order. */
export function sortImageRows(rows: readonly ImageRow[], fields: readonly ImageField[], order: SortOrder): ImageRow[] {
  return sortRows(rows, fields, order, sortKey);
}

const nanos = (d: Date) => BigInt(d.getTime()) * 1_000_000n;

/** The JSON entries of rows (full IDs, nanosecond times), as rkt writes them. */
export function imageListEntries(rows: readonly ImageRow[]): ImageListEntry[] {
  return rows.map((r) => ({ id: r.id, name: r.name, import_time: nanos(r.importTime), last_used_time: nanos(r.lastUsed), size: r.size }));
}

/** The table columns, short or `--full` (full IDs, exact times and byte counts). */
export function imageColumns(full: boolean, now: Date = new Date()): Column<ImageRow>[] {
  const time = full ? formatExactTime : (d: Date) => humanizeTime(d, now);
  return [
    { field: 'id', header: 'ID', cell: (r) => (full ? r.id : shortenID(r.id)) },
    { field: 'name', header: 'NAME', cell: (r) => r.name },
    { field: 'importtime', header: 'IMPORT TIME', cell: (r) => time(r.importTime) },
    { field: 'lastused', header: 'LAST USED', cell: (r) => time(r.lastUsed) },
    { field: 'size', header: 'SIZE', cell: (r) => (full ? String(r.size) : humanizeBytes(r.size)) },
    { field: 'latest', header: 'LATEST', cell: (r) => String(r.latest) },
  ];
}

/** The listing text for rows already sorted. */
export function renderImageList(rows: readonly ImageRow[], opts: Pick<ImageListOptions, 'fields' | 'full' | 'noLegend' | 'format'>, now?: Date): string {
  if (opts.format !== 'tabbed') return renderJSONOutput(imageListEntries(rows), opts.format);
  const all = imageColumns(opts.full, now);
  const columns = opts.fields.map((f) => all.find((c) => c.field === f) as Column<ImageRow>);
  return renderTable(rows, columns, { noLegend: opts.noLegend });
}

/** Runs `rkt image list`. */
export async function runImageList(ctx: Context, opts: ImageListOptions): Promise<void> {
  const rows = await withStore(ctx, 'read', (s) => s.listImages().map(imageRow));
  writeStdout(renderImageList(sortImageRows(rows, opts.sort, opts.order), opts));
}
