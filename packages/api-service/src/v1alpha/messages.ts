/**
 * TypeScript shapes of the v1alpha messages as the proto loader presents them (field names as
 * in proto/v1alpha/api.proto, enums by name, 64-bit integers as decimal strings on the way in;
 * strings, numbers or bigints accepted on the way out).
 */

export type Int64 = string | number;

export interface KeyValue {
  Key: string;
  value: string;
}

export type ImageType = 'IMAGE_TYPE_UNDEFINED' | 'IMAGE_TYPE_APPC' | 'IMAGE_TYPE_DOCKER' | 'IMAGE_TYPE_OCI';

export interface ImageFormat {
  type: ImageType;
  version: string;
}

export interface Image {
  base_format: ImageFormat | null;
  id: string;
  name: string;
  version: string;
  import_timestamp: Int64;
  manifest: Buffer;
  size: Int64;
  annotations: KeyValue[];
  labels: KeyValue[];
}

export interface Network {
  name: string;
  ipv4: string;
  ipv6: string;
}

export type AppState = 'APP_STATE_UNDEFINED' | 'APP_STATE_RUNNING' | 'APP_STATE_EXITED';

export interface App {
  name: string;
  image: Image | null;
  state: AppState;
  exit_code: number;
  annotations: KeyValue[];
}

export const POD_STATE_NAMES = [
  'POD_STATE_UNDEFINED',
  'POD_STATE_EMBRYO',
  'POD_STATE_PREPARING',
  'POD_STATE_PREPARED',
  'POD_STATE_RUNNING',
  'POD_STATE_ABORTED_PREPARE',
  'POD_STATE_EXITED',
  'POD_STATE_DELETING',
  'POD_STATE_GARBAGE',
] as const;
export type PodStateName = (typeof POD_STATE_NAMES)[number];

export interface Pod {
  id: string;
  pid: number;
  state: PodStateName;
  apps: App[];
  networks: Network[];
  manifest: Buffer;
  annotations: KeyValue[];
  cgroup: string;
  created_at: Int64;
  started_at: Int64;
  gc_marked_at: Int64;
}

export interface PodFilter {
  ids: string[];
  states: Array<PodStateName | number>;
  app_names: string[];
  image_ids: string[];
  network_names: string[];
  annotations: KeyValue[];
  cgroups: string[];
  pod_sub_cgroups: string[];
}

export interface ImageFilter {
  ids: string[];
  prefixes: string[];
  base_names: string[];
  keywords: string[];
  labels: KeyValue[];
  imported_after: Int64;
  imported_before: Int64;
  annotations: KeyValue[];
  full_names: string[];
}

export interface GlobalFlags {
  dir: string;
  system_config_dir: string;
  local_config_dir: string;
  user_config_dir: string;
  insecure_flags: string;
  trust_keys_from_https: boolean;
}

export interface Info {
  rkt_version: string;
  appc_version: string;
  api_version: string;
  global_flags: GlobalFlags;
}

export const EVENT_TYPE_NAMES = [
  'EVENT_TYPE_UNDEFINED',
  'EVENT_TYPE_POD_PREPARED',
  'EVENT_TYPE_POD_PREPARE_ABORTED',
  'EVENT_TYPE_POD_STARTED',
  'EVENT_TYPE_POD_EXITED',
  'EVENT_TYPE_POD_GARBAGE_COLLECTED',
  'EVENT_TYPE_APP_STARTED',
  'EVENT_TYPE_APP_EXITED',
  'EVENT_TYPE_IMAGE_IMPORTED',
  'EVENT_TYPE_IMAGE_REMOVED',
  'EVENT_TYPE_POD_CREATED',
] as const;
export type EventTypeName = (typeof EVENT_TYPE_NAMES)[number];

export interface Event {
  type: EventTypeName;
  id: string;
  from: string;
  time: Int64;
  data: KeyValue[];
}

export interface EventFilter {
  types: Array<EventTypeName | number>;
  ids: string[];
  names: string[];
  since_time: Int64;
  until_time: Int64;
}

export interface ListPodsRequest {
  filters: PodFilter[];
  detail: boolean;
}
export interface InspectPodRequest {
  id: string;
}
export interface ListImagesRequest {
  filters: ImageFilter[];
  detail: boolean;
}
export interface InspectImageRequest {
  id: string;
}
export interface ListenEventsRequest {
  filter: EventFilter | null;
}
export interface GetLogsRequest {
  pod_id: string;
  app_name: string;
  lines: number;
  follow: boolean;
  since_time: Int64;
  until_time: Int64;
}
