/**
 * @rktnetes/testkit: helpers for every package's tests. Build images from inline file trees at
 * test time (ACI, OCI layout, docker archive), make openpgp and gpg signatures per run, run the
 * probe inside containers and parse what it saw, clean up temp dirs and detect leaked resources.
 */
export * from './tmp';
export * from './exec';
export * from './compress';
export * from './tar';
export * from './aci';
export * from './busybox';
export * from './probe';
export * from './oci';
export * from './pgp';
export * from './gpg';
export * from './privileged';
export * from './leaks';
export * from './registry';
export * from './stub-stage1/image';
