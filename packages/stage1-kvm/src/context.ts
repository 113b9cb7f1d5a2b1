/**
 * What every stage1-kvm entrypoint gets from its caller, and how the program finds out which
 * entrypoint it is: the image links `run`, `enter`, `gc` and `stop` to one program
 * (`@rktnetes/stage1-kit`).
 */
import type { Logger } from '@rktnetes/log';
import type { CommandRunner } from '@rktnetes/pod-net';
import { entrypointOf as kitEntrypointOf, stage1Logger, type Invocation, type Stage1Context, type Stage1Program } from '@rktnetes/stage1-kit';

export { debugRequested } from '@rktnetes/stage1-kit';

/** The context of one entrypoint invocation: the program's, and what tests may add. */
export interface EntrypointContext extends Stage1Context {
  /** runs the networking helpers (CNI plugins, ip, tc, iptables); default: for real (tests fake it) */
  run?: CommandRunner;
}

/** The entrypoints of the kvm image (annotations `coreos.com/rkt/stage1/<name>` = `/<name>`). */
export const KVM_ENTRYPOINTS = ['run', 'enter', 'gc', 'stop'] as const;
export type KvmEntrypoint = (typeof KVM_ENTRYPOINTS)[number];

/** The kvm program as its dispatch sees it. */
export const KVM_PROGRAM: Stage1Program<KvmEntrypoint> = { name: 'stage1-kvm', entrypoints: KVM_ENTRYPOINTS, unknownEntrypointCode: 'stage1-kvm.entrypoint' };

/**
 * The entrypoint and its arguments: `<dir>/run args...` is run; `stage1-kvm[.mjs] run args...`
 * (direct use) is run too.
 *
 * @throws RktError `stage1-kvm.entrypoint` (usage) for anything else
 */
export const entrypointOf = (programPath: string, args: readonly string[]): Invocation<KvmEntrypoint> => kitEntrypointOf(KVM_PROGRAM, programPath, args);

/** A logger writing synchronously to stderr (run ends in execve, which drops queued output). */
export const kvmLogger = (debug: boolean): Logger => stage1Logger('stage1-kvm', debug);
