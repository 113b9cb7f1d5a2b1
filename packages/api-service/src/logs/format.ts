/**
 * The per-app log files stage1 flavors keep, and their record format (docs/api-service.md).
 *
 * Path: `<pod>/stage1/rootfs/rkt/log/<app>` (for overlay pods the file is also found, and after
 * the pod exits only found, below the overlay upper dir: `overlay/<stage1 tree id>/upper/rkt/log/<app>`).
 *
 * Format: one record per line, the CRI container log format:
 * `<timestamp> <stream> <tag> <text>\n` where timestamp is RFC 3339 with nanoseconds in UTC
 * (`2024-05-01T12:00:00.123456789Z`), stream is `stdout` or `stderr`, tag is `F` for a full
 * line or `P` for a part of a long line continued in the next record of the same stream, and
 * text is the line without its newline.
 */
// The paths are part of the stage1 contract: defined once in @rktnetes/common.
export { STAGE1_LOG_DIR, appLogPathIn, appLogPath } from '@rktnetes/common';

export type LogStream = 'stdout' | 'stderr';

/** One parsed record. */
export interface LogRecord {
  /** ns since the epoch */
  time: bigint;
  /** the timestamp as written */
  timeText: string;
  stream: LogStream;
  /** false for a `P` record (the line continues in the next record) */
  full: boolean;
  text: string;
}

/** Longest text writers put in one record; longer lines are split into `P` records. */
export const MAX_RECORD_TEXT = 16 * 1024;

/** RFC 3339 in UTC with exactly nine fraction digits, from ns since the epoch. */
export function formatLogTime(ns: bigint): string {
  const sec = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  const iso = new Date(Number(sec) * 1000).toISOString(); // 2024-05-01T12:00:00.000Z
  return `${iso.slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

/** Parses an RFC 3339 timestamp (any fraction length, `Z` or an offset) to ns since the epoch. */
export function parseLogTime(text: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3] === 'Z' ? 'Z' : m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0') || '0');
}

/**
 * The log lines (with `\n`) for one line of output, split into records of at most
 * {@link MAX_RECORD_TEXT} characters. `time` defaults to now. For stage1 writers and tests.
 */
export function formatLogRecords(stream: LogStream, line: string, time: bigint = nowNs()): string {
  const text = line.endsWith('\n') ? line.slice(0, -1) : line;
  const ts = formatLogTime(time);
  const parts: string[] = [];
  for (let i = 0; i < text.length || i === 0; i += MAX_RECORD_TEXT) {
    const chunk = text.slice(i, i + MAX_RECORD_TEXT);
    const last = i + MAX_RECORD_TEXT >= text.length;
    parts.push(`${ts} ${stream} ${last ? 'F' : 'P'} ${chunk}\n`);
    if (last) break;
  }
  return parts.join('');
}

/** Parses one record (without its newline); undefined when it is not a record. */
export function parseLogRecord(line: string): LogRecord | undefined {
  const a = line.indexOf(' ');
  if (a < 0) return undefined;
  const b = line.indexOf(' ', a + 1);
  if (b < 0) return undefined;
  const stream = line.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const tag = line.slice(b + 1, b + 2);
  if ((tag !== 'F' && tag !== 'P') || (line.length > b + 2 && line[b + 2] !== ' ')) return undefined;
  const timeText = line.slice(0, a);
  const time = parseLogTime(timeText);
  if (time === undefined) return undefined;
  return { time, timeText, stream, full: tag === 'F', text: line.slice(b + 3) };
}

/** ns since the epoch, now. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
