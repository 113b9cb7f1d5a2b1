/**
 * @rktnetes/sys: Linux system calls Node lacks, behind the {@link Sys} interface.
 *
 * Importing this module loads nothing native; {@link realSys} loads koffi and libc on the first
 * call that needs them. Unit tests use {@link recordingSys}.
 */
export type { Sys, FlockOp, ExecEnv, ExecveOptions, PrctlArg, CapSets, CapabilitySpec, SysCallName } from './sys';
export { makedev, major, minor } from './sys';
export { realSys } from './real';
export { recordingSys, RECORDED_EXECVE, type RecordingSys, type RecordedCall, type Response, type Responses } from './recording';
export { readMountInfo, parseMountInfo, mountsUnder, unmountTree, type MountInfo, type UnmountTreeOptions } from './mountinfo';
export { CAPABILITIES, CAP_LAST_CAP, capName, capNumber, type CapabilityName } from './capabilities';
export { describeErrno, errnoOf } from './errno';
export * from './constants';
export { openPty, setWindowSize, getWindowSize, setRaw, setNonBlocking, connectTcpInNetns, connectResult, socketError, closeFd, type Pty, type NetnsConnection } from './terminal';
