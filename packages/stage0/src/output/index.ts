/**
 * Output helpers for list-like commands (`rkt image list`, `rkt list`, ...): aligned tables
 * with optional legend, rkt's `--format=json|json-pretty`, option-list flags (`--fields`,
 * `--sort`), stable multi-field sorting and rkt's renderings of times, sizes and IDs.
 * Commands compute rows; these functions only format them.
 */
export { renderTable, layoutCells, type Column, type TableOptions } from './table';
export { toJSON, type JsonValue } from './json';
export {
  OUTPUT_FORMATS,
  parseOutputFormat,
  renderJSONOutput,
  parseOptionList,
  parseSortOrder,
  sortRows,
  type OutputFormat,
  type SortOrder,
  type SortKey,
} from './options';
export { listingFlags } from './flags';
export { writeStdout } from './stdout';
export { humanizeTime, humanizeBytes, formatExactTime, shortenID } from './humanize';
