/**
 * Go's text forms the pod commands need beyond `src/output`: durations (`30m`, `30m0s`) and
 * quoted strings (`%q`).
 */
import { usageError } from '@rktnetes/errors';

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Go duration (`30m`, `1h30m`, `1.5h`, `300ms`, `0`, `-1s`) into milliseconds. Usage
 * error `cli.invalid-duration` naming `flag` otherwise.
 */
export function parseGoDuration(text: string, flag: string): number {
  const bad = () => usageError('cli.invalid-duration', `invalid argument ${JSON.stringify(text)} for --${flag}: not a duration (like 30s, 5m, 1h30m)`);
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    sign = s.startsWith('-') ? -1 : 1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw bad();
  let total = 0;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (s !== '') {
    const m = re.exec(s);
    if (!m) throw bad();
    total += Number(m[1]) * UNITS[m[2]!]!;
    s = s.slice(m[0].length);
  }
  return sign * total;
}

/** Formats milliseconds as Go's Duration.String (`30m0s`, `24h0m0s`, `1.5s`, `0s`, `300ms`). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  let out: string;
  if (rest < 1000) {
    out = rest >= 1 ? `${trimFloat(rest)}ms` : rest >= 1e-3 ? `${trimFloat(rest * 1e3)}µs` : `${trimFloat(rest * 1e6)}ns`;
  } else {
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    const s = `${trimFloat(rest / 1000)}s`;
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return neg ? `-${out}` : out;
}

function trimFloat(n: number): string {
  return String(Number(n.toFixed(9)));
}

/** Go's %q for a plain string: a double-quoted JSON-style string. */
export const quote = (s: string): string => JSON.stringify(s);
