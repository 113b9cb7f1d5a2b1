/**
 * Reading the per-app logs stage1 writes in the CRI log format (docs/api-service.md, "Logs"):
 * one entry per line, `<RFC3339Nano UTC> <stdout|stderr> <F|P> <text>`, `P` marking a piece of a
 * line longer than 16 KiB that the next entries of the same stream complete.
 */
import * as fs from 'node:fs';

/** One log entry: a whole line of an app's output (its pieces joined). */
export interface LogEntry {
  /** the timestamp as written (UTC, 9-digit nanoseconds), so that entries compare as strings */
  time: string;
  stream: 'stdout' | 'stderr';
  /** the line, without its newline */
  text: string;
}

/** One line of a CRI log file, before pieces are joined. */
export interface LogRecord extends LogEntry {
  partial: boolean;
}

const LINE = /^(\S+) (stdout|stderr) ([FP])(?: (.*))?$/s;

/** Parses one line of a log file (without its newline); undefined for a malformed line. */
export function parseLogLine(line: string): LogRecord | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  return { time: m[1]!, stream: m[2] as 'stdout' | 'stderr', partial: m[3] === 'P', text: m[4] ?? '' };
}

/**
 * Turns the lines of a log file into entries, joining `P` pieces with the line that completes
 * them. Malformed lines are skipped. State is kept between calls so that a file read in chunks
 * (`--follow`) gives the same entries.
 */
export class LogDecoder {
  private rest = '';
  private readonly pending: Record<'stdout' | 'stderr', LogRecord | undefined> = { stdout: undefined, stderr: undefined };

  /** Feeds bytes read from the file; returns the entries they complete. */
  push(chunk: string): LogEntry[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    const out: LogEntry[] = [];
    for (const line of lines) {
      const r = parseLogLine(line);
      if (!r) continue;
      const prev = this.pending[r.stream];
      const joined: LogRecord = prev ? { ...r, time: prev.time, text: prev.text + r.text } : r;
      if (joined.partial) this.pending[r.stream] = joined;
      else {
        this.pending[r.stream] = undefined;
        out.push({ time: joined.time, stream: joined.stream, text: joined.text });
      }
    }
    return out;
  }

  /** The entries left when the file ends: a last unterminated line and unfinished pieces. */
  end(): LogEntry[] {
    const out = this.rest ? this.push('\n') : [];
    for (const s of ['stdout', 'stderr'] as const) {
      const p = this.pending[s];
      if (p) out.push({ time: p.time, stream: p.stream, text: p.text });
      this.pending[s] = undefined;
    }
    return out;
  }
}

/** Parses a whole log text into entries. */
export function parseLog(text: string): LogEntry[] {
  const d = new LogDecoder();
  return [...d.push(text), ...d.end()];
}

/**
 * A log file read incrementally: opened when it appears, read from where the last read
 * stopped. The descriptor stays valid when the pod directory moves (run → exited-garbage).
 */
export class LogFile {
  private fd: number | undefined;
  private offset = 0;
  private readonly decoder = new LogDecoder();

  constructor(readonly app: string) {}

  /** Reads what was appended since the last call; `path` is where the file is now. */
  read(path: string | undefined): LogEntry[] {
    if (this.fd === undefined) {
      if (path === undefined) return [];
      try {
        this.fd = fs.openSync(path, 'r');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
        throw e;
      }
    }
    const chunks: Buffer[] = [];
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(this.fd, buf, 0, buf.length, this.offset);
      if (n <= 0) break;
      this.offset += n;
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    // a UTF-8 character cut by the end of the file is completed by the next read: keep it back
    let data = Buffer.concat(chunks);
    const cut = incompleteTail(data);
    if (cut) {
      this.offset -= cut;
      data = data.subarray(0, data.length - cut);
    }
    return data.length ? this.decoder.push(data.toString('utf8')) : [];
  }

  /** The entries left at the end, and closes the file. */
  close(): LogEntry[] {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    return this.decoder.end();
  }
}

/** How many bytes at the end of `b` start a UTF-8 sequence that is not complete yet. */
function incompleteTail(b: Buffer): number {
  for (let i = 1; i <= Math.min(3, b.length); i++) {
    const c = b[b.length - i]!;
    if ((c & 0xc0) === 0x80) continue;
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > i ? i : 0;
  }
  return 0;
}
