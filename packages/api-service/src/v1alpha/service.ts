/**
 * The v1alpha PublicAPI handlers: a read-only view of one data directory's pods, images, logs
 * and events. Errors are thrown as RktErrors and mapped to gRPC statuses by the gRPC glue.
 */
import { existsSync } from 'node:fs';
import { isFinished } from '@rktnetes/common';
import { usageError, userError } from '@rktnetes/errors';
import type { Logger } from '@rktnetes/log';
import { APPC_VERSION, isACName } from '@rktnetes/schema';
import type { EventWatcher, RuntimeEvent } from '../events/watcher';
import { serverStream, unary, type ServiceRegistration, type StreamSink } from '../grpc/server';
import type { ImageView } from '../images/view';
import { appLogPathIn } from '../logs/format';
import { LogReader, followLogs, formatForClient, type AppLogRecord, type LogSource, type LogWindow } from '../logs/reader';
import type { PodView } from '../pods/view';
import { loadServiceDefinition } from '../proto';
import { API_VERSION, rktVersion } from '../version';
import { eventMessage, imageMessage, podMessage } from './convert';
import { eventTypes, imagePredicate, int64, podPredicate } from './filters';
import type {
  Event,
  GetLogsRequest,
  GlobalFlags,
  InspectImageRequest,
  InspectPodRequest,
  ListImagesRequest,
  ListPodsRequest,
  ListenEventsRequest,
} from './messages';

/** What the handlers work on. */
export interface V1AlphaContext {
  /** the flags reported by GetInfo */
  globalFlags: GlobalFlags;
  pods: PodView;
  images: ImageView;
  events: EventWatcher;
  log?: Logger;
  /** ms between checks of followed log files (default 200) */
  logPollMs?: number;
}

/** Most lines put in one GetLogsResponse. */
const LINES_PER_MESSAGE = 1000;

const invalid = (message: string) => usageError('api.invalid-argument', message);

function checkPodId(id: string): void {
  if (!id) throw invalid('pod id is required');
  if (!/^[0-9a-fA-F-]+$/.test(id)) throw invalid(`invalid pod id "${id}": expected a uuid or a prefix of one`);
}

function timeWindow(since: number, until: number): { since: number; until: number } {
  if (since < 0 || until < 0) throw invalid('times must not be negative');
  if (since > 0 && until > 0 && until < since) throw invalid(`until time ${until} is before since time ${since}`);
  return { since, until };
}

async function sendLines(sink: StreamSink<{ lines: string[] }>, records: readonly AppLogRecord[], always: boolean): Promise<void> {
  if (records.length === 0) {
    if (always) await sink.write({ lines: [] });
    return;
  }
  for (let i = 0; i < records.length; i += LINES_PER_MESSAGE) {
    await sink.write({ lines: records.slice(i, i + LINES_PER_MESSAGE).map(formatForClient) });
  }
}

