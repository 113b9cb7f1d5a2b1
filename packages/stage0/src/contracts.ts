// Placeholder until @rktnetes/schema and @rktnetes/stage1-abi export these.
export const APPC_SPEC_VERSION = '0.8.11';
export const STAGE1_INTERFACE_VERSIONS = [1, 2, 3, 4, 5] as const;
