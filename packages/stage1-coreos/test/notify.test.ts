/**
 * sd_notify propagation (src/run/notify.ts, the "sd_notify" block of src/init/init.c): unit tests
 * of run's part (no root), then real pods (root) whose run entrypoint gets a NOTIFY_SOCKET bound
 * by the test: a small static C tool, compiled here with gcc, receives the datagrams (with the
 * sender's pid) on the host and sends them from inside the apps (busybox has no sd_notify tool).
 * The end-to-end test goes through stage0's `rkt run`. Without NOTIFY_SOCKET nothing changes:
 * every other pod test runs without it.
 */
import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appDir, podManifestPath } from '@rktnetes/common';
import { parsePodManifest, runtimeApp, serializePodManifest } from '@rktnetes/schema';
import {
  ANNOTATION_SUPPORTS_SYSTEMD_NOTIFY,
  formatInitSpec,
  hostNotifySocket,
  podNotifyAddress,
  setNotifySocket,
  supportsSystemdNotify,
  type InitSpec,
} from '@rktnetes/stage1-coreos';
import { realSys, unmountTree } from '@rktnetes/sys';
import { assertNoLeaks, busyboxImage, hasBusybox, isRoot, leakCheck, removeTree, runCommand, testIf, tmpDir } from '@rktnetes/testkit';
import { ensureStage1Aci, preparePod, readPid, runEntrypoint, startPod, waitFor, type TestApp, type TestPod } from './helpers/pod';

// ------------------------------------------------------------------------------------ unit

test('hostNotifySocket: a path or an @abstract address; anything else is a warning and ignored', (t) => {
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
  t.is(hostNotifySocket({}, warn), undefined);
  t.is(hostNotifySocket({ NOTIFY_SOCKET: '' }, warn), undefined);
  t.is(hostNotifySocket({ NOTIFY_SOCKET: '/run/systemd/notify' }, warn), '/run/systemd/notify');
  t.is(hostNotifySocket({ NOTIFY_SOCKET: '@/org/freedesktop/systemd1/notify/123' }, warn), '@/org/freedesktop/systemd1/notify/123');
  t.deepEqual(warnings, []);
  for (const bad of ['relative.sock', '@', `/${'x'.repeat(107)}`]) t.is(hostNotifySocket({ NOTIFY_SOCKET: bad }, warn), undefined, bad);
  t.is(warnings.length, 3);
  t.regex(warnings[0]!, /^NOTIFY_SOCKET "relative.sock" is not a unix socket path or @abstract address/);
});

test('the pod-side address is abstract and names the pod', (t) => {
  t.is(podNotifyAddress('6e3b0bde-7f7c-4c43-8a38-2d1f3c0e2a11'), '@rktnetes-notify-6e3b0bde-7f7c-4c43-8a38-2d1f3c0e2a11');
});

test('supportsSystemdNotify: the image annotation as a Go boolean, the runtime app\'s first', (t) => {
  const a = (value: string) => [{ name: ANNOTATION_SUPPORTS_SYSTEMD_NOTIFY, value }];
  t.false(supportsSystemdNotify(undefined));
  t.false(supportsSystemdNotify([{ name: 'other', value: 'true' }]));
  for (const v of ['true', 'True', 'TRUE', 't', '1']) t.true(supportsSystemdNotify(a(v)), v);
  for (const v of ['false', 'yes', 'on', '', 'tru']) t.false(supportsSystemdNotify(a(v)), v);
  t.false(supportsSystemdNotify(a('true'), a('false')), 'the runtime app turns it off');
  t.true(supportsSystemdNotify(undefined, a('true')), 'or on');
  t.true(supportsSystemdNotify(a('true'), [{ name: 'other', value: 'x' }]));
});

test('setNotifySocket replaces the app\'s own NOTIFY_SOCKET or appends it', (t) => {
  const env: Array<[string, string]> = [['PATH', '/bin'], ['NOTIFY_SOCKET', '/app/own']];
  setNotifySocket(env, '@pod');
  t.deepEqual(env, [['PATH', '/bin'], ['NOTIFY_SOCKET', '@pod']]);
  const fresh: Array<[string, string]> = [['PATH', '/bin']];
  setNotifySocket(fresh, '@pod');
  t.deepEqual(fresh, [['PATH', '/bin'], ['NOTIFY_SOCKET', '@pod']]);
});

