/**
 * Keyed read-write locks for the CRI server's own calls: container calls of a sandbox share its
 * lock (kubelet stops a pod's containers in parallel, each waiting out its grace period) and
 * hold their container's lock alone; sandbox stop and removal take the sandbox's lock alone.
 * rkt serialises what must be serialised inside a pod (its manifest lock); these locks keep
 * the server's records consistent with what rkt did.
 */

interface Entry {
  readers: number;
  writer: boolean;
  queue: Array<{ exclusive: boolean; wake: () => void }>;
}

/** Read-write locks by key; entries vanish when unused. */
export class KeyedLocks {
  private readonly entries = new Map<string, Entry>();

  private entry(key: string): Entry {
    let e = this.entries.get(key);
    if (!e) {
      e = { readers: 0, writer: false, queue: [] };
      this.entries.set(key, e);
    }
    return e;
  }

  private async acquire(key: string, exclusive: boolean): Promise<void> {
    const e = this.entry(key);
    const free = exclusive ? !e.writer && e.readers === 0 && e.queue.length === 0 : !e.writer && !e.queue.some((w) => w.exclusive);
    if (free) {
      if (exclusive) e.writer = true;
      else e.readers++;
      return;
    }
    await new Promise<void>((wake) => e.queue.push({ exclusive, wake }));
  }

  private release(key: string, exclusive: boolean): void {
    const e = this.entries.get(key)!;
    if (exclusive) e.writer = false;
    else e.readers--;
    // wake in order: one writer, or every reader up to the next writer
    while (e.queue.length && !e.writer) {
      const next = e.queue[0]!;
      if (next.exclusive) {
        if (e.readers > 0) break;
        e.queue.shift();
        e.writer = true;
        next.wake();
        break;
      }
      e.queue.shift();
      e.readers++;
      next.wake();
    }
    if (!e.writer && e.readers === 0 && e.queue.length === 0) this.entries.delete(key);
  }

  /** Runs `fn` holding `key` shared. */
  async shared<T>(key: string, fn: () => Promise<T>): Promise<T> {
    await this.acquire(key, false);
    try {
      return await fn();
    } finally {
      this.release(key, false);
    }
  }

  /** Runs `fn` holding `key` alone. */
  async exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    await this.acquire(key, true);
    try {
      return await fn();
    } finally {
      this.release(key, true);
    }
  }

  /** Keys currently held or waited for (tests). */
  get size(): number {
    return this.entries.size;
  }
}
