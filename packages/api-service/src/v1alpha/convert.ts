/**
 * From the package's records (pods, images, events) to v1alpha messages, with rkt's
 * conventions: pid and exit codes -1 while unknown, times 0 when unknown, image version
 * `latest` without a version label, app states only for started pods.
 */
import { isAfterRun, type PodState } from '@rktnetes/common';
import { APPC_VERSION } from '@rktnetes/schema';
import type { EventKind, RuntimeEvent } from '../events/watcher';
import type { ImageRecord } from '../images/view';
import type { PodRecord } from '../pods/view';
import type { App, Event, EventTypeName, Image, KeyValue, Network, Pod, PodStateName } from './messages';

const EMPTY = Buffer.alloc(0);

/** rkt's pod states to the API's (exited garbage is GARBAGE, as rkt reports it). */
export const POD_STATE_OF: Readonly<Record<PodState, PodStateName>> = {
  embryo: 'POD_STATE_EMBRYO',
  preparing: 'POD_STATE_PREPARING',
  'aborted prepare': 'POD_STATE_ABORTED_PREPARE',
  prepared: 'POD_STATE_PREPARED',
  running: 'POD_STATE_RUNNING',
  exited: 'POD_STATE_EXITED',
  deleting: 'POD_STATE_DELETING',
  'exited deleting': 'POD_STATE_DELETING',
  'exited garbage': 'POD_STATE_GARBAGE',
  garbage: 'POD_STATE_GARBAGE',
};

export const EVENT_TYPE_OF: Readonly<Record<EventKind, EventTypeName>> = {
  'pod-created': 'EVENT_TYPE_POD_CREATED',
  'pod-prepared': 'EVENT_TYPE_POD_PREPARED',
  'pod-prepare-aborted': 'EVENT_TYPE_POD_PREPARE_ABORTED',
  'pod-started': 'EVENT_TYPE_POD_STARTED',
  'pod-exited': 'EVENT_TYPE_POD_EXITED',
  'pod-garbage-collected': 'EVENT_TYPE_POD_GARBAGE_COLLECTED',
  'app-started': 'EVENT_TYPE_APP_STARTED',
  'app-exited': 'EVENT_TYPE_APP_EXITED',
  'image-imported': 'EVENT_TYPE_IMAGE_IMPORTED',
  'image-removed': 'EVENT_TYPE_IMAGE_REMOVED',
};

export const keyValues = (list: ReadonlyArray<{ name: string; value: string }>): KeyValue[] => list.map((a) => ({ Key: a.name, value: a.value }));

const ns = (t: bigint | undefined): string => (t === undefined ? '0' : t.toString());

function networksOf(rec: PodRecord): Network[] {
  return rec.networks.map((n) => (n.ip.includes(':') ? { name: n.netName, ipv4: '', ipv6: n.ip } : { name: n.netName, ipv4: n.ip, ipv6: '' }));
}

/** A pod message; the manifest only when `detail`. */
export function podMessage(rec: PodRecord, detail: boolean): Pod {
  const started = rec.state === 'running' || isAfterRun(rec.state);
  const apps: App[] = rec.apps.map((a) => ({
    name: a.name,
    image: {
      base_format: { type: 'IMAGE_TYPE_APPC', version: APPC_VERSION },
      id: a.imageId,
      name: a.imageName,
      version: a.imageVersion,
      import_timestamp: 0,
      manifest: EMPTY,
      size: 0,
      annotations: [],
      labels: [],
    },
    state: rec.state === 'running' ? 'APP_STATE_RUNNING' : started ? 'APP_STATE_EXITED' : 'APP_STATE_UNDEFINED',
    exit_code: started && a.exitCode !== undefined ? a.exitCode : -1,
    annotations: keyValues(a.annotations),
  }));
  return {
    id: rec.uuid,
    pid: rec.pid ?? -1,
    state: POD_STATE_OF[rec.state],
    apps,
    networks: rec.state === 'running' || rec.state === 'exited' ? networksOf(rec) : [],
    manifest: detail && rec.manifestText !== undefined ? Buffer.from(rec.manifestText) : EMPTY,
    annotations: keyValues(rec.annotations),
    cgroup: rec.cgroup ?? '',
    created_at: ns(rec.createdAt),
    started_at: ns(rec.startedAt),
    gc_marked_at: ns(rec.gcMarkedAt),
  };
}

/** An image message; the manifest only when `detail`. */
export function imageMessage(rec: ImageRecord, detail: boolean): Image {
  return {
    base_format: { type: 'IMAGE_TYPE_APPC', version: rec.acVersion || APPC_VERSION },
    id: rec.key,
    name: rec.name,
    version: rec.version,
    import_timestamp: Math.floor(rec.importTime.getTime() / 1000),
    manifest: detail ? Buffer.from(rec.manifestText) : EMPTY,
    size: rec.size,
    annotations: keyValues(rec.annotations),
    labels: keyValues(rec.labels),
  };
}

/** An event message. */
export function eventMessage(e: RuntimeEvent): Event {
  return {
    type: EVENT_TYPE_OF[e.kind],
    id: e.id,
    from: e.from,
    time: e.time,
    data: Object.entries(e.data).map(([Key, value]) => ({ Key, value })),
  };
}
