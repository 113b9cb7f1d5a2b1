/**
 * Pod and image events derived from on-disk state. rkt has no daemon and records no events, so
 * the watcher samples the pods directories and the store (on a timer, and soon after inotify
 * reports a change there) and turns what changed into events. Event times come from the disk
 * where it records them (pod-created, pid, status and -started mtimes, the gc rename's ctime,
 * import times); otherwise they are the time the change was noticed.
 *
 * On start, the history of what is on disk is reconstructed the same way, so a subscriber asking
 * for events since an earlier time also gets events from before the service started (for pods and
 * images still there). The history keeps the last {@link EventWatcherOptions.historyLimit} events.
 */
import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { POD_DIR_STATES, isAfterRun, podsDir } from '@rktnetes/common';
import { layoutFor } from '@rktnetes/store';
import type { Logger } from '@rktnetes/log';
import type { ImageView } from '../images/view';
import { podName, type PodRecord, type PodView } from '../pods/view';

/** What happened. */
export type EventKind =
  | 'pod-created'
  | 'pod-prepared'
  | 'pod-prepare-aborted'
  | 'pod-started'
  | 'pod-exited'
  | 'pod-garbage-collected'
  | 'app-started'
  | 'app-exited'
  | 'image-imported'
  | 'image-removed';

/** One event. */
export interface RuntimeEvent {
  kind: EventKind;
  /** pod uuid (pod and app events) or image key */
  id: string;
  /** pod name annotation, app name or image name */
  from: string;
  /** seconds since the epoch */
  time: number;
  data: Record<string, string>;
}

export interface EventWatcherOptions {
  /** ms between scans when inotify reports nothing (default 1000) */
  intervalMs?: number;
  /** events kept for subscribers asking for the past (default 10000) */
  historyLimit?: number;
  log?: Logger;
}

type Listener = (events: RuntimeEvent[]) => void;

interface PodMemory {
  emitted: Set<string>;
  name: string;
}

const sec = (ns: bigint | undefined, fallback: number): number => (ns === undefined ? fallback : Number(ns / 1_000_000_000n));

/**
 * The milestones a pod's current state implies, keyed so each is reported once per pod:
 * `created`, `prepared`, `aborted`, `started`, `app-started:<app>`, `app-exited:<app>`, `exited`.
 */
export function podMilestones(rec: PodRecord, now: number): Array<{ key: string; event: RuntimeEvent }> {
  const out: Array<{ key: string; event: RuntimeEvent }> = [];
  const name = podName(rec);
  const add = (key: string, kind: EventKind, time: number, from = name, data: Record<string, string> = {}) =>
    out.push({ key, event: { kind, id: rec.uuid, from, time, data } });
  add('created', 'pod-created', sec(rec.createdAt, now), name, { state: rec.state });
  if (rec.dir === 'prepared') add('prepared', 'pod-prepared', sec(rec.dirChangedAt, now));
  if (rec.state === 'aborted prepare') add('aborted', 'pod-prepare-aborted', now);
  // a pod in run or exited-garbage has been started; one in garbage never ran
  const ran = rec.dir === 'run' || rec.dir === 'exited-garbage';
  if (ran) {
    const t = sec(rec.startedAt, now);
    add('started', 'pod-started', t);
    for (const app of rec.apps) {
      if (app.startedAt !== undefined) add(`app-started:${app.name}`, 'app-started', sec(app.startedAt, t), app.name);
      else if (!app.added) add(`app-started:${app.name}`, 'app-started', t, app.name);
    }
  }
  for (const app of rec.apps) {
    if (app.exitCode !== undefined) add(`app-exited:${app.name}`, 'app-exited', sec(app.exitedAt, now), app.name, { exitCode: String(app.exitCode) });
  }
  if (ran && isAfterRun(rec.state)) {
    const exits = rec.apps.map((a) => a.exitedAt).filter((t): t is bigint => t !== undefined);
    const last = exits.length ? exits.reduce((a, b) => (a > b ? a : b)) : undefined;
    add('exited', 'pod-exited', sec(last, now));
  }
  return out;
}

/** Samples pods and images, keeps a bounded history and tells subscribers what changed. */
export class EventWatcher {
  private readonly pods = new Map<string, PodMemory>();
  private images = new Map<string, { name: string; version: string }>();
  private readonly history: RuntimeEvent[] = [];
  private readonly listeners = new Set<Listener>();
  private readonly watchers = new Map<string, FSWatcher>();
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private readonly lastError = new Map<string, string>();
  private readonly intervalMs: number;
  private readonly historyLimit: number;

