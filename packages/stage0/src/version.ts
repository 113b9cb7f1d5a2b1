import { APPC_SPEC_VERSION, STAGE1_INTERFACE_VERSIONS } from './contracts';

export interface VersionInfo {
  rktVersion: string;
  appcVersion: string;
  stage1InterfaceVersions: number[];
  nodeVersion: string;
  osArch: string;
  features: string[];
}

declare const process: NodeJS.Process;

/** What `rkt version` reports. The build stamps the package version in. */
export function versionInfo(): VersionInfo {
  return {
    rktVersion: process.env.RKT_BUILD_VERSION ?? '0.0.0-dev',
    appcVersion: APPC_SPEC_VERSION,
    stage1InterfaceVersions: [...STAGE1_INTERFACE_VERSIONS],
    nodeVersion: process.version,
    osArch: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
    features: ['-TPM', '-SDJOURNAL', '+OCI', '+CRI'],
  };
}

export function formatVersion(v: VersionInfo): string {
  return [
    `rkt Version: ${v.rktVersion} (rktnetes)`,
    `appc Version: ${v.appcVersion}`,
    `Stage1 Interface Versions: ${v.stage1InterfaceVersions.join(', ')}`,
    `Node Version: ${v.nodeVersion}`,
    `OS/Arch: ${v.osArch}`,
    `Features: ${v.features.join(' ')}`,
    '',
  ].join('\n');
}
