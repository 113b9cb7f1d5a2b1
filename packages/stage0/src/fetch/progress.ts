/**
 * Download progress on a terminal: one line redrawn in place with the percentage, the sizes and
 * the rate. Nothing is written when stderr is not a TTY.
 */

/** Something to report download progress to. */
export interface Progress {
  /** `n` more bytes arrived */
  add(n: number): void;
  /** the download ended (successfully or not): finish the line */
  done(): void;
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

/** `3.25 MB`: decimal units like rkt's progress bar. */
export function formatBytes(n: number): string {
  let v = n;
  let i = 0;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(2)} ${UNITS[i]}`;
}

/**
 * One progress line: `Downloading image: [=====>     ]  45% 3.25 MB/7.20 MB 1.20 MB/s`, or
 * without a known total `Downloading image: 3.25 MB 1.20 MB/s`.
 */
export function formatProgress(label: string, done: number, total: number | undefined, bytesPerSec: number, width = 30): string {
  const rate = `${formatBytes(Math.round(bytesPerSec))}/s`;
  if (!total || total <= 0) return `Downloading ${label}: ${formatBytes(done)} ${rate}`;
  const frac = Math.max(0, Math.min(1, done / total));
  const filled = Math.floor(frac * width);
  const bar = '='.repeat(filled) + (filled < width ? '>' : '') + ' '.repeat(Math.max(0, width - filled - 1));
  const pct = `${Math.floor(frac * 100)}`.padStart(3);
  return `Downloading ${label}: [${bar}] ${pct}% ${formatBytes(done)}/${formatBytes(total)} ${rate}`;
}

/** Where progress goes; tests pass their own. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

/**
 * A progress reporter for a download of `total` bytes (undefined when unknown), `already`
 * bytes of which were there before (a resumed download). Redraws at most ten times a second.
 */
export function createProgress(label: string, total: number | undefined, already = 0, stream: ProgressStream = process.stderr): Progress {
  if (!stream.isTTY) return { add() {}, done() {} };
  const start = Date.now();
  let got = 0;
  let last = 0;
  let drawn = false;
  const draw = () => {
    const secs = Math.max((Date.now() - start) / 1000, 0.001);
    const line = formatProgress(label, already + got, total, got / secs);
    const cols = stream.columns || 100;
    stream.write(`\r${line.slice(0, Math.max(cols - 1, 20)).padEnd(Math.min(cols - 1, 100))}`);
    drawn = true;
  };
  return {
    add(n) {
      got += n;
      const now = Date.now();
      if (now - last >= 100) {
        last = now;
        draw();
      }
    },
    done() {
      if (got > 0 || drawn) {
        draw();
        stream.write('\n');
      }
    },
  };
}
