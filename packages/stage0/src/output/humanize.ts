/**
 * Human-friendly and exact renderings of times, sizes and IDs, matching what rkt prints:
 * relative times ("3 minutes ago"), IEC sizes ("12 MiB"), Go's default time layout for
 * `--full` ("2006-01-02 15:04:05.999 -0700 MST") and shortened IDs.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const MONTH = 30 * DAY;
const YEAR = 12 * MONTH;

/** [limit, unit length, singular text, plural unit] in increasing order */
const STEPS: Array<[limit: number, unit: number, one: string, many: string]> = [
  [2 * SECOND, SECOND, '1 second', 'seconds'],
  [MINUTE, SECOND, '', 'seconds'],
  [2 * MINUTE, MINUTE, '1 minute', 'minutes'],
  [HOUR, MINUTE, '', 'minutes'],
  [2 * HOUR, HOUR, '1 hour', 'hours'],
  [DAY, HOUR, '', 'hours'],
  [2 * DAY, DAY, '1 day', 'days'],
  [WEEK, DAY, '', 'days'],
  [2 * WEEK, WEEK, '1 week', 'weeks'],
  [MONTH, WEEK, '', 'weeks'],
  [2 * MONTH, MONTH, '1 month', 'months'],
  [YEAR, MONTH, '', 'months'],
  [18 * MONTH, YEAR, '1 year', 'years'],
  [2 * YEAR, YEAR, '2 years', 'years'],
  [37 * YEAR, YEAR, '', 'years'],
];

/** `when` relative to `now`: "now", "5 minutes ago", "2 days from now", "a long while ago". */
export function humanizeTime(when: Date, now: Date = new Date()): string {
  let diff = now.getTime() - when.getTime();
  const suffix = diff < 0 ? 'from now' : 'ago';
  diff = Math.abs(diff);
  if (diff < SECOND) return 'now';
  for (const [limit, unit, one, many] of STEPS) {
    if (diff < limit) return `${one || `${Math.floor(diff / unit)} ${many}`} ${suffix}`;
  }
  return `a long while ${suffix}`;
}

const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** Bytes in IEC units: "512 B", "1.5 KiB", "12 MiB" (one decimal below 10). */
export function humanizeBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const e = Math.min(Math.floor(Math.log(n) / Math.log(1024)), IEC.length - 1);
  // rounded to one decimal first, which is shown only below 10
  const v = Math.floor((n / 1024 ** e) * 10 + 0.5) / 10;
  return `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ${IEC[e]}`;
}

let zoneFormat: Intl.DateTimeFormat | undefined;

function zoneName(d: Date, offset: string): string {
  try {
    zoneFormat ??= new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });
    const name = zoneFormat.formatToParts(d).find((p) => p.type === 'timeZoneName')?.value;
    // Go prints the numeric offset when the zone has no abbreviation
    if (name && /^[A-Z]{2,5}$/.test(name)) return name;
  } catch {
    // no Intl time zone data: fall through
  }
  return offset;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * The exact local time in Go's default layout as rkt prints it with `--full`:
 * `2015-12-14 12:30:33.652 +0100 CET` (milliseconds without trailing zeros).
 */
export function formatExactTime(d: Date): string {
  const ms = d.getMilliseconds();
  const frac = ms ? `.${pad(ms, 3).replace(/0+$/, '')}` : '';
  const off = -d.getTimezoneOffset();
  const offset = `${off < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(off) / 60))}${pad(Math.abs(off) % 60)}`;
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${frac}`;
  return `${date} ${time} ${offset} ${zoneName(d, offset)}`;
}

/**
 * An ID shortened for tables: the algorithm prefix and the first `digits` characters after the
 * dash (rkt shows `sha512-` and 12 hex digits); IDs without a dash are cut to `digits`.
 */
export function shortenID(id: string, digits = 12): string {
  const dash = id.indexOf('-');
  const end = dash + 1 + digits;
  return end < id.length ? id.slice(0, end) : id;
}