test('the init spec: notify and notify-pod pod keys, notify 1 per app; none without', (t) => {
  const app: InitSpec['apps'][number] = {
    name: 'web', root: '/opt/stage2/web/rootfs', cgroups: [], masks: [], readOnly: [], workdir: '/', uid: 0, gid: 0, groups: [],
    bounding: [], inheritable: [], ambient: [], noNewPrivs: false, env: [], argv: ['/web'],
  };
  const spec: InitSpec = {
    debug: false, lockFd: 3, stage1Root: '/s1', hostname: 'h', network: { mode: 'host' }, ipc: 'private', interactive: false,
    stopTimeoutSeconds: 10, cgroupJoins: [], cgroupMoves: [], cgroupWrites: [], apps: [{ ...app, notify: true }, { ...app, name: 'db' }],
  };
  t.notRegex(formatInitSpec(spec), /^notify(-pod)? [^1]/m, 'no pod keys without a host socket');
  const text = formatInitSpec({ ...spec, notify: { host: '@/org/x notify', pod: '@rktnetes-notify-u' } });
  t.true(text.includes('\nnotify @/org/x\\snotify\nnotify-pod @rktnetes-notify-u\n'));
  t.regex(text, /\napp web\n(?:(?!end\n).*\n)*notify 1\nend\n/);
  t.notRegex(text, /\napp db\n(?:(?!end\n).*\n)*notify 1\n/);
});

// ------------------------------------------------------------------------------------ real pods

const it = testIf(test, isRoot() && hasBusybox() && spawnSync('gcc', ['--version']).status === 0, 'needs root, busybox-static and gcc');

/**
 * `notify-tool recv <address>`: binds a datagram socket (a path, or @name) with SO_PASSCRED,
 * prints "listening", then "<sender pid> <message, newlines as \n>" per datagram.
 * `notify-tool [+<ms>|<message>]...`: sleeps or sends each message to $NOTIFY_SOCKET, printing
 * "sent <message>: ok" or the error.
 */
