/**
 * The Exec, Attach and PortForward RPCs: they check the request against the server's records
 * and the pod, then answer the URL of a one-time session on the streaming server. The session
 * itself runs when the client connects (see ./server.ts).
 */
import { internalError } from '@rktnetes/errors';
import { appStatus } from '../containers';
import { readPod, type CriContext } from '../context';
import { failedPrecondition, invalidArgument } from '../grpc';
import { sandboxState } from '../sandboxes';

/** The fields of ExecRequest and AttachRequest the server reads. */
export interface StreamRpcRequest {
  container_id: string;
  cmd?: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** The streaming server of a context; INTERNAL when the CRI server runs without one. */
function streamingOf(ctx: CriContext) {
  if (!ctx.streaming) throw internalError('cri.streaming-missing', 'the streaming server is not running');
  return ctx.streaming;
}

function checkStreams(req: StreamRpcRequest): void {
  if (!req.container_id) throw invalidArgument('container_id is required');
  if (req.tty && req.stderr) throw invalidArgument('tty and stderr cannot both be true');
  if (!req.stdin && !req.stdout && !req.stderr) throw invalidArgument('one of stdin, stdout, or stderr must be set');
}

/** The running container of a streaming request: NOT_FOUND, FAILED_PRECONDITION when not running. */
function runningContainer(ctx: CriContext, id: string) {
  const rec = ctx.state.container(id);
  if (appStatus(rec, readPod(ctx, rec.podUuid)).state !== 'CONTAINER_RUNNING') throw failedPrecondition(`container ${rec.id} is not running`);
  return rec;
}

/** Exec: the URL of a session running `cmd` in the container. */
export function execUrl(ctx: CriContext, req: StreamRpcRequest): { url: string } {
  checkStreams(req);
  if (!req.cmd?.length) throw invalidArgument('cmd is required');
  const rec = runningContainer(ctx, req.container_id);
  const url = streamingOf(ctx).exec({
    containerId: rec.id,
    podUuid: rec.podUuid,
    appName: rec.appName,
    cmd: [...req.cmd],
    tty: !!req.tty,
    stdin: !!req.stdin,
    stdout: !!req.stdout,
    stderr: !!req.stderr,
  });
  return { url };
}

/** Attach: the URL of a session attached to the container's stdio. */
export function attachUrl(ctx: CriContext, req: StreamRpcRequest): { url: string } {
  checkStreams(req);
  const rec = runningContainer(ctx, req.container_id);
  const url = streamingOf(ctx).attach({
    containerId: rec.id,
    podUuid: rec.podUuid,
    appName: rec.appName,
    tty: !!req.tty,
    stdin: !!req.stdin,
    stdout: !!req.stdout,
    stderr: !!req.stderr,
  });
  return { url };
}

/** PortForward: the URL of a session forwarding ports of the sandbox (the ports come with the streams). */
export function portForwardUrl(ctx: CriContext, req: { pod_sandbox_id: string }): { url: string } {
  if (!req.pod_sandbox_id) throw invalidArgument('pod_sandbox_id is required');
  const sandbox = ctx.state.sandbox(req.pod_sandbox_id);
  const pod = sandbox.podUuid ? readPod(ctx, sandbox.podUuid) : undefined;
  if (!pod || sandboxState(sandbox, pod) !== 'SANDBOX_READY') throw failedPrecondition(`pod sandbox ${sandbox.id} is not ready`);
  return { url: streamingOf(ctx).portForward({ sandboxId: sandbox.id, podUuid: sandbox.podUuid, hostNetwork: sandbox.hostNetwork }) };
}
