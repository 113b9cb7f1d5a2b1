/**
 * The CRI streaming server without pods: SPDY/3.1 and WebSocket framing, tokens, the remote
 * command and port forward protocols against fake backends, driven by real clients
 * (spdy-transport, ws; see helpers/k8s-streams.ts). No privileges needed.
 */
import test from 'ava';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import {
  adler32,
  acceptKey,
  chooseProtocol,
  decodeFrame,
  decodeHeaderBlock,
  encodeHeaderBlock,
  encodeWsFrame,
  expectedSpdyStreams,
  FrameDecoder,
  HeaderDeflater,
  HeaderInflater,
  parseHostPort,
  parsePort,
  ResizeDecoder,
  SPDY_DICTIONARY,
  statusMessage,
  StreamingServer,
  TokenCache,
  WsFrameDecoder,
  dataFrame,
  goAwayFrame,
  pingFrame,
  rstStreamFrame,
  settingsFrame,
  synReplyFrame,
  synStreamFrame,
  windowUpdateFrame,
  type CommandStreams,
  type StreamBackends,
} from '../src/cri/streaming/index';
import { parseCriCli } from '../src/cri/main';
import { plainStatus, spdyCommand, spdyConnect, spdyForward, wsCommand, wsForward } from './helpers/k8s-streams';

// ------------------------------------------------------------------------------ SPDY framing

test('the SPDY/3 dictionary is the one every implementation uses', (t) => {
  t.is(SPDY_DICTIONARY.length, 1423);
  t.is(adler32(SPDY_DICTIONARY), 0xe3c6a7c2);
  t.true(SPDY_DICTIONARY.subarray(0, 11).equals(Buffer.from([0, 0, 0, 7, ...Buffer.from('options')])));
  t.true(SPDY_DICTIONARY.toString('latin1').endsWith('utf-,*,enq=0.'));
});

test('frames encode and decode, whole or in pieces', (t) => {
  const frames = [
    dataFrame(3, Buffer.from('hello'), true),
    synStreamFrame(5, Buffer.from([1, 2, 3]), 0x01, 0, 3),
    synReplyFrame(5, Buffer.from([9])),
    rstStreamFrame(7, 5),
    pingFrame(11),
    goAwayFrame(9, 0),
    windowUpdateFrame(0, 65536),
    settingsFrame([{ id: 7, value: 1 << 20, flags: 1 }]),
  ];
  const all = Buffer.concat(frames);
  const dec = new FrameDecoder();
  const got = [];
  for (let i = 0; i < all.length; i += 3) got.push(...dec.push(all.subarray(i, i + 3)));
  t.is(dec.pending, 0);
  t.like(got[0], { kind: 'data', streamId: 3, flags: 1 });
  t.is((got[0] as { data: Buffer }).data.toString(), 'hello');
  t.like(got[1], { kind: 'syn_stream', streamId: 5, flags: 1, priority: 3 });
  t.deepEqual([...(got[1] as { block: Buffer }).block], [1, 2, 3]);
  t.like(got[2], { kind: 'syn_reply', streamId: 5 });
  t.like(got[3], { kind: 'rst_stream', streamId: 7, status: 5 });
  t.like(got[4], { kind: 'ping', id: 11 });
  t.like(got[5], { kind: 'goaway', lastGoodStreamId: 9, status: 0 });
  t.like(got[6], { kind: 'window_update', streamId: 0, delta: 65536 });
  t.deepEqual((got[7] as { entries: unknown }).entries, [{ id: 7, value: 1 << 20, flags: 1 }]);
  t.throws(() => decodeFrame(Buffer.from([0x80, 0x02, 0, 1, 0, 0, 0, 0])), { message: /version 2/ });
});

