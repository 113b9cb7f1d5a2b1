/**
 * The terminal and netns-socket functions: a pseudo-terminal's ends, size and raw mode; a TCP
 * socket made through a namespace file (this process's own; setns needs root: skipped
 * otherwise).
 */
import test from 'ava';
import { closeSync, readSync, writeSync } from 'node:fs';
import net from 'node:net';
import { connectTcpInNetns, getWindowSize, openPty, setRaw, setWindowSize, socketError } from '@rktnetes/sys';

const root = process.getuid?.() === 0;

test('openPty: both ends connected, size set and changed, raw mode', (t) => {
  const p = openPty({ size: { rows: 30, cols: 100 } });
  try {
    t.regex(p.path, /^\/dev\/pts\/\d+$/);
    t.deepEqual(getWindowSize(p.slave), { rows: 30, cols: 100 });
    setWindowSize(p.master, 40, 120);
    t.deepEqual(getWindowSize(p.slave), { rows: 40, cols: 120 });
    setRaw(p.slave);
    writeSync(p.slave, 'a\nb');
    const buf = Buffer.alloc(16);
    const n = readSync(p.master, buf, 0, buf.length, null);
    t.is(buf.subarray(0, n).toString(), 'a\nb', 'raw: no CR added before LF');
  } finally {
    closeSync(p.slave);
    closeSync(p.master);
  }
  t.throws(() => setWindowSize(-1, 1, 1), { code: 'sys.ioctl' } as never);
});

(root ? test : test.skip)('connectTcpInNetns: a socket made through a namespace file, refused ports', async (t) => {
  const srv = net.createServer((s) => s.end('hello'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  try {
    const c = connectTcpInNetns('/proc/self/ns/net', '127.0.0.1', port);
    t.true(c.connected);
    t.is(socketError(c.fd), 0);
    const s = new net.Socket({ fd: c.fd, readable: true, writable: true });
    let got = '';
    s.on('data', (d) => (got += d));
    await new Promise((r) => s.on('close', r));
    t.is(got, 'hello');
    const e = t.throws(() => connectTcpInNetns('/proc/self/ns/net', '127.0.0.1', 1)) as unknown as { code: string; details: { errno: string } };
    t.is(e.code, 'sys.connect');
    t.is(e.details.errno, 'ECONNREFUSED');
    t.throws(() => connectTcpInNetns('/nonexistent/ns', '127.0.0.1', port), { code: 'sys.netns' } as never);
    t.throws(() => connectTcpInNetns('/proc/self/ns/net', 'localhost', port), { code: 'sys.connect' } as never);
  } finally {
    srv.close();
  }
});
