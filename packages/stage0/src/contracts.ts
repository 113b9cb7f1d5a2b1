export { APPC_VERSION as APPC_SPEC_VERSION } from '@rktnetes/schema';
export { STAGE1_INTERFACE_VERSIONS } from '@rktnetes/stage1-abi';
