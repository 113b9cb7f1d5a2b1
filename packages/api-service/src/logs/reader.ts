/**
 * Reading and following app log files (format in ./format.ts). Files are read without any lock;
 * a record is only taken once its newline is there, so a writer caught mid-line is read later.
 */
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseLogRecord, type LogRecord } from './format';

/** A record and the app it came from. */
export interface AppLogRecord extends LogRecord {
  app: string;
}

/** One app's log file; `path()` is asked again when the file vanishes (the pod may have moved). */
export interface LogSource {
  app: string;
  path(): string | undefined;
}

/** Which records: time bounds in ns since the epoch (since inclusive, until exclusive). */
export interface LogWindow {
  sinceNs?: bigint;
  untilNs?: bigint;
}

interface Position {
  ino: bigint;
  offset: number;
}

function inWindow(r: LogRecord, w: LogWindow): boolean {
  return (w.sinceNs === undefined || r.time >= w.sinceNs) && (w.untilNs === undefined || r.time < w.untilNs);
}

/** `<timestamp> <app> <stream> <F|P> <text>`: a record as GetLogs returns it. */
export function formatForClient(r: AppLogRecord): string {
  return `${r.timeText} ${r.app} ${r.stream} ${r.full ? 'F' : 'P'} ${r.text}`;
}

/** Sorts records of several apps by time; records of one app keep their file order. */
export function mergeRecords(lists: AppLogRecord[][]): AppLogRecord[] {
  const all = lists.flatMap((l, i) => l.map((r, j) => ({ r, i, j })));
  all.sort((a, b) => (a.r.time < b.r.time ? -1 : a.r.time > b.r.time ? 1 : a.i - b.i || a.j - b.j));
  return all.map((x) => x.r);
}

/** Reads the complete records after `pos` (updating it); a missing file yields none. */
async function readNew(source: LogSource, pos: Position | undefined): Promise<{ records: AppLogRecord[]; pos: Position | undefined }> {
  const path = source.path();
  if (path === undefined) return { records: [], pos };
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return { records: [], pos };
    throw e;
  }
  try {
    const st = await fh.stat({ bigint: true });
    let offset = pos && pos.ino === st.ino && Number(st.size) >= pos.offset ? pos.offset : 0; // new file or truncated: from the start
    const size = Number(st.size);
    if (size <= offset) return { records: [], pos: { ino: st.ino, offset } };
    const buf = Buffer.alloc(size - offset);
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    const end = buf.lastIndexOf(0x0a, bytesRead - 1);
    if (end < 0) return { records: [], pos: { ino: st.ino, offset } };
    const records: AppLogRecord[] = [];
    for (const line of buf.subarray(0, end).toString('utf8').split('\n')) {
      const r = parseLogRecord(line);
      if (r) records.push({ ...r, app: source.app });
    }
    offset += end + 1;
    return { records, pos: { ino: st.ino, offset } };
  } finally {
    await fh.close();
  }
}

/** The records of every source inside `window`, merged by time; `lines` > 0 keeps the last ones. */
export class LogReader {
  private readonly positions = new Map<string, Position | undefined>();

  constructor(private readonly sources: readonly LogSource[]) {}

  /** Everything written so far (inside the window), merged; remembers where each file ended. */
  async readExisting(window: LogWindow, lines = 0): Promise<AppLogRecord[]> {
    const lists: AppLogRecord[][] = [];
    for (const s of this.sources) {
      const { records, pos } = await readNew(s, undefined);
      this.positions.set(s.app, pos);
      lists.push(records.filter((r) => inWindow(r, window)));
    }
    const merged = mergeRecords(lists);
    return lines > 0 ? merged.slice(-lines) : merged;
  }

  /** What was appended since the last read (inside the window), merged. */
  async readAppended(window: LogWindow): Promise<AppLogRecord[]> {
    const lists: AppLogRecord[][] = [];
    for (const s of this.sources) {
      const { records, pos } = await readNew(s, this.positions.get(s.app));
      this.positions.set(s.app, pos);
      lists.push(records.filter((r) => inWindow(r, window)));
    }
    return mergeRecords(lists);
  }
}

/** Options of {@link followLogs}. */
export interface FollowOptions {
  signal: AbortSignal;
  /** ms between checks of the files (default 200) */
  intervalMs?: number;
  /** asked about once a second: true ends the follow after a last read (the pod is finished) */
  finished?: () => Promise<boolean> | boolean;
}

/**
 * Tails the sources after {@link LogReader.readExisting}: calls `send` with each batch of new
 * records until the signal aborts, the window's end passes, or `finished` says so.
 */
export async function followLogs(reader: LogReader, window: LogWindow, send: (records: AppLogRecord[]) => Promise<void>, opts: FollowOptions): Promise<void> {
  const interval = opts.intervalMs ?? 200;
  let lastCheck = Date.now();
  while (!opts.signal.aborted) {
    await sleep(interval, undefined, { signal: opts.signal }).catch(() => undefined);
    if (opts.signal.aborted) return;
    const batch = await reader.readAppended(window);
    if (batch.length) await send(batch);
    if (window.untilNs !== undefined && BigInt(Date.now()) * 1_000_000n >= window.untilNs) return;
    if (opts.finished && Date.now() - lastCheck >= 1000) {
      lastCheck = Date.now();
      if (await opts.finished()) {
        const rest = await reader.readAppended(window);
        if (rest.length) await send(rest);
        return;
      }
    }
  }
}

