/**
 * Durations in Go's syntax, as rkt's duration flags take them: a sequence of decimal numbers
 * with units `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h` — `24h`, `1h30m`, `1.5h`, `300ms` — or a
 * bare `0`.
 */
import { usageError } from '@rktnetes/errors';

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a non-negative Go duration into milliseconds. Throws `cli.duration` (usage) naming `flag`. */
export function parseGoDuration(value: string, flag: string): number {
  const s = value.trim().replace(/^\+/, '');
  if (s === '0') return 0;
  const part = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    part.lastIndex = pos;
    const m = part.exec(s);
    if (!m) break;
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    pos = part.lastIndex;
  }
  if (s.length === 0 || pos !== s.length) {
    throw usageError('cli.duration', `--${flag}: invalid duration "${value}" (examples: 24h, 1h30m, 90s, 0)`);
  }
  return total;
}

/** Milliseconds as a Go-style duration for messages: `24h0m0s`, `1m30s`, `0s`. */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}