const TOOL_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
static socklen_t addr(const char *v, struct sockaddr_un *sa) {
	size_t n = strlen(v);
	memset(sa, 0, sizeof *sa); sa->sun_family = AF_UNIX; memcpy(sa->sun_path, v, n);
	if (*v == '@') { sa->sun_path[0] = 0; return offsetof(struct sockaddr_un, sun_path) + n; }
	return offsetof(struct sockaddr_un, sun_path) + n + 1;
}
int main(int argc, char **argv) {
	struct sockaddr_un sa;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "recv")) {
		int on = 1, fd = socket(AF_UNIX, SOCK_DGRAM, 0);
		socklen_t len = addr(argv[2], &sa);
		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) || bind(fd, (struct sockaddr *)&sa, len)) { perror("bind"); return 1; }
		puts("listening");
		for (;;) {
			char buf[4097], ctl[CMSG_SPACE(sizeof(struct ucred))]; struct ucred uc = { 0 };
			struct iovec iov = { buf, sizeof buf - 1 };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
			ssize_t n = recvmsg(fd, &mh, 0);
			if (n < 0) { perror("recvmsg"); return 1; }
			for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
				if (c->cmsg_type == SCM_CREDENTIALS) memcpy(&uc, CMSG_DATA(c), sizeof uc);
			printf("%d ", (int)uc.pid);
			for (ssize_t i = 0; i < n; i++) { if (buf[i] == '\n') fputs("\\n", stdout); else putchar(buf[i]); }
			putchar('\n');
		}
	}
	const char *to = getenv("NOTIFY_SOCKET");
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '+') { usleep(atoi(argv[i] + 1) * 1000); continue; }
		if (!to) { printf("sent %s: no NOTIFY_SOCKET\n", argv[i]); continue; }
		int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
		socklen_t len = addr(to, &sa);
		ssize_t r = sendto(fd, argv[i], strlen(argv[i]), 0, (struct sockaddr *)&sa, len);
		printf("sent %s: %s\n", argv[i], r < 0 ? strerror(errno) : "ok");
		close(fd);
	}
	return 0;
}
`;

let toolPath: Promise<string> | undefined;
/** Compiles the tool once per test file (static, so that it runs in the busybox image too). */
function tool(): Promise<string> {
  toolPath ??= (async () => {
    const dir = await tmpDir('s1coreos-notify-tool');
    writeFileSync(join(dir, 'notify-tool.c'), TOOL_C);
    const r = await runCommand('gcc', ['-static', '-Os', '-Wall', '-o', join(dir, 'notify-tool'), join(dir, 'notify-tool.c')]);
    if (r.code !== 0) throw new Error(`gcc: ${r.stderr}`);
    return join(dir, 'notify-tool');
  })();
  return toolPath;
}
test.after.always(async () => {
  if (toolPath) await removeTree(join(await toolPath, '..'));
});

/** The tool in an app: `/notify-tool <args>`, the image annotated as supporting sd_notify (or not). */
async function notifyingApp(name: string, args: string[], annotated = true): Promise<TestApp> {
  return {
    name,
    image: {
      exec: ['/notify-tool', ...args],
      extraFiles: { 'notify-tool': { type: 'file', content: readFileSync(await tool()), mode: 0o755 } },
      ...(annotated ? { annotations: { [ANNOTATION_SUPPORTS_SYSTEMD_NOTIFY]: 'true' } } : {}),
    },
  };
}

interface Message {
  pid: number;
  msg: string;
  /** whether <pod>/pid existed when it arrived */
  podPid?: boolean;
}

/** A host-side NOTIFY_SOCKET: what arrived so far, and a wait for more. */
interface Receiver {
  address: string;
  messages: Message[];
  waitFor(n: number, timeoutMs?: number): Promise<Message[]>;
}

async function receiver(t: import('ava').ExecutionContext, address?: string, pod?: () => TestPod | undefined): Promise<Receiver> {
  const dir = await tmpDir('s1coreos-notify', t);
  const addr = address ?? join(dir, 'notify.sock');
  const child: ChildProcess = spawn(await tool(), ['recv', addr], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const messages: Message[] = [];
  let listening = false;
  let rest = '';
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop()!;
    for (const l of lines) {
      if (l === 'listening') listening = true;
      else {
        const m = /^(-?\d+) (.*)$/.exec(l);
        const p = pod?.();
        if (m) messages.push({ pid: Number(m[1]), msg: m[2]!, ...(p ? { podPid: existsSync(join(p.dir, 'pid')) } : {}) });
      }
    }
  });
  await waitFor('the receiver', () => (listening ? true : undefined));
  return {
    address: addr,
    messages,
    waitFor: (n, timeoutMs = 15_000) => waitFor(`${n} notify messages (got ${JSON.stringify(messages)})`, () => (messages.length >= n ? messages : undefined), timeoutMs),
  };
}

/** Runs a prepared pod with NOTIFY_SOCKET, then gc, checking for leaks. */
async function runNotified(t: import('ava').ExecutionContext, pod: TestPod, notify: string | undefined, args = ['--net=host']) {
  const check = await leakCheck({ match: pod.uuid, cgroupRoots: ['/sys/fs/cgroup'], iptables: false, veth: false });
  const env = { ...process.env };
  delete env.NOTIFY_SOCKET;
  const run = startPod(pod, args, { env: notify === undefined ? env : { ...env, NOTIFY_SOCKET: notify } });
  const r = await run.done;
  const gc = await runEntrypoint(pod, 'gc', [pod.uuid]);
  t.is(gc.code, 0, `gc failed: ${gc.stderr}`);
  await assertNoLeaks(t, check);
  return { ...r, pid: run.child.pid! };
}

it('an app without the annotation: READY=1 once the apps run, from the process systemd started; the app gets no NOTIFY_SOCKET', async (t) => {
  let pod: TestPod | undefined;
  const rx = await receiver(t, undefined, () => pod);
  pod = await preparePod(t, [{ name: 'plain', image: { exec: ['/bin/sh', '-c', 'echo "socket=$NOTIFY_SOCKET"; sleep 0.3'] } }]);
  const r = await runNotified(t, pod, rx.address);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^socket=$/m);
  t.deepEqual(rx.messages, [{ pid: r.pid, msg: 'READY=1', podPid: true }]);
});

it('a notifying app: READY=1 only after the app sent it, STATUS= forwarded, MAINPID= and the rest dropped', async (t) => {
  const rx = await receiver(t);
  const pod = await preparePod(t, [
    await notifyingApp('web', ['+300', 'STATUS=warming up', '+200', 'MAINPID=1\nREADY=1\nWATCHDOG=1', '+300', 'STATUS=serving']),
    { name: 'side', image: { exec: ['/bin/sh', '-c', 'echo "side=$NOTIFY_SOCKET"; sleep 1'] } },
  ]);
  const r = await runNotified(t, pod, rx.address);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^sent STATUS=warming up: ok$/m);
  t.regex(r.stdout, /^side=$/m, 'only the annotated app gets NOTIFY_SOCKET');
  t.deepEqual(
    rx.messages.map((m) => m.msg),
    ['STATUS=warming up', 'READY=1', 'STATUS=serving'],
  );
  for (const m of rx.messages) t.is(m.pid, r.pid, 'every message comes from the init\'s parent');
  t.is(readFileSync(join(pod.stage1Root, 'rkt/notify-socket'), 'utf8'), podNotifyAddress(pod.uuid));
  t.true(readFileSync(join(pod.stage1Root, 'rkt/env/web'), 'utf8').includes(`NOTIFY_SOCKET=${podNotifyAddress(pod.uuid)}`));
});

it('two notifying apps: READY=1 once both sent it, in a network of its own, to an abstract host address', async (t) => {
  const rx = await receiver(t, `@rktnetes-test-notify-${process.pid}-${Date.now()}`);
  const pod = await preparePod(t, [
    await notifyingApp('fast', ['+100', 'STATUS=fast ready', 'READY=1', '+1500']),
    await notifyingApp('slow', ['+700', 'STATUS=slow ready', 'READY=1', '+700']),
  ]);
  const r = await runNotified(t, pod, rx.address, ['--net=none']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(rx.messages.map((m) => m.msg), ['STATUS=fast ready', 'STATUS=slow ready', 'READY=1']);
});

it('READY=1 from a short-lived helper of the app (the systemd-notify way) counts, gone or not when it is read', async (t) => {
  const rx = await receiver(t);
  const app = await notifyingApp('shell', []);
  app.image!.exec = ['/bin/sh', '-c', 'sleep 0.2; /notify-tool STATUS=helper READY=1; sleep 0.5'];
  const pod = await preparePod(t, [app]);
  const r = await runNotified(t, pod, rx.address);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(rx.messages.map((m) => m.msg), ['STATUS=helper', 'READY=1']);
});

it('a process outside the pod cannot make it ready (host network: the pod-side address is in the host\'s namespace)', async (t) => {
  const rx = await receiver(t);
  const pod = await preparePod(t, [await notifyingApp('web', ['+1200', 'READY=1', '+200'])]);
  const env = { ...process.env };
  delete env.NOTIFY_SOCKET;
  const run = startPod(pod, ['--net=host'], { env: { ...env, NOTIFY_SOCKET: rx.address } });
  await waitFor('pid file', () => readPid(pod));
  // the intruder stays alive while the pod reads its message (a sender already gone is given the benefit of the doubt)
  const intruder = await runCommand(await tool(), ['STATUS=intruder', 'READY=1', '+300'], { env: { NOTIFY_SOCKET: podNotifyAddress(pod.uuid) } });
  t.regex(intruder.stdout, /sent READY=1: ok/);
  const r = await run.done;
  t.is(r.code, 0, r.stderr);
  t.is((await runEntrypoint(pod, 'gc', [pod.uuid])).code, 0);
  t.deepEqual(rx.messages.map((m) => m.msg), ['READY=1']);
});

it('--private-users with its own network: the notify socket is bound in the namespace the pod owns', async (t) => {
  const rx = await receiver(t);
  const pod = await preparePod(t, [await notifyingApp('web', ['+300', 'STATUS=userns', 'READY=1'])]);
  const r = await runNotified(t, pod, rx.address, ['--net=none', '--private-users=100000:65536']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(rx.messages.map((m) => m.msg), ['STATUS=userns', 'READY=1']);
});

it('without NOTIFY_SOCKET an annotated app gets none, and nothing is bound', async (t) => {
  const pod = await preparePod(t, [await notifyingApp('web', ['READY=1'])]);
  const r = await runNotified(t, pod, undefined);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^sent READY=1: no NOTIFY_SOCKET$/m);
  t.false(existsSync(join(pod.stage1Root, 'rkt/notify-socket')));
  t.notRegex(readFileSync(join(pod.stage1Root, 'rkt/init.spec'), 'utf8'), /^notify/m);
});

it('a mutable pod: READY=1 when the sandbox is ready; an annotated app added later forwards its STATUS=', async (t) => {
  const rx = await receiver(t);
  const pod = await preparePod(t, [], { annotations: [{ name: 'coreos.com/rkt/stage1/mutable', value: 'true' }] });
  const check = await leakCheck({ match: pod.uuid, cgroupRoots: ['/sys/fs/cgroup'], iptables: false, veth: false });
  const env = { ...process.env };
  delete env.NOTIFY_SOCKET;
  const run = startPod(pod, ['--net=none', '--mutable'], { env: { ...env, NOTIFY_SOCKET: rx.address } });
  let finished = false;
  void run.done.then(() => (finished = true));
  t.teardown(() => {
    if (!finished) run.child.kill('SIGKILL');
  });
  const pid = await waitFor('pid file', () => readPid(pod));
  t.deepEqual(await rx.waitFor(1), [{ pid: run.child.pid!, msg: 'READY=1' }]);

  // stage0's app add: the image rendered, the runtime app added to the manifest
  const app = await notifyingApp('later', ['STATUS=added later', '+300']);
  const aci = await busyboxImage({ name: 'example.com/later', ...app.image });
  mkdirSync(appDir(pod.dir, 'later'), { recursive: true });
  t.is(spawnSync('tar', ['-C', appDir(pod.dir, 'later'), '-xf', '-'], { input: aci }).status, 0);
  const manifest = parsePodManifest(readFileSync(podManifestPath(pod.dir)));
  manifest.apps.push(runtimeApp({ name: 'later' }));
  writeFileSync(podManifestPath(pod.dir), serializePodManifest(manifest));
  const crossEnv = { RKT_STAGE1_ENTERCMD: join(pod.stage1Root, 'enter'), RKT_STAGE1_ENTERPID: String(pid), PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const add = await runCommand(join(pod.stage1Root, 'app_add'), ['--debug=false', `--uuid=${pod.uuid}`, '--app=later'], { cwd: pod.dir, env: crossEnv });
  t.is(add.code, 0, add.stderr);
  const start = await runCommand(join(pod.stage1Root, 'app_start'), ['--debug=false', '--app=later'], { cwd: pod.dir, env: crossEnv });
  t.is(start.code, 0, start.stderr);
  t.deepEqual((await rx.waitFor(2)).map((m) => m.msg), ['READY=1', 'STATUS=added later']);

  t.is((await runEntrypoint(pod, 'stop', [pod.uuid])).code, 0);
  await run.done;
  t.is((await runEntrypoint(pod, 'gc', [pod.uuid])).code, 0);
  await assertNoLeaks(t, check);
});

// ------------------------------------------------------------------------------------ through stage0

const RKT = fileURLToPath(new URL('../../stage0/dist/rkt.mjs', import.meta.url));
const e2e = testIf(test, isRoot() && hasBusybox() && existsSync(RKT) && spawnSync('gcc', ['--version']).status === 0, 'needs root, busybox-static, gcc and the built stage0');

e2e('rkt run with NOTIFY_SOCKET: stage0 passes it on, the pod reports READY=1 from the pid rkt run started as', async (t) => {
  const rx = await receiver(t);
  const dir = await tmpDir('s1coreos-notify-e2e');
  t.teardown(async () => {
    try {
      unmountTree(dir, realSys());
    } catch {
      // removeTree reports it
    }
    await removeTree(dir);
  });
  const cfg = join(dir, 'cfg');
  const globals = ['--dir', join(dir, 'data'), '--local-config', cfg, '--system-config', cfg, '--user-config', cfg];
  const app = await notifyingApp('e2e', ['+300', 'STATUS=from e2e', 'READY=1', '+200']);
  const aci = join(dir, 'e2e.aci');
  writeFileSync(aci, await busyboxImage({ name: 'example.com/notify-e2e', ...app.image }));
  const env = { ...process.env, NOTIFY_SOCKET: rx.address };
  const child = spawn(process.execPath, [RKT, ...globals, 'run', '--insecure-options=image', `--stage1-path=${ensureStage1Aci()}`, '--net=host', aci], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.is(code, 0, out);
  t.deepEqual(rx.messages, [
    { pid: child.pid!, msg: 'STATUS=from e2e' },
    { pid: child.pid!, msg: 'READY=1' },
  ]);
  const gc = await runCommand(process.execPath, [RKT, ...globals, 'gc', '--grace-period=0s']);
  t.is(gc.code, 0, gc.stderr);
});
