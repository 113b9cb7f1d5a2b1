/** Mutable pods: the crossing entrypoints and what they share (see the README, "Mutable pods"). */
export { appAdd, podMetadataUrl, podPid1, type CrossingContext } from './add';
export { appStart, appStop, appRm, stopTimeout, ENV_STOP_TIMEOUT } from './ops';
export { appAttach, requestedEndpoints, type AttachIo } from './attach';
export { ctlRequest, ctlCall, ctlAddress, parseCtlReply, connectCtl, readReplyLine, type CtlReply } from './control';
export { encodeFrame, resizeFrame, FrameDecoder, FRAME_MAX, type Frame, type FrameType } from './frames';
export { appStdio, ANNOTATION_APP_STDIN_ONCE, ANNOTATION_APP_LOG_PATH, type AppStdio } from './stdio';
export { podHierarchies, createAppCgroups, removeAppCgroups } from './cgroups';
export { RUN_ARGS_PATH, CTL_PATH, MUTABLE_DIRS, appSpecPath, appLogPath, appExtLogDir, checkMutableRun, prepareMutablePod, readRunArgs, podCgroupDirs } from './pod';