test('header blocks: this side stores, any inflater reads; the peer compresses, this side inflates', async (t) => {
  const headers = { streamtype: 'data', port: '8080', requestid: '1', ':status': '200' };
  t.deepEqual(Object.fromEntries([...decodeHeaderBlock(encodeHeaderBlock(headers))].map(([k, v]) => [k, v[0]])), headers);
  // ours, read by zlib itself, several blocks in one zlib stream
  const d = new HeaderDeflater();
  const blocks = [d.headers(headers), d.headers({ streamtype: 'error' }), d.deflate(Buffer.alloc(70_000, 1))];
  t.is(blocks[0]!.readUInt32BE(2), 0xe3c6a7c2, 'the zlib header names the dictionary');
  const plain = zlib.inflateSync(Buffer.concat(blocks), { dictionary: SPDY_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  t.is(plain.length, encodeHeaderBlock(headers).length + encodeHeaderBlock({ streamtype: 'error' }).length + 70_000);
  // a real compressor (as Go's: best compression, dictionary, sync flush per block) read by ours
  const z = zlib.createDeflate({ dictionary: SPDY_DICTIONARY, level: 9 });
  const inf = new HeaderInflater();
  for (const h of [headers, { streamtype: 'stdin' }, { streamtype: 'stdin' }]) {
    const chunks: Buffer[] = [];
    const on = (c: Buffer) => chunks.push(c);
    z.on('data', on);
    z.write(encodeHeaderBlock(h));
    await new Promise<void>((r) => z.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
    z.off('data', on);
    t.deepEqual(decodeHeaderBlock(await inf.inflate(Buffer.concat(chunks))).get('streamtype'), [h.streamtype]);
  }
  z.close();
  await t.throwsAsync(inf.inflate(Buffer.from('not zlib at all')));
  inf.close();
});

// ------------------------------------------------------------------------------ WebSocket framing

test('WebSocket: accept key, masked and fragmented client frames, protocol choice', (t) => {
  t.is(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = (op: number, payload: Buffer, fin = true) => {
    const f = encodeWsFrame(op, payload, fin);
    const head = f.subarray(0, f.length - payload.length);
    head[1]! |= 0x80;
    const body = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]!));
    return Buffer.concat([head, mask, body]);
  };
  const dec = new WsFrameDecoder();
  const big = Buffer.alloc(70_000, 7);
  const bytes = Buffer.concat([masked(2, Buffer.from('ab'), false), masked(0, Buffer.from('cd')), masked(2, big)]);
  const frames = [...dec.push(bytes.subarray(0, 5)), ...dec.push(bytes.subarray(5))];
  t.deepEqual(
    frames.map((f) => [f.opcode, f.fin, f.payload.length]),
    [
      [2, false, 2],
      [0, true, 2],
      [2, true, 70_000],
    ],
  );
  t.true(frames[2]!.payload.equals(big));
  t.is(encodeWsFrame(2, Buffer.alloc(200))[1], 126);
  t.is(chooseProtocol(['v5.channel.k8s.io', 'v4.channel.k8s.io'], ['v4.channel.k8s.io', '']), 'v4.channel.k8s.io');
  t.is(chooseProtocol([], ['v4.channel.k8s.io', '']), '');
  t.is(chooseProtocol(['nope'], ['v4.channel.k8s.io', '']), undefined);
});

// ------------------------------------------------------------------------------ protocol pieces

test('tokens are one-time, expire, and are bounded', (t) => {
  let now = 0;
  const c = new TokenCache<string>(60_000, 2, () => now);
  const a = c.put('exec', 'A');
  t.regex(a, /^[A-Za-z0-9_-]{16}$/);
  t.is(c.take('attach', a), undefined, 'another kind does not find it');
  t.is(c.take('exec', a), 'A', 'nor take it');
  const b = c.put('exec', 'B');
  t.is(c.take('exec', b), 'B');
  t.is(c.take('exec', b), undefined, 'one time');
  const d = c.put('portforward', 'D');
  now += 60_000;
  t.is(c.take('portforward', d), undefined, 'expired');
  c.put('exec', 'x');
  c.put('exec', 'y');
  t.throws(() => c.put('exec', 'z'), { code: 'cri.streaming-busy' } as never);
  now += 60_001;
  t.notThrows(() => c.put('exec', 'z'));
});

test('status messages, resize decoding, expected streams, addresses', (t) => {
  t.deepEqual(JSON.parse(statusMessage('v4.channel.k8s.io', { exitCode: 0 }).toString()), { metadata: {}, status: 'Success' });
  const fail = JSON.parse(statusMessage('v5.channel.k8s.io', { exitCode: 7 }, 'sh -c exit 7').toString());
  t.like(fail, { status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '7' }] } });
  t.regex(fail.message, /exit code 7/);
  t.like(JSON.parse(statusMessage('v4.channel.k8s.io', { error: 'boom' }).toString()), { status: 'Failure', reason: 'InternalError', message: 'boom' });
  t.is(statusMessage('v3.channel.k8s.io', { exitCode: 0 }).length, 0);
  t.regex(statusMessage('v2.channel.k8s.io', { exitCode: 2 }).toString(), /non-zero exit code/);
  const r = new ResizeDecoder();
  t.deepEqual(r.push('{"Width":80,"Height":24}\n{"Wid'), [{ width: 80, height: 24 }]);
  t.deepEqual(r.push('th":100,"Height":30}{"Width":"x"}'), [{ width: 100, height: 30 }]);
  t.deepEqual(expectedSpdyStreams('v4.channel.k8s.io', { stdin: true, stdout: true, stderr: false, tty: true }), ['error', 'stdin', 'stdout', 'resize']);
  t.deepEqual(expectedSpdyStreams('v2.channel.k8s.io', { stdin: false, stdout: true, stderr: true, tty: true }), ['error', 'stdout']);
  t.deepEqual(parseHostPort('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  t.deepEqual(parseHostPort('[::1]:10010'), { host: '::1', port: 10010 });
  t.throws(() => parseHostPort('localhost'), { code: 'cri.usage' } as never);
  t.is(parsePort('80'), 80);
  t.is(parsePort('0'), undefined);
  t.is(parsePort('65536'), undefined);
  t.is(parsePort('8o'), undefined);
});

