/**
 * The mapping from errors to gRPC status codes, in one place for every service of the package
 * (v1alpha now, the CRI later). Handlers throw RktErrors; the gRPC glue calls
 * {@link grpcStatusOf} and nothing else decides a status code.
 */
import { isRktError, oneLine } from '@rktnetes/errors';

/** gRPC status codes (the numbers are fixed by the gRPC protocol). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCodeValue = (typeof GrpcCode)[keyof typeof GrpcCode];

/** A status to end a call with: `code` and the one-line message as `details`. */
export interface GrpcStatus {
  code: GrpcCodeValue;
  details: string;
}

/** Codes whose meaning does not depend on the kind of the error. */
const BY_CODE: Readonly<Record<string, GrpcCodeValue>> = {
  'api.invalid-argument': GrpcCode.INVALID_ARGUMENT,
  'api.not-found': GrpcCode.NOT_FOUND,
  'api.unimplemented': GrpcCode.UNIMPLEMENTED,
  'api.cancelled': GrpcCode.CANCELLED,
  'pod.not-found': GrpcCode.NOT_FOUND,
  'pod.gone': GrpcCode.NOT_FOUND,
  'pod.ambiguous': GrpcCode.INVALID_ARGUMENT,
  'uuid.empty': GrpcCode.INVALID_ARGUMENT,
  'path.invalid-component': GrpcCode.INVALID_ARGUMENT,
  'store.not-found': GrpcCode.NOT_FOUND,
  'store.ambiguous': GrpcCode.INVALID_ARGUMENT,
  'store.invalid-key': GrpcCode.INVALID_ARGUMENT,
  'store.invalid-ref': GrpcCode.INVALID_ARGUMENT,
  'store.busy': GrpcCode.UNAVAILABLE,
  'store.schema-newer': GrpcCode.FAILED_PRECONDITION,
  'store.schema-older': GrpcCode.FAILED_PRECONDITION,
  'store.closed': GrpcCode.UNAVAILABLE,
  'logs.unsupported': GrpcCode.FAILED_PRECONDITION,
};

/**
 * The gRPC status for an error thrown by a handler. Known codes first (`*.not-found` →
 * NOT_FOUND, `*.ambiguous` and usage errors → INVALID_ARGUMENT, `store.busy` → UNAVAILABLE, …);
 * then by kind: usage → INVALID_ARGUMENT, user → FAILED_PRECONDITION, system and internal →
 * INTERNAL. Anything that is not an RktError is UNKNOWN. `details` is the one-line message.
 */
export function grpcStatusOf(e: unknown): GrpcStatus {
  const details = oneLine(e);
  if (!isRktError(e)) return { code: GrpcCode.UNKNOWN, details };
  const known = BY_CODE[e.code];
  if (known !== undefined) return { code: known, details };
  if (e.code.endsWith('.not-found')) return { code: GrpcCode.NOT_FOUND, details };
  switch (e.kind) {
    case 'usage':
      return { code: GrpcCode.INVALID_ARGUMENT, details };
    case 'user':
      return { code: GrpcCode.FAILED_PRECONDITION, details };
    case 'system':
    case 'internal':
      return { code: GrpcCode.INTERNAL, details };
  }
}
