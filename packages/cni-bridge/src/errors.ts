/**
 * Errors of the plugin: RktErrors that carry the CNI error code to print, and their conversion
 * to the CNI error result the runtime reads on stdout.
 */
import { RktError, causeChain, hasCode, isRktError } from '@rktnetes/errors';
import { CniErrorCodes, cniErrorResult, type CniErrorResult } from '@rktnetes/schema';

/**
 * The code for failures the CNI spec has no well-known code for (a kernel or tool refusing a
 * change, an exhausted range): the value the reference plugins use for internal errors.
 */
export const CNI_INTERNAL_ERROR = 999;

/** Every code this plugin prints: the spec's well-known codes and {@link CNI_INTERNAL_ERROR}. */
export const PLUGIN_ERROR_CODES = { ...CniErrorCodes, internal: CNI_INTERNAL_ERROR } as const;

/** Options of {@link cniError}. */
export interface CniErrorOptions {
  cause?: unknown;
  /** the `details` field of the CNI error result (a longer explanation, a tool's stderr) */
  details?: string;
  kind?: 'user' | 'system' | 'internal';
}

/**
 * An error that prints as a CNI error result with `cniCode`. `code` is the stable rktnetes code
 * (`cni.<what>`), `message` the CNI `msg`.
 */
export function cniError(cniCode: number, code: string, message: string, opts: CniErrorOptions = {}): RktError {
  return new RktError(code, message, {
    kind: opts.kind ?? (cniCode === CNI_INTERNAL_ERROR || cniCode === CniErrorCodes.ioFailure ? 'system' : 'user'),
    cause: opts.cause,
    details: { cniCode, ...(opts.details === undefined ? {} : { cniDetails: opts.details }) },
  });
}

/** The CNI code an error prints with: its own, 6/7 for schema decode/validation errors, else 999. */
export function cniCodeOf(e: unknown): number {
  for (const c of causeChain(e)) {
    if (!isRktError(c)) continue;
    const code = c.details?.['cniCode'];
    if (typeof code === 'number') return code;
    if (hasCode(c, 'schema.json')) return CniErrorCodes.decodeFailure;
    if (hasCode(c, 'schema.invalid')) return CniErrorCodes.invalidNetworkConfig;
  }
  return CNI_INTERNAL_ERROR;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The CNI error result for any thrown value: `msg` is the outer message, `details` the
 * explicit details or the messages of the causes below it.
 */
export function toCniErrorResult(e: unknown, version: string): CniErrorResult {
  const chain = causeChain(e);
  const outer = chain[0];
  const explicit = isRktError(outer) ? outer.details?.['cniDetails'] : undefined;
  const causes = chain
    .slice(1)
    .map(messageOf)
    .filter((m) => m !== '' && !messageOf(outer).includes(m));
  const details = typeof explicit === 'string' ? explicit : causes.length ? causes.join(': ') : undefined;
  return cniErrorResult(cniCodeOf(e), messageOf(outer), details, version);
}