/** The handlers, by method name. */
export function publicApiHandlers(ctx: V1AlphaContext) {
  return {
    GetInfo: unary(() => ({
      info: { rkt_version: rktVersion(), appc_version: APPC_VERSION, api_version: API_VERSION, global_flags: ctx.globalFlags },
    })),

    ListPods: unary(async (req: ListPodsRequest) => {
      const keep = podPredicate(req.filters);
      const pods = (await ctx.pods.list()).map((rec) => podMessage(rec, req.detail)).filter(keep);
      return { pods };
    }),

    InspectPod: unary(async (req: InspectPodRequest) => {
      checkPodId(req.id);
      return { pod: podMessage(await ctx.pods.get(req.id), true) };
    }),

    ListImages: unary((req: ListImagesRequest) => {
      const keep = imagePredicate(req.filters);
      return { images: ctx.images.list().map((rec) => imageMessage(rec, req.detail)).filter(keep) };
    }),

    InspectImage: unary((req: InspectImageRequest) => {
      if (!req.id) throw invalid('image id is required');
      return { image: imageMessage(ctx.images.get(req.id), true) };
    }),

    ListenEvents: serverStream(async (req: ListenEventsRequest, sink: StreamSink<{ events: Event[] }>) => {
      const f = req.filter;
      const types = new Set(eventTypes(f?.types ?? []));
      const ids = new Set(f?.ids ?? []);
      const names = new Set(f?.names ?? []);
      const { since, until } = timeWindow(int64(f?.since_time), int64(f?.until_time));
      const wanted = (e: RuntimeEvent) =>
        (since === 0 || e.time >= since) &&
        (until === 0 || e.time <= until) &&
        (ids.size === 0 || ids.has(e.id)) &&
        (names.size === 0 || names.has(e.from));
      const select = (events: readonly RuntimeEvent[]) => events.filter(wanted).map(eventMessage).filter((m) => types.size === 0 || types.has(m.type));

      let queue: Event[] = [];
      let wake: (() => void) | undefined;
      const sub = ctx.events.subscribe(since > 0 ? since : undefined, (events) => {
        const picked = select(events);
        if (picked.length === 0) return;
        queue.push(...picked);
        wake?.();
      });
      const stopAt = until > 0 ? until * 1000 + 999 : undefined;
      let timer: NodeJS.Timeout | undefined;
      try {
        await sink.write({ events: select(sub.replay) });
        if (stopAt !== undefined && Date.now() > stopAt) return;
        const done = new Promise<void>((resolve) => {
          sink.signal.addEventListener('abort', () => resolve());
          if (stopAt !== undefined) timer = setTimeout(resolve, stopAt - Date.now());
        });
        for (;;) {
          if (queue.length === 0) {
            const woken = new Promise<void>((resolve) => (wake = resolve));
            const which = await Promise.race([woken.then(() => 'event' as const), done.then(() => 'done' as const)]);
            wake = undefined;
            if (which === 'done') {
              if (queue.length && !sink.signal.aborted) await sink.write({ events: queue });
              return;
            }
          }
          const batch = queue;
          queue = [];
          await sink.write({ events: batch });
          if (sink.signal.aborted) return;
        }
      } finally {
        sub.unsubscribe();
        if (timer) clearTimeout(timer);
      }
    }),

    GetLogs: serverStream(async (req: GetLogsRequest, sink: StreamSink<{ lines: string[] }>) => {
      checkPodId(req.pod_id);
      if (req.lines < 0) throw invalid(`lines must not be negative, got ${req.lines}`);
      if (req.app_name && !isACName(req.app_name)) throw invalid(`invalid app name "${req.app_name}"`);
      const { since, until } = timeWindow(int64(req.since_time), int64(req.until_time));
      const pod = await ctx.pods.get(req.pod_id);
      let apps = pod.apps.map((a) => a.name);
      if (req.app_name) {
        if (!apps.includes(req.app_name)) {
          throw userError('api.not-found', `pod ${pod.uuid} has no app "${req.app_name}"`, { details: { uuid: pod.uuid, app: req.app_name } });
        }
        apps = [req.app_name];
      }
      const sources: LogSource[] = apps.map((app) => {
        let current = appLogPathIn(pod.stage1Root, app);
        return {
          app,
          path() {
            if (existsSync(current)) return current;
            const loc = ctx.pods.locate(pod.uuid);
            const rec = loc && ctx.pods.read(loc);
            if (rec) current = appLogPathIn(rec.stage1Root, app);
            return current;
          },
        };
      });
      const window: LogWindow = {
        ...(since > 0 ? { sinceNs: BigInt(since) * 1_000_000_000n } : {}),
        ...(until > 0 ? { untilNs: BigInt(until) * 1_000_000_000n } : {}),
      };
      const reader = new LogReader(sources);
      await sendLines(sink, await reader.readExisting(window, req.lines), true);
      if (!req.follow) return;
      await followLogs(reader, window, (records) => sendLines(sink, records, false), {
        signal: sink.signal,
        intervalMs: ctx.logPollMs ?? 200,
        finished: () => {
          const loc = ctx.pods.locate(pod.uuid);
          const rec = loc && ctx.pods.read(loc);
          return !rec || isFinished(rec.state);
        },
      });
    }),
  };
}

/** The v1alpha PublicAPI service, ready for {@link createGrpcServer}. */
export async function v1alphaService(ctx: V1AlphaContext): Promise<ServiceRegistration> {
  return {
    definition: await loadServiceDefinition('v1alpha/api.proto', 'v1alpha', 'PublicAPI'),
    implementation: publicApiHandlers(ctx) as unknown as ServiceRegistration['implementation'],
  };
}
