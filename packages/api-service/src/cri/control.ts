/**
 * ReopenContainerLog through the pod's control socket: a mutable stage1-coreos pod's PID 1
 * serves `rkt/ctl` in its stage1 root (`<pod>/stage1/rootfs/rkt/ctl` on the host; the protocol
 * is in packages/stage1-coreos/README.md, "Mutable pods"): one request line per connection,
 * answered by `ok [data]` or `error <code> <message>`. `reopen <app>` makes PID 1 close and
 * reopen the app's log files, so that after the kubelet renamed the CRI log a new file is
 * created at its path and written from then on.
 */
import { closeSync, constants, existsSync, openSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { stage1RootfsPath } from '@rktnetes/common';
import { systemError } from '@rktnetes/errors';
import { containerKey, readPod, sandboxKey, type CriContext } from './context';
import { failedPrecondition } from './grpc';

/** The control socket relative to the stage1 root. */
export const CTL_PATH = 'rkt/ctl';
/** The longest unix socket path (sun_path less its NUL). */
const SUN_PATH_MAX = 107;

/** A reply of PID 1. */
export type CtlReply = { ok: true; data: string } | { ok: false; code: string; message: string };

/** Parses a reply line. */
export function parseCtlReply(line: string): CtlReply {
  if (line === 'ok' || line.startsWith('ok ')) return { ok: true, data: line.slice(3) };
  const m = /^error (\S+) ?(.*)$/.exec(line);
  if (m) return { ok: false, code: m[1]!, message: m[2]! };
  return { ok: false, code: 'ctl.invalid', message: `unexpected reply ${JSON.stringify(line)}` };
}

/**
 * Sends one request line to the control socket of the pod at `podPath` and returns the reply.
 * A path too long for a unix socket address is reached through `/proc/self/fd` of its
 * directory. Errors (system): `cri.control` when the socket cannot be reached, closes without
 * a reply, or takes longer than `timeoutMs`.
 */
export async function ctlRequest(podPath: string, request: string, timeoutMs = 10_000): Promise<CtlReply> {
  const abs = join(stage1RootfsPath(podPath), CTL_PATH);
  let dirFd: number | undefined;
  let address = abs;
  if (Buffer.byteLength(abs) > SUN_PATH_MAX) {
    try {
      dirFd = openSync(join(stage1RootfsPath(podPath), 'rkt'), constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (e) {
      throw systemError('cri.control', `cannot reach the control socket of pod ${podPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
    address = `/proc/self/fd/${dirFd}/ctl`;
  }
  try {
    return await new Promise<CtlReply>((resolve, reject) => {
      const s = connect(address);
      let buf = '';
      const fail = (why: string, cause?: unknown) => {
        s.destroy();
        reject(systemError('cri.control', `control socket of pod ${podPath}: ${why}`, cause === undefined ? {} : { cause }));
      };
      s.setTimeout(timeoutMs, () => fail(`no reply in ${timeoutMs} ms`));
      s.once('connect', () => s.write(`${request}\n`));
      s.on('data', (d: Buffer) => {
        buf += d.toString('utf8');
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        s.destroy();
        resolve(parseCtlReply(buf.slice(0, nl)));
      });
      s.once('error', (e) => fail((e as Error).message, e));
      s.once('close', () => fail('closed without a reply'));
    });
  } finally {
    if (dirFd !== undefined) closeSync(dirFd);
  }
}

/**
 * ReopenContainerLog: `reopen <app>` on the pod's control socket. FAILED_PRECONDITION when the
 * container is not running or its pod has no control socket (not a mutable stage1-coreos pod);
 * INTERNAL (`cri.control`) when PID 1 cannot reopen the files.
 */
export async function reopenContainerLog(ctx: CriContext, id: string): Promise<void> {
  const rec = ctx.state.container(id);
  await ctx.locks.shared(sandboxKey(rec.sandboxId), () =>
    ctx.locks.shared(containerKey(rec.id), async () => {
      const pod = readPod(ctx, rec.podUuid);
      const app = pod?.apps.find((a) => a.name === rec.appName);
      // running (containers.ts' appStatus): started, not exited, in a running pod
      if (!pod || pod.state !== 'running' || !app || app.startedAt === undefined || app.exitedAt !== undefined) throw failedPrecondition(`container ${rec.id} is not running`);
      if (!existsSync(join(stage1RootfsPath(pod.path), CTL_PATH))) throw failedPrecondition(`container ${rec.id}: pod ${rec.podUuid} has no control socket to reopen logs through`);
      const r = await ctlRequest(pod.path, `reopen ${rec.appName}`);
      if (r.ok) return;
      if (r.code === 'app.unknown') throw failedPrecondition(`container ${rec.id} is not running`);
      throw systemError('cri.control', `cannot reopen the log of container ${rec.id}: ${r.message || r.code}`, { details: { code: r.code } });
    }),
  );
}
