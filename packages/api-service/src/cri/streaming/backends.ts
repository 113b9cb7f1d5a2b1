/**
 * What the streaming server's sessions run, through rkt's command line as the rest of the CRI
 * server does:
 *
 * - exec: `rkt app exec --app=APP UUID -- CMD...`, with pipes, or with a pseudo-terminal (its
 *   slave as stdin, stdout and stderr; stage1's `init exec` makes it the command's controlling
 *   terminal); resizes set the terminal's size (TIOCSWINSZ);
 * - attach: `rkt attach --app=APP --mode=... UUID`, with pipes, or for an app with a terminal
 *   through a raw pseudo-terminal of its own, made its controlling terminal (`setsid --ctty`)
 *   so that resizes reach it as SIGWINCH and it passes them on;
 * - port forward: a TCP connection to 127.0.0.1:PORT made in the pod's network namespace (the
 *   path in `<pod>/netns`) by a socket created there (setns on this thread around socket(2));
 *   a host-network pod's ports are the host's loopback.
 *
 * A client that goes away takes its process with it: SIGTERM to the command's process group
 * (rkt's `init exec` passes it on to the command), SIGKILL 5 s later.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { constants as osConstants } from 'node:os';
import type { Duplex, Readable, Writable } from 'node:stream';
import { netnsPath } from '@rktnetes/common';
import { systemError, userError } from '@rktnetes/errors';
import type { Logger } from '@rktnetes/log';
import { ANNOTATION_APP_STDERR, ANNOTATION_APP_STDIN, ANNOTATION_APP_STDOUT } from '@rktnetes/stage1-abi';
import { closeFd, connectResult, connectTcpInNetns, describeErrno, openPty } from '@rktnetes/sys';
import type { PodView } from '../../pods/view';
import type { Rkt } from '../rkt';
import { PtyMaster } from './pty-master';
import type { CommandResult, CommandStreams, TerminalSize } from './remotecommand';

/** A command to run in a container (validated by the Exec RPC). */
export interface ExecTarget {
  containerId: string;
  podUuid: string;
  appName: string;
  cmd: string[];
}

/** A container to attach to (validated by the Attach RPC). */
export interface AttachTarget {
  containerId: string;
  podUuid: string;
  appName: string;
}

/** A sandbox whose ports are forwarded (validated by the PortForward RPC). */
export interface PortForwardTarget {
  sandboxId: string;
  podUuid: string;
  hostNetwork: boolean;
}

/** What sessions run. */
export interface StreamBackends {
  /** Runs the command with the session's streams; resolves with how it ended. */
  exec(t: ExecTarget, io: CommandStreams): Promise<CommandResult>;
  /** Attaches the session's streams to the container until it exits or the client stops. */
  attach(t: AttachTarget, io: CommandStreams): Promise<CommandResult>;
  /** A TCP connection to `port` in the sandbox. */
  connect(t: PortForwardTarget, port: number): Promise<Duplex>;
  /** Stops everything still running (the server closes). */
  close(): void;
}

/** Grace between SIGTERM and SIGKILL for a session's process. */
const KILL_GRACE_MS = 5000;
/** How long output may still come after the process exited (a child that kept stdout open). */
const OUTPUT_GRACE_MS = 1000;
/** How long an attach with a terminal waits for the client's first size before it starts. */
const FIRST_SIZE_WAIT_MS = 250;

/** What the rkt backends need from the CRI context. */
export interface RktBackendContext {
  rkt: Rkt;
  pods: PodView;
  log?: Logger;
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (osConstants.signals[signal] ?? 0) : 0;
}

/** Resolves when `r` ended, closed or failed, or after `ms`. */
function ended(r: Readable | null | undefined, ms: number): Promise<void> {
  if (!r || r.readableEnded || r.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      resolve();
    }
    r.once('end', done);
    r.once('close', done);
    r.once('error', done);
  });
}

