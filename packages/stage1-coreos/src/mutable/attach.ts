/**
 * The attach entrypoint: connects the caller's stdin, stdout and stderr (stage0 execs it, so
 * they are the user's) to an app of a mutable pod through PID 1's control socket.
 *
 * `--action=list` prints the app's endpoints, one per line (`stdin`, `stdout`, `stderr`, or
 * `tty-in`, `tty-out`); `auto-attach` attaches to all of them; `custom-attach` to the chosen
 * ones. Attached, the caller's stdin goes to the app (the end of it is passed on, which closes
 * the app's stdin when it is `stdin-once`); a terminal is put in raw mode and its size is
 * passed on. The exit status is the app's when it exits, 0 when the pod goes away.
 */
import type { Readable, Writable } from 'node:stream';
import { type AttachArgs, parseAttachArgs } from '@rktnetes/stage1-abi';
import type { CrossingContext } from './add';
import { connectCtl, ctlCall, parseCtlReply, readReplyLine, replyError } from './control';
import { encodeFrame, FrameDecoder, resizeFrame } from './frames';
import { readRunArgs } from './pod';

/** The caller's stdio (process.stdin, process.stdout and process.stderr by default). */
export interface AttachIo {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: Writable & { isTTY?: boolean; rows?: number; columns?: number };
  stderr: Writable;
}

/** The endpoints requested by the parsed arguments, as the control protocol names them. */
export function requestedEndpoints(args: AttachArgs): string {
  if (args.action !== 'custom-attach') return 'auto';
  const names: Array<[boolean, string]> = [
    [args.stdin, 'stdin'],
    [args.stdout, 'stdout'],
    [args.stderr, 'stderr'],
    [args.ttyIn, 'tty-in'],
    [args.ttyOut, 'tty-out'],
  ];
  return names.filter(([on]) => on).map(([, n]) => n).join(',');
}

/** attach: see the module documentation. Resolves with the exit status. */
export async function appAttach(argv: readonly string[], ctx: CrossingContext, io: AttachIo = process as unknown as AttachIo): Promise<number> {
  const args = parseAttachArgs(argv);
  readRunArgs(ctx.pod);
  if (args.action === 'list') {
    const eps = await ctlCall(ctx.pod, `endpoints ${args.appName}`);
    for (const e of eps === '-' ? [] : eps.split(',')) io.stdout.write(`${e}\n`);
    return 0;
  }
  const s = await connectCtl(ctx.pod);
  s.write(`attach ${args.appName} ${requestedEndpoints(args)}\n`);
  const { line, rest } = await readReplyLine(s).catch((e: unknown) => {
    s.destroy();
    throw e;
  });
  const reply = parseCtlReply(line);
  if (!reply.ok) {
    s.destroy();
    throw replyError(reply);
  }
  const granted = new Set(reply.data.split(','));
  ctx.debug(`attached to app ${args.appName}: ${reply.data}`);
  const input = granted.has('stdin') || granted.has('tty-in');
  const tty = granted.has('tty-in') || granted.has('tty-out');

  return new Promise<number>((resolve) => {
    let done = false;
    let raw = false;
    const decoder = new FrameDecoder();
    const onResize = () => {
      if (io.stdout.rows && io.stdout.columns) s.write(resizeFrame(io.stdout.rows, io.stdout.columns));
    };
    const onInput = (d: Buffer) => {
      if (!s.write(encodeFrame('i', d))) io.stdin.pause();
    };
    const onInputEnd = () => {
      if (!done) s.write(encodeFrame('c'));
    };
    const finish = (code: number) => {
      if (done) return;
      done = true;
      if (raw) io.stdin.setRawMode?.(false);
      io.stdin.off('data', onInput);
      io.stdin.off('end', onInputEnd);
      io.stdin.pause();
      if (input && 'destroy' in io.stdin) (io.stdin as Readable).destroy();
      io.stdout.off('resize', onResize);
      s.destroy();
      resolve(code);
    };
    const onFrames = (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (e) {
        ctx.warn((e as Error).message);
        finish(254);
        return;
      }
      for (const f of frames) {
        if (f.type === 'o') io.stdout.write(f.payload);
        else if (f.type === 'e') io.stderr.write(f.payload);
        else if (f.type === 'x') finish(f.payload.length === 4 ? f.payload.readInt32BE(0) : 0);
      }
    };
    s.on('data', onFrames);
    s.on('drain', () => io.stdin.resume());
    // the pod went away (or dropped a client too slow to keep up): nothing more to say
    s.on('close', () => finish(0));
    s.on('error', (e) => {
      ctx.warn(`the connection to the pod was lost: ${e.message}`);
      finish(254);
    });
    if (rest.length) onFrames(rest);
    if (tty && granted.has('tty-out') && io.stdout.isTTY) {
      onResize();
      io.stdout.on('resize', onResize);
    }
    if (input) {
      if (tty && io.stdin.isTTY && io.stdin.setRawMode) {
        io.stdin.setRawMode(true);
        raw = true;
      }
      io.stdin.on('data', onInput);
      io.stdin.on('end', onInputEnd);
      io.stdin.resume();
    }
  });
}
