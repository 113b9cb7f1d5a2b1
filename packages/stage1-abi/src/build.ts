/**
 * What builders do with options the target stage1 is too old for.
 */
import { RktError } from '@rktnetes/errors';
import { checkInterfaceVersion } from './versions';

/** An option left out of the argv because the stage1's interface version predates it. */
export interface OmittedOption {
  entrypoint: string;
  /** the flag, without dashes */
  flag: string;
  /** the version that introduced it */
  since: number;
  /** the stage1's version */
  interfaceVersion: number;
}

/** Options for every `build*Args` function. */
export interface BuildOptions {
  /**
   * Called for each option dropped because the stage1 is too old; stage0 prints a warning
   * ("--hostname option is not supported by stage1"), as rkt does.
   */
  onOmit?: (o: OmittedOption) => void;
  /** Treat every would-be omission as an error instead. */
  strict?: boolean;
}

/** Error for an option the stage1 cannot honour: user error `stage1.args.unsupported`. */
export function unsupported(entrypoint: string, flag: string, since: number, interfaceVersion: number): RktError {
  return new RktError(
    'stage1.args.unsupported',
    `${entrypoint}: --${flag} needs stage1 interface version ${since}, the stage1 image declares ${interfaceVersion}`,
    { kind: 'user', details: { entrypoint, flag, since, interfaceVersion } },
  );
}

/**
 * Per-call gate: `gate(flag, since, required)` says whether to emit a set option. Too old
 * and `required` (or strict): throws {@link unsupported}; too old otherwise: reports the
 * omission and returns false.
 */
export function makeGate(entrypoint: string, interfaceVersion: number, opts: BuildOptions = {}) {
  const v = checkInterfaceVersion(interfaceVersion);
  return (flag: string, since: number, required = false): boolean => {
    if (v >= since) return true;
    if (required || opts.strict) throw unsupported(entrypoint, flag, since, v);
    opts.onOmit?.({ entrypoint, flag, since, interfaceVersion: v });
    return false;
  };
}
