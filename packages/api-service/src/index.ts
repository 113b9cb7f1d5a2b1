/**
 * @rktnetes/api-service: rkt's v1alpha gRPC API over a read-only view of a data directory, the
 * appc metadata service, and the log file format the API reads. The executable is
 * `rkt-api-service` (src/bin); the exports below are for it and for tests. Docs:
 * docs/api-service.md.
 */
export { startApiService, defaultApiListeners, DEFAULT_API_LISTEN, DEFAULT_API_SOCKET, type ApiServiceOptions, type RunningService } from './api';
export { startMetadataService, METADATA_SERVICE_PORT, METADATA_REGISTRATION_SOCKET, type MetadataServiceOptions, type RunningMetadataService } from './metadata/service';
export { MetadataRegistry, TOKEN_PATTERN, type RegisteredPod } from './metadata/registry';
export { PodIdentity, uuidBytes } from './metadata/identity';
export { JSON_TYPE, TEXT_TYPE, mergedAppAnnotations } from './metadata/http';
export { newMdsToken, metadataUrl, registerPod, registerApp, unregisterPod, registerPodDir } from './metadata/client';
export { grpcStatusOf, GrpcCode, type GrpcStatus, type GrpcCodeValue } from './grpc/status';
export { createGrpcServer, unary, serverStream, type ServiceRegistration, type GrpcServer, type StreamSink } from './grpc/server';
export { parseListenAddress, systemdListenFds, activationSpecs, openListeners, describeListener, LISTEN_FDS_START, type ListenSpec } from './listen';
export { PodView, podName, type PodRecord, type PodAppRecord, type PodViewOptions } from './pods/view';
export { createLockProbe, type LockProbe, type LockState } from './pods/probe';
export { ImageView, type ImageRecord } from './images/view';
export { EventWatcher, podMilestones, type RuntimeEvent, type EventKind, type EventWatcherOptions } from './events/watcher';
export {
  appLogPath,
  appLogPathIn,
  STAGE1_LOG_DIR,
  formatLogRecords,
  formatLogTime,
  parseLogRecord,
  parseLogTime,
  MAX_RECORD_TEXT,
  type LogRecord,
  type LogStream,
} from './logs/format';
export { LogReader, followLogs, mergeRecords, formatForClient, type AppLogRecord, type LogSource, type LogWindow } from './logs/reader';
export { publicApiHandlers, v1alphaService, type V1AlphaContext } from './v1alpha/service';
export { podPredicate, imagePredicate, sameImageId } from './v1alpha/filters';
export { podMessage, imageMessage, eventMessage, POD_STATE_OF, EVENT_TYPE_OF } from './v1alpha/convert';
export type * as v1alpha from './v1alpha/messages';
export { protoPath, loadServiceDefinition, loadGrpc, PROTO_LOADER_OPTIONS } from './proto';
export { API_VERSION, rktVersion } from './version';