test('rkt-api-service cri --streaming-address', (t) => {
  const base = ['--rkt-path', '/bin/true', '--cri-socket', '/tmp/x.sock'];
  t.is(parseCriCli(base, {}).options.streamingAddress, undefined);
  t.is(parseCriCli([...base, '--streaming-address', '0.0.0.0:10010'], {}).options.streamingAddress, '0.0.0.0:10010');
  t.throws(() => parseCriCli([...base, '--streaming-address', 'nowhere'], {}), { code: 'cri.usage' } as never);
});

// ------------------------------------------------------------------------------ server, fake backends

interface Fake extends StreamBackends {
  sessions: Array<{ kind: string; target: unknown; resizes: unknown[] }>;
}

/** Backends that run nothing: exec echoes stdin and exits with the status in cmd[0]; connect dials `upstream`. */
function fakeBackends(upstream: () => number): Fake {
  const sessions: Fake['sessions'] = [];
  const run = async (kind: string, target: { cmd?: string[] } | object, io: CommandStreams) => {
    const cmd = 'cmd' in target ? (target.cmd as string[]) : [];
    const rec = { kind, target, resizes: [] as unknown[] };
    sessions.push(rec);
    io.resizes.on('resize', (s) => rec.resizes.push(s));
    io.stdout?.write(`${kind} ${cmd.join(' ')}\n`);
    io.stderr?.write('to stderr\n');
    if (io.stdin) for await (const d of io.stdin) io.stdout?.write(String(d).toUpperCase());
    if (cmd[0] === 'wait-resize') await new Promise((r) => setTimeout(r, 200));
    const code = Number(cmd[0]);
    return cmd[0] === 'fail' ? { error: 'it failed' } : { exitCode: Number.isInteger(code) ? code : 0 };
  };
  return {
    sessions,
    exec: (t, io) => run('exec', t, io),
    attach: (t, io) => run('attach', t, io),
    connect: (_t, port) =>
      new Promise<Duplex>((resolve, reject) => {
        const s = net.connect(port === 1 ? 1 : upstream(), '127.0.0.1');
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      }),
    close() {},
  };
}

const execReq = (cmd: string[], o: Partial<{ stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }> = {}) => ({
  containerId: 'c1',
  podUuid: 'u1',
  appName: 'app',
  cmd,
  stdin: false,
  stdout: true,
  stderr: true,
  tty: false,
  ...o,
});

