/**
 * Errors of the CRI server and their gRPC status. The codes the CRI needs beyond the package's
 * shared mapping (ALREADY_EXISTS for a name in use, DEADLINE_EXCEEDED for an ExecSync timeout,
 * UNIMPLEMENTED for the RPCs not done yet) are decided here; everything else goes through
 * {@link grpcStatusOf}, so `*.not-found` is NOT_FOUND, usage errors INVALID_ARGUMENT, user
 * errors FAILED_PRECONDITION and system errors INTERNAL.
 */
import type * as GrpcModule from '@grpc/grpc-js';
import { isRktError, oneLine, userError, usageError } from '@rktnetes/errors';
import { serverStream, unary, type StreamSink } from '../grpc/server';
import { GrpcCode, grpcStatusOf, type GrpcStatus } from '../grpc/status';

/** Codes of errors raised by the CRI server that the shared mapping does not know. */
const CRI_CODES: Readonly<Record<string, GrpcStatus['code']>> = {
  'cri.already-exists': GrpcCode.ALREADY_EXISTS,
  'cri.deadline-exceeded': GrpcCode.DEADLINE_EXCEEDED,
  'cri.unimplemented': GrpcCode.UNIMPLEMENTED,
  'cri.streaming-busy': GrpcCode.RESOURCE_EXHAUSTED,
};

/** The gRPC status of an error thrown by a CRI handler. */
export function criStatusOf(e: unknown): GrpcStatus {
  if (isRktError(e)) {
    const code = CRI_CODES[e.code];
    if (code !== undefined) return { code, details: oneLine(e) };
  }
  return grpcStatusOf(e);
}

/** A request field that is missing or malformed: INVALID_ARGUMENT. */
export const invalidArgument = (message: string, cause?: unknown) => usageError('cri.invalid-argument', message, cause === undefined ? {} : { cause });

/** Something the request names does not exist: NOT_FOUND. */
export const notFound = (message: string, details?: Record<string, unknown>) => userError('cri.not-found', message, details ? { details } : {});

/** A name already taken: ALREADY_EXISTS. */
export const alreadyExists = (message: string) => userError('cri.already-exists', message);

/** The object is not in a state that allows the call: FAILED_PRECONDITION. */
export const failedPrecondition = (message: string) => userError('cri.failed-precondition', message);

/** A unary handler from an async function; errors end the call with {@link criStatusOf}. */
export function criUnary<Req, Res>(fn: (request: Req) => Promise<Res> | Res): GrpcModule.handleUnaryCall<Req, Res> {
  return unary(fn, criStatusOf);
}

/** A handler (unary or streaming) that answers UNIMPLEMENTED, naming the RPC. */
export function criUnimplemented(rpc: string): GrpcModule.UntypedHandleCall {
  const status = { code: GrpcCode.UNIMPLEMENTED, details: `${rpc} is not implemented by rktnetes yet` };
  return ((call: GrpcModule.ServerUnaryCall<unknown, unknown> | GrpcModule.ServerWritableStream<unknown, unknown>, callback?: GrpcModule.sendUnaryData<unknown>) => {
    if (typeof callback === 'function') callback(status);
    else (call as GrpcModule.ServerWritableStream<unknown, unknown>).emit('error', status);
  }) as GrpcModule.UntypedHandleCall;
}

/**
 * A server-streaming handler from an async function writing to a {@link StreamSink}: the call
 * ends with OK when it resolves, with {@link criStatusOf} when it throws; the sink's signal is
 * aborted when the client goes away.
 */
export function criServerStream<Req, Res>(fn: (request: Req, sink: StreamSink<Res>) => Promise<void>): GrpcModule.handleServerStreamingCall<Req, Res> {
  return serverStream(fn, criStatusOf);
}