/** Copies `from` into `to` without ending it, with backpressure. */
function forward(from: Readable, to: Writable): void {
  from.on('data', (d: Buffer) => {
    if (!to.write(d)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  to.on('error', () => from.resume());
}

/** How long a port-forward connection's handshake may take inside the pod. */
const CONNECT_TIMEOUT_MS = 20_000;

/**
 * Waits, polling every few ms, until the connection on `fd` is established; on failure or
 * timeout closes `fd` and throws an Error naming the errno (as a synchronous refusal does).
 */
async function handshake(fd: number, what: string): Promise<void> {
  const deadline = Date.now() + CONNECT_TIMEOUT_MS;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    const err = connectResult(fd);
    if (err === 0) return;
    if (err !== undefined || Date.now() > deadline) {
      closeFd(fd);
      throw new Error(`connect ${what}: ${describeErrno(err ?? 'ETIMEDOUT').message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** The rkt backends. */
export function rktBackends(ctx: RktBackendContext): StreamBackends {
  const running = new Set<ChildProcess>();

  /** argv[0] and argv of a rkt command (the bundle runs under this Node). */
  const rktCommand = (args: readonly string[]): { file: string; argv: string[] } => {
    const js = /\.(?:mjs|cjs|js)$/.test(ctx.rkt.opts.rktPath);
    // never --debug: rkt's debug lines would mix with the command's stderr
    const globals = ctx.rkt.globalArgs({ insecureOptions: [] }).filter((a) => a !== '--debug');
    const argv = [...(js ? [ctx.rkt.opts.rktPath] : []), ...globals, ...args];
    return { file: js ? process.execPath : ctx.rkt.opts.rktPath, argv };
  };

  const track = (child: ChildProcess) => {
    running.add(child);
    child.once('exit', () => running.delete(child));
    child.once('error', () => running.delete(child));
  };

  /** SIGTERM to the child's group (or the child), SIGKILL after the grace. */
  const terminate = (child: ChildProcess, group: boolean) => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const send = (sig: NodeJS.Signals) => {
      try {
        process.kill(group ? -child.pid! : child.pid!, sig);
      } catch {
        // gone
      }
    };
    send('SIGTERM');
    const t = setTimeout(() => send('SIGKILL'), KILL_GRACE_MS);
    t.unref();
    child.once('exit', () => clearTimeout(t));
  };

  /** Waits for the child's exit; the client leaving first terminates it. */
  const waitExit = (child: ChildProcess, io: CommandStreams, group: boolean): Promise<CommandResult> =>
    new Promise((resolve) => {
      let spawnError: Error | undefined;
      child.once('error', (e) => {
        spawnError = e;
        resolve({ error: `cannot run rkt: ${e.message}` });
      });
      child.once('exit', (code, signal) => {
        if (!spawnError) resolve({ exitCode: code ?? 128 + signalNumber(signal) });
      });
      void io.gone.then(() => terminate(child, group));
    });

  const describeFailure = (stderr: string, result: CommandResult): CommandResult => {
    if ('exitCode' in result && result.exitCode === 254 && stderr.trim()) return { error: stderr.trim().split('\n').at(-1)!.replace(/^rkt: /, '') };
    return result;
  };

  async function execPipes(t: ExecTarget, io: CommandStreams): Promise<CommandResult> {
    const { file, argv } = rktCommand(['app', 'exec', `--app=${t.appName}`, t.podUuid, '--', ...t.cmd]);
    const child = spawn(file, argv, { stdio: [io.stdin ? 'pipe' : 'ignore', io.stdout ? 'pipe' : 'ignore', 'pipe'], detached: true });
    track(child);
    let errTail = '';
    child.stderr!.on('data', (d: Buffer) => (errTail = (errTail + d.toString()).slice(-4096)));
    if (io.stdout) forward(child.stdout!, io.stdout);
    if (io.stderr) forward(child.stderr!, io.stderr);
    if (io.stdin) {
      child.stdin!.on('error', () => undefined);
      io.stdin.pipe(child.stdin!);
    }
    const result = await waitExit(child, io, true);
    await Promise.all([ended(child.stdout, OUTPUT_GRACE_MS), ended(child.stderr, OUTPUT_GRACE_MS)]);
    io.stdin?.unpipe(child.stdin!);
    child.stdout?.destroy();
    child.stderr?.destroy();
    return io.stderr ? result : describeFailure(errTail, result);
  }

  /** Pumps a terminal master to the session's stdout and the session's stdin into it. */
  function wireTerminal(master: PtyMaster, io: CommandStreams): void {
    const out = io.stdout;
    master.on('data', (d: Buffer) => {
      if (out && !out.write(d)) {
        master.pause();
        out.once('drain', () => master.resume());
      }
    });
    out?.on('error', () => master.resume());
    io.stdin?.on('data', (d: Buffer) => {
      if (!master.write(d)) {
        io.stdin!.pause();
        master.once('drain', () => io.stdin!.resume());
      }
    });
    io.resizes.on('resize', (s: TerminalSize) => {
      try {
        if (s.width > 0 && s.height > 0) master.resize(s.height, s.width);
      } catch (e) {
        ctx.log?.debug(`cannot resize a terminal: ${(e as Error).message}`);
      }
    });
  }

  /**
   * After the child exited: the rest of the terminal's output, until EIO (every slave fd closed)
   * or a quiet moment (something in the pod kept the terminal). A quiet timer can fire in the
   * same loop turn as output that is already waiting, when the loop was busy: the decision is
   * taken one poll phase later (setImmediate), after that output was read.
   */
  async function drainTerminal(master: PtyMaster): Promise<void> {
    await new Promise<void>((resolve) => {
      let seen = 0;
      let finished = false;
      const quietCheck = () => {
        const before = seen;
        setImmediate(() => {
          if (seen === before) done();
        });
      };
      let quiet = setTimeout(quietCheck, 250);
      const cap = setTimeout(done, OUTPUT_GRACE_MS);
      function done() {
        if (finished) return;
        finished = true;
        clearTimeout(quiet);
        clearTimeout(cap);
        master.off('data', onData);
        resolve();
      }
      function onData() {
        seen++;
        clearTimeout(quiet);
        quiet = setTimeout(quietCheck, 250);
      }
      master.on('data', onData);
      master.once('end', done);
    });
    await master.close();
  }

  async function execTerminal(t: ExecTarget, io: CommandStreams): Promise<CommandResult> {
    const pty = openPty({ size: { rows: 24, cols: 80 } });
    const master = new PtyMaster(pty.master);
    let child: ChildProcess;
    try {
      const { file, argv } = rktCommand(['app', 'exec', `--app=${t.appName}`, t.podUuid, '--', ...t.cmd]);
      child = spawn(file, argv, { stdio: [pty.slave, pty.slave, pty.slave], detached: true });
    } finally {
      closeSync(pty.slave);
    }
    track(child);
    wireTerminal(master, io);
    const result = await waitExit(child, io, true);
    await drainTerminal(master);
    return result;
  }

  /** The app's stdio modes from the pod manifest (`null` when not wired). */
  function appIo(t: AttachTarget): { stdin: string; stdout: string; stderr: string } {
    const pod = ctx.pods.locate(t.podUuid);
    const rec = pod ? ctx.pods.read(pod) : undefined;
    const app = rec?.apps.find((a) => a.name === t.appName);
    if (!app) throw userError('cri.not-found', `container ${t.containerId} is no longer in its pod`);
    const get = (name: string, dflt: string) => app.annotations.find((a) => a.name === name)?.value ?? dflt;
    return { stdin: get(ANNOTATION_APP_STDIN, 'null'), stdout: get(ANNOTATION_APP_STDOUT, 'log'), stderr: get(ANNOTATION_APP_STDERR, 'log') };
  }

  async function attachPipes(t: AttachTarget, io: CommandStreams, modes: { stdin: string }): Promise<CommandResult> {
    const endpoints = [];
    const wantIn = !!io.stdin && modes.stdin !== 'null';
    if (wantIn) endpoints.push('stdin');
    if (io.stdout) endpoints.push('stdout');
    if (io.stderr) endpoints.push('stderr');
    if (!endpoints.length) return { error: `container ${t.containerId} has none of the streams asked for` };
    const { file, argv } = rktCommand(['attach', `--app=${t.appName}`, `--mode=${endpoints.join(',')}`, t.podUuid]);
    const child = spawn(file, argv, { stdio: [wantIn ? 'pipe' : 'ignore', io.stdout ? 'pipe' : 'ignore', 'pipe'], detached: true });
    track(child);
    let errTail = '';
    child.stderr!.on('data', (d: Buffer) => (errTail = (errTail + d.toString()).slice(-4096)));
    if (io.stdout) forward(child.stdout!, io.stdout);
    if (io.stderr) forward(child.stderr!, io.stderr);
    if (io.stdin && wantIn) {
      child.stdin!.on('error', () => undefined);
      io.stdin.on('data', (d: Buffer) => {
        if (!child.stdin!.write(d)) {
          io.stdin!.pause();
          child.stdin!.once('drain', () => io.stdin!.resume());
        }
      });
      // the client's stdin ended: pass it on (a stdin-once app loses its stdin), then detach
      io.stdin.once('end', () => {
        child.stdin!.end();
        setTimeout(() => terminate(child, true), OUTPUT_GRACE_MS).unref();
      });
    }
    const result = await waitExit(child, io, true);
    await Promise.all([ended(child.stdout, OUTPUT_GRACE_MS), ended(child.stderr, OUTPUT_GRACE_MS)]);
    return attachOutcome(result, errTail);
  }

  /** An attach ends well when the app exited or the client detached; rkt's own failures are errors. */
  function attachOutcome(result: CommandResult, errTail: string): CommandResult {
    if ('exitCode' in result && result.exitCode === 254 && errTail.trim()) return { error: errTail.trim().split('\n').at(-1)!.replace(/^rkt: /, '') };
    return { exitCode: 0 };
  }

  async function attachTerminal(t: AttachTarget, io: CommandStreams): Promise<CommandResult> {
    // the first size, if the client sends one soon: rkt attach passes it on when it starts
    const first = await new Promise<TerminalSize | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), FIRST_SIZE_WAIT_MS);
      io.resizes.once('resize', (s: TerminalSize) => {
        clearTimeout(timer);
        resolve(s);
      });
    });
    const size = first && first.width > 0 && first.height > 0 ? { rows: first.height, cols: first.width } : { rows: 24, cols: 80 };
    // raw, so that the app's terminal output passes unchanged (no second CR before each LF)
    const pty = openPty({ size, raw: true });
    const master = new PtyMaster(pty.master);
    const mode = io.stdin ? 'tty' : 'tty-out';
    const { file, argv } = rktCommand(['attach', `--app=${t.appName}`, `--mode=${mode}`, t.podUuid]);
    let child: ChildProcess;
    try {
      // not detached: setsid then needs no fork, and the new session's controlling terminal is the slave
      child = spawn('setsid', ['--ctty', file, ...argv], { stdio: [pty.slave, pty.slave, 'pipe'] });
    } finally {
      closeSync(pty.slave);
    }
    track(child);
    let errTail = '';
    child.stderr!.on('data', (d: Buffer) => (errTail = (errTail + d.toString()).slice(-4096)));
    wireTerminal(master, io);
    io.stdin?.once('end', () => setTimeout(() => terminate(child, false), OUTPUT_GRACE_MS).unref());
    const result = await waitExit(child, io, false);
    await drainTerminal(master);
    return attachOutcome(result, errTail);
  }

  return {
    exec(t, io) {
      return io.tty ? execTerminal(t, io) : execPipes(t, io);
    },
    async attach(t, io) {
      const modes = appIo(t);
      if (modes.stdin === 'tty') return attachTerminal(t, io);
      return attachPipes(t, io, modes);
    },
    async connect(t, port) {
      if (t.hostNetwork) {
        return new Promise<Duplex>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1');
          s.once('connect', () => {
            s.removeAllListeners('error');
            resolve(s);
          });
          s.once('error', reject);
        });
      }
      const loc = ctx.pods.locate(t.podUuid);
      if (!loc) throw userError('cri.not-found', `the pod of sandbox ${t.sandboxId} is gone`);
      let ns: string;
      try {
        ns = readFileSync(netnsPath(loc.path), 'utf8').trim();
      } catch (e) {
        throw systemError('cri.portforward', `sandbox ${t.sandboxId} has no network namespace (${(e as Error).message})`, { cause: e });
      }
      const c = connectTcpInNetns(ns, '127.0.0.1', port);
      // a handshake still going on (the listener's backlog full: its SYN is retried) is waited
      // for: the socket is only handed over once it is connected, or its error reported
      if (!c.connected) await handshake(c.fd, `127.0.0.1:${port}`);
      return new net.Socket({ fd: c.fd, readable: true, writable: true });
    },
    close() {
      for (const c of running) {
        try {
          process.kill(-c.pid!, 'SIGKILL');
        } catch {
          c.kill('SIGKILL');
        }
      }
      running.clear();
    },
  };
}