let upstreamPort = 0;
const upstream = net.createServer((s) => {
  // an echo server that answers in upper case and closes after the client's end
  s.on('data', (d) => s.write(String(d).toUpperCase()));
  s.on('end', () => s.end());
});
test.before(async () => {
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  upstreamPort = (upstream.address() as net.AddressInfo).port;
});
test.after.always(() => upstream.close());

async function server(t: { teardown(fn: () => unknown): void }) {
  const backends = fakeBackends(() => upstreamPort);
  const s = await StreamingServer.start({ backends, streamCreationTimeoutMs: 2000 });
  t.teardown(() => s.close());
  return { s, backends };
}

test('SPDY exec: v4 streams, stdin to stdout, stderr apart, exit status in the error stream', async (t) => {
  const { s } = await server(t);
  t.regex(s.address, /^127\.0\.0\.1:\d+$/);
  const r = await spdyCommand(s.exec(execReq(['3'], { stdin: true })), { stdin: 'abc'.repeat(40_000), stderr: true });
  t.is(r.protocol, 'v4.channel.k8s.io');
  t.is(r.stdout, `exec 3\n${'ABC'.repeat(40_000)}`);
  t.is(r.stderr, 'to stderr\n');
  t.like(JSON.parse(r.error), { status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
  const ok = await spdyCommand(s.exec(execReq(['0'], { stderr: false })));
  t.is(ok.stdout, 'exec 0\n');
  t.deepEqual(JSON.parse(ok.error), { metadata: {}, status: 'Success' });
  const failed = await spdyCommand(s.exec(execReq(['fail'])), { stderr: true });
  t.like(JSON.parse(failed.error), { status: 'Failure', reason: 'InternalError', message: 'it failed' });
});

test('SPDY exec: older protocols report errors as text; a terminal gets resizes', async (t) => {
  const { s, backends } = await server(t);
  const v2 = await spdyCommand(s.exec(execReq(['4'])), { protocols: ['v2.channel.k8s.io'], stderr: true });
  t.is(v2.protocol, 'v2.channel.k8s.io');
  t.regex(v2.error, /^command terminated with non-zero exit code: .* exit code 4$/);
  const v3ok = await spdyCommand(s.exec(execReq(['0'])), { protocols: ['v3.channel.k8s.io'], stderr: true });
  t.is(v3ok.error, '');
  const tty = await spdyCommand(s.exec(execReq(['wait-resize'], { stdin: true, stderr: false, tty: true })), {
    tty: true,
    stdin: 'x',
    resizes: [
      { Width: 100, Height: 30 },
      { Width: 120, Height: 40 },
    ],
  });
  t.is(tty.stdout, 'exec wait-resize\nX');
  t.deepEqual(backends.sessions.at(-1)!.resizes, [
    { width: 100, height: 30 },
    { width: 120, height: 40 },
  ]);
});

test('tokens: unknown, used and non-upgrade requests; protocol negotiation', async (t) => {
  const { s, backends } = await server(t);
  const base = `http://${s.address}`;
  t.is(await plainStatus(`${base}/exec/nosuchtoken`, { Connection: 'Upgrade', Upgrade: 'SPDY/3.1' }), 404);
  t.is(await plainStatus(`${base}/elsewhere`), 404);
  const url = s.exec(execReq(['0']));
  t.is(await plainStatus(url), 400, 'no upgrade');
  t.is(await plainStatus(url, { Connection: 'Upgrade', Upgrade: 'SPDY/3.1' }), 404, 'the token was used by the first request');
  const attachUrl = s.attach(execReq([]));
  t.is(await plainStatus(attachUrl.replace('/attach/', '/exec/'), { Connection: 'Upgrade', Upgrade: 'SPDY/3.1' }), 404, 'a token is for one kind');
  const refused = await spdyConnect(s.exec(execReq(['0'])), ['v9.channel.k8s.io']);
  t.true('status' in refused);
  if ('status' in refused) {
    t.is(refused.status, 403);
    t.is(refused.headers['x-accepted-stream-protocol-versions'], 'v4.channel.k8s.io, v3.channel.k8s.io, v2.channel.k8s.io, channel.k8s.io');
  }
  t.is(backends.sessions.length, 0, 'nothing ran');
});

test('a client that does not open its streams is dropped; one that leaves stops the session', async (t) => {
  const { s, backends } = await server(t);
  const conn = await spdyConnect(s.exec(execReq(['0'])), ['v4.channel.k8s.io']);
  if ('status' in conn) return t.fail();
  await conn.open({ streamtype: 'error' });
  const closed = await new Promise<boolean>((resolve) => {
    conn.socket.once('close', () => resolve(true));
    setTimeout(() => resolve(false), 5000);
  });
  t.true(closed, 'the server gave up after the stream creation timeout');
  t.is(backends.sessions.length, 0);
});

test('WebSocket exec: v4 binary, base64, v5 stdin close, and the first empty message', async (t) => {
  const { s } = await server(t);
  const v4 = await wsCommand(s.exec(execReq(['2'])), { protocol: 'v4.channel.k8s.io' });
  t.is(v4.stdout, 'exec 2\n');
  t.is(v4.stderr, 'to stderr\n');
  t.like(JSON.parse(v4.error), { reason: 'NonZeroExitCode', details: { causes: [{ message: '2' }] } });
  const b64 = await wsCommand(s.exec(execReq(['0'])), { protocol: 'v4.base64.channel.k8s.io' });
  t.is(b64.stdout, 'exec 0\n');
  t.deepEqual(JSON.parse(b64.error), { metadata: {}, status: 'Success' });
  const v5 = await wsCommand(s.exec(execReq(['0'], { stdin: true })), { protocol: 'v5.channel.k8s.io', stdin: 'hey' });
  t.is(v5.stdout, 'exec 0\nHEY');
  const old = await wsCommand(s.exec(execReq(['5'])), { protocol: 'channel.k8s.io' });
  t.regex(old.error, /exit code 5/);
});

test('SPDY port forward: pairs by requestID, several connections, a refused port on the error stream', async (t) => {
  const { s } = await server(t);
  const session = await spdyConnect(s.portForward({ sandboxId: 's', podUuid: 'u', hostNetwork: false }), ['portforward.k8s.io']);
  if ('status' in session) return t.fail(`${session.status} ${session.body}`);
  t.is(session.protocol, 'portforward.k8s.io');
  const results = await Promise.all([1, 2, 3].map((i) => spdyForward(session, 8080, i, `request ${i}`)));
  t.deepEqual(
    results.map((r) => r.data),
    ['REQUEST 1', 'REQUEST 2', 'REQUEST 3'],
  );
  t.true(results.every((r) => r.error === ''));
  const refused = await spdyForward(session, 1, 9, 'x');
  t.is(refused.data, '');
  t.regex(refused.error, /^failed to connect to localhost:1 inside the pod: .*ECONNREFUSED/);
  const bad = await spdyForward(session, 0, 10, 'x');
  t.regex(bad.error, /invalid port/);
  session.close();
});

test('WebSocket port forward: ports from the query, their number first on each channel', async (t) => {
  const { s } = await server(t);
  const r = await wsForward(s.portForward({ sandboxId: 's', podUuid: 'u', hostNetwork: false }), [
    { port: 8080, send: 'one', expect: 3 },
    { port: 1, send: 'two', expect: 3 },
  ]);
  t.deepEqual(r[0]!.first, [8080, 8080]);
  t.is(r[0]!.data, 'ONE');
  t.deepEqual(r[1]!.first, [1, 1]);
  t.regex(r[1]!.error, /failed to connect to localhost:1/);
});

test('many sessions at once on one server', async (t) => {
  const { s } = await server(t);
  const runs = await Promise.all(
    Array.from({ length: 20 }, (_, i) => (i % 2 ? spdyCommand(s.exec(execReq([String(i)])), { stderr: true }) : wsCommand(s.exec(execReq([String(i)]))))),
  );
  runs.forEach((r, i) => t.is(r.stdout, `exec ${i}\n`));
});

