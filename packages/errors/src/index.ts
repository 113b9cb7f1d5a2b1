/**
 * One error class for every rktnetes stage.
 *
 * Compare errors by `code`, never with `instanceof`: separately installed executables carry
 * their own copies of this module, so {@link isRktError} checks the shape instead.
 */

/** What went wrong, which decides the exit code and how much is printed. */
export type ErrorKind =
  /** bad flags or arguments: exit {@link EXIT_USAGE} */
  | 'usage'
  /** bad input the user can fix (an image, a manifest, a key): exit 254 */
  | 'user'
  /** the system failed (I/O, syscalls, network): exit 254 */
  | 'system'
  /** a bug in rktnetes: exit 254 */
  | 'internal';

/** Exit status when rkt itself failed (as rkt). */
export const EXIT_FAILURE = 254;
/** Exit status for usage errors (bad flags or arguments). */
export const EXIT_USAGE = 254;

export interface RktErrorOptions {
  kind?: ErrorKind;
  cause?: unknown;
  /** extra structured facts for --debug and the API (pod uuid, path, image id, ...) */
  details?: Record<string, unknown>;
}

/** The error every rktnetes library throws. `code` is stable and documented in docs/exit-codes.md. */
export class RktError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly details: Record<string, unknown> | undefined;
  readonly rktError = true;

  constructor(code: string, message: string, opts: RktErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RktError';
    this.code = code;
    this.kind = opts.kind ?? 'user';
    this.details = opts.details;
  }
}

/** Whether `e` is an RktError from any copy of this module. */
export function isRktError(e: unknown): e is RktError {
  return typeof e === 'object' && e !== null && (e as { rktError?: unknown }).rktError === true;
}

/** Whether `e` is an RktError with the given code. */
export function hasCode(e: unknown, code: string): boolean {
  return isRktError(e) && e.code === code;
}

/** Shorthand constructors, one per kind. */
export const usageError = (code: string, message: string, opts: Omit<RktErrorOptions, 'kind'> = {}) =>
  new RktError(code, message, { ...opts, kind: 'usage' });
export const userError = (code: string, message: string, opts: Omit<RktErrorOptions, 'kind'> = {}) =>
  new RktError(code, message, { ...opts, kind: 'user' });
export const systemError = (code: string, message: string, opts: Omit<RktErrorOptions, 'kind'> = {}) =>
  new RktError(code, message, { ...opts, kind: 'system' });
export const internalError = (code: string, message: string, opts: Omit<RktErrorOptions, 'kind'> = {}) =>
  new RktError(code, message, { ...opts, kind: 'internal' });

/** Wraps any thrown value with context, keeping it as the cause. */
export function wrap(e: unknown, code: string, message: string, kind?: ErrorKind): RktError {
  return new RktError(code, message, { cause: e, kind: kind ?? (isRktError(e) ? e.kind : 'system') });
}

/** The chain of causes from `e` down to the root, `e` first. */
export function causeChain(e: unknown): unknown[] {
  const chain: unknown[] = [];
  const seen = new Set<unknown>();
  let cur: unknown = e;
  while (cur !== undefined && cur !== null && !seen.has(cur)) {
    chain.push(cur);
    seen.add(cur);
    cur = typeof cur === 'object' ? (cur as { cause?: unknown }).cause : undefined;
  }
  return chain;
}

function messageOf(e: unknown): string {
  if (e instanceof Error || (typeof e === 'object' && e !== null && 'message' in e)) {
    return String((e as { message: unknown }).message);
  }
  return String(e);
}

/**
 * The one-line form printed by default: the outer message and, when different, the root
 * cause (`fetch: cannot open image "x": ENOENT: no such file`).
 */
export function oneLine(e: unknown): string {
  const chain = causeChain(e);
  const outer = messageOf(chain[0]);
  if (chain.length < 2) return outer.split('\n')[0] ?? outer;
  const root = messageOf(chain[chain.length - 1]);
  return (outer.includes(root) ? outer : `${outer}: ${root}`).split('\n')[0] ?? outer;
}

/** The whole chain, one cause per line, for --debug. */
export function fullChain(e: unknown): string {
  return causeChain(e)
    .map((c, i) => {
      const code = isRktError(c) ? ` [${c.code}]` : typeof c === 'object' && c && 'code' in c ? ` [${String((c as { code: unknown }).code)}]` : '';
      const text = i === 0 && c instanceof Error && c.stack ? c.stack : messageOf(c);
      return `${'  '.repeat(i)}${i ? 'caused by: ' : ''}${text}${code}`;
    })
    .join('\n');
}

/** The exit status for an error: always 254 for rkt's own failures (see docs/exit-codes.md). */
export function exitCodeFor(e: unknown): number {
  if (isRktError(e) && e.kind === 'usage') return EXIT_USAGE;
  return EXIT_FAILURE;
}
