/**
 * The master side of a pseudo-terminal as a Node object: reads through libuv (a tty handle on
 * the non-blocking fd), writes through a queue of fs.write calls retried on EAGAIN (libuv would
 * write a master with blocking writes, stalling the event loop while the terminal's buffer is
 * full). EIO, what Linux reports once every slave fd is closed, is the end of the output.
 */
import { EventEmitter } from 'node:events';
import { write } from 'node:fs';
import tty from 'node:tty';
import { setNonBlocking, setWindowSize } from '@rktnetes/sys';

/** Bytes queued for the terminal beyond which {@link PtyMaster.write} says "wait" (false). */
const HIGH_WATER = 256 * 1024;

/** Events: `data` (Buffer), `end` (no more output), `drain` (the write queue emptied). */
export class PtyMaster extends EventEmitter {
  private readonly rs: tty.ReadStream;
  private queue: Buffer[] = [];
  private queued = 0;
  private writing = false;
  private closed = false;
  private ended = false;
  private closeWaiter: (() => void) | undefined;

  constructor(readonly fd: number) {
    super();
    setNonBlocking(fd);
    this.rs = new tty.ReadStream(fd);
    this.rs.on('data', (d: Buffer) => this.emit('data', d));
    this.rs.on('end', () => this.end());
    this.rs.on('error', () => this.end());
  }

  /** Stops reading until {@link resume}. */
  pause(): void {
    this.rs.pause();
  }

  resume(): void {
    this.rs.resume();
  }

  /** Queues bytes for the terminal (its input); false when the queue is long. */
  write(data: Buffer): boolean {
    if (this.closed) return false;
    if (data.length) {
      this.queue.push(data);
      this.queued += data.length;
      this.pump();
    }
    return this.queued < HIGH_WATER;
  }

  /** Sets the terminal size (rows × columns). */
  resize(rows: number, cols: number): void {
    if (!this.closed) setWindowSize(this.fd, rows, cols);
  }

  /** Drops pending input and closes the fd (after a write in flight has returned). */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.queue = [];
    this.queued = 0;
    return new Promise((resolve) => {
      const finish = () => {
        this.rs.destroy();
        resolve();
      };
      if (this.writing) this.closeWaiter = finish;
      else finish();
    });
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.emit('end');
  }

  private pump(): void {
    if (this.writing || this.closed) return;
    const buf = this.queue[0];
    if (!buf) return;
    this.writing = true;
    write(this.fd, buf, 0, buf.length, null, (err, n) => {
      this.writing = false;
      if (this.closed) {
        this.closeWaiter?.();
        return;
      }
      if (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          setTimeout(() => this.pump(), 5);
          return;
        }
        // the terminal is gone: nothing more can be written
        this.queue = [];
        this.queued = 0;
        return;
      }
      this.queued -= n;
      if (n < buf.length) this.queue[0] = buf.subarray(n);
      else this.queue.shift();
      if (this.queue.length) this.pump();
      else this.emit('drain');
    });
  }
}
