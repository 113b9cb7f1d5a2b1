export { main } from './cli/main';
export { versionInfo, formatVersion } from './version';
export type { VersionInfo } from './version';