  constructor(
    private readonly podView: PodView,
    private readonly imageView: ImageView,
    private readonly opts: EventWatcherOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 1000;
    this.historyLimit = opts.historyLimit ?? 10_000;
  }

  /** Takes the first sample (its reconstructed history sorted by time) and starts watching. */
  async start(): Promise<void> {
    await this.scan();
    this.history.sort((a, b) => a.time - b.time);
    this.timer = setInterval(() => void this.scan(), this.intervalMs);
    this.timer.unref();
  }

  /**
   * Adds a listener for future events and returns the recorded events at or after `since`
   * (seconds; none when undefined), in the same tick so nothing is missed or repeated.
   */
  subscribe(since: number | undefined, listener: Listener): { replay: RuntimeEvent[]; unsubscribe: () => void } {
    const replay = since === undefined ? [] : this.history.filter((e) => e.time >= since);
    this.listeners.add(listener);
    return { replay, unsubscribe: () => this.listeners.delete(listener) };
  }

  /** One sample now (serialised with the timer's); resolves when it is done. */
  scan(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.scanning) {
      this.again = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.again = false;
        await this.sample();
      } while (this.again && !this.closed);
    })().finally(() => {
      this.scanning = undefined;
    });
    return this.scanning;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.listeners.clear();
  }

  private scanSoon(): void {
    if (this.soon || this.closed) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.scan();
    }, 20);
  }

  /** inotify on the pods directories and the store's database directory, where they exist. */
  private ensureWatches(): void {
    const dirs = [...POD_DIR_STATES.map((s) => podsDir(this.podView.dataDir, s)), join(layoutFor(this.imageView.dataDir).cas, 'db')];
    for (const dir of dirs) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.scanSoon());
        w.on('error', () => {
          w.close();
          this.watchers.delete(dir);
        });
        this.watchers.set(dir, w);
      } catch {
        // not there yet; the timer keeps sampling
      }
    }
  }

  private async sample(): Promise<void> {
    this.ensureWatches();
    const now = Math.floor(Date.now() / 1000);
    const events: RuntimeEvent[] = [];

    await this.guard('pods', () => this.samplePods(events, now));
    await this.guard('images', () => this.sampleImages(events, now));

    if (events.length === 0) return;
    events.sort((a, b) => a.time - b.time);
    this.history.push(...events);
    if (this.history.length > this.historyLimit) this.history.splice(0, this.history.length - this.historyLimit);
    for (const l of this.listeners) l(events);
  }

  /** Runs one part of a sample; a failure is logged once (until it changes or clears) and skipped. */
  private async guard(what: string, fn: () => Promise<void> | void): Promise<void> {
    try {
      await fn();
      this.lastError.delete(what);
    } catch (e) {
      const msg = (e as Error)?.message ?? String(e);
      if (this.lastError.get(what) !== msg) this.opts.log?.error(e, `events: cannot sample ${what}`);
      this.lastError.set(what, msg);
    }
  }

  private async samplePods(events: RuntimeEvent[], now: number): Promise<void> {
    const seen = new Set<string>();
    for (const rec of await this.podView.list()) {
      seen.add(rec.uuid);
      let mem = this.pods.get(rec.uuid);
      if (!mem) {
        mem = { emitted: new Set(), name: podName(rec) };
        this.pods.set(rec.uuid, mem);
      }
      mem.name = podName(rec) || mem.name;
      for (const { key, event } of podMilestones(rec, now)) {
        if (mem.emitted.has(key)) continue;
        mem.emitted.add(key);
        events.push(event);
      }
    }
    for (const [uuid, mem] of this.pods) {
      if (seen.has(uuid)) continue;
      // caught between two state directories by the listing? then it is still there
      if (this.podView.locate(uuid)) continue;
      this.pods.delete(uuid);
      if (mem.emitted.has('started') && !mem.emitted.has('exited')) events.push({ kind: 'pod-exited', id: uuid, from: mem.name, time: now, data: {} });
      events.push({ kind: 'pod-garbage-collected', id: uuid, from: mem.name, time: now, data: {} });
    }
  }

  private sampleImages(events: RuntimeEvent[], now: number): void {
    const images = this.imageView.summary();
    for (const [key, info] of images) {
      if (!this.images.has(key)) {
        events.push({ kind: 'image-imported', id: key, from: info.name, time: Math.floor(info.importTime.getTime() / 1000), data: { version: info.version } });
      }
    }
    for (const [key, info] of this.images) {
      if (!images.has(key)) events.push({ kind: 'image-removed', id: key, from: info.name, time: now, data: { version: info.version } });
    }
    this.images = new Map([...images].map(([k, v]) => [k, { name: v.name, version: v.version }]));
  }
}
