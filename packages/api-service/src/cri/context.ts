/**
 * What every CRI handler works with: the rkt runner, the server's records, the image view, the
 * read-only pod view and the locks, plus the few choices made at start.
 */
import type { Logger } from '@rktnetes/log';
import type { PodRecord, PodView } from '../pods/view';
import type { CriImages } from './images';
import type { KeyedLocks } from './locks';
import type { Rkt } from './rkt';
import type { CriState } from './state';
import type { StreamingServer } from './streaming/server';

/** Server-wide choices. */
export interface CriSettings {
  /** flags naming the stage1 of every sandbox (`--stage1-name=...`), empty for rkt's default */
  stage1Args: string[];
  /** ms a new sandbox may take to become ready */
  sandboxStartTimeoutMs: number;
  /** ms `rkt stop` may take before the pod is stopped with --force */
  sandboxStopTimeoutMs: number;
}

export interface CriContext {
  rkt: Rkt;
  state: CriState;
  images: CriImages;
  pods: PodView;
  locks: KeyedLocks;
  settings: CriSettings;
  /** sandbox and container names being created right now (ALREADY_EXISTS for a second one) */
  reserved: Set<string>;
  /** the server the URLs of Exec, Attach and PortForward point to */
  streaming?: StreamingServer;
  log?: Logger;
}

/** The rkt pod with this uuid as it is now, undefined when it is gone. */
export function readPod(ctx: Pick<CriContext, 'pods'>, uuid: string): PodRecord | undefined {
  const loc = ctx.pods.locate(uuid);
  return loc ? ctx.pods.read(loc) : undefined;
}

/** Lock keys: sandboxes and containers live in one lock table. */
export const sandboxKey = (id: string) => `sandbox/${id}`;
export const containerKey = (id: string) => `container/${id}`;
