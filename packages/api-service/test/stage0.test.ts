import test from 'ava';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpDir } from '@rktnetes/testkit';
import { apiClient, ensureBuilt, startService } from './helpers/server';
import { writePod } from './helpers/pods';

const rkt = fileURLToPath(new URL('../../stage0/dist/rkt.mjs', import.meta.url));

// `rkt api-service` execs this package's bundle; it needs both bundles
const withRkt = existsSync(rkt) ? test : test.skip;

/** Starts `rkt <args>` (which execs rkt-api-service) through the service helper. */
function startRkt(args: string[], opts: Parameters<typeof startService>[1] = {}) {
  ensureBuilt();
  return startService(args, { ...opts, bin: rkt });
}

withRkt('rkt api-service execs rkt-api-service with rkt\'s global flags', async (t) => {
  const data = await tmpDir('api-rkt', t);
  await writePod(data, { state: 'prepared' });
  const svc = await startRkt(['--dir', data, '--local-config', join(data, 'etc'), 'api-service', '--listen', '127.0.0.1:0']);
  t.teardown(() => svc.stop());
  const c = apiClient(svc.addresses[0]!);
  t.teardown(() => c.close());
  const { info } = await c.call('GetInfo');
  t.is(info.global_flags.dir, data);
  t.is(info.global_flags.local_config_dir, join(data, 'etc'));
  t.is((await c.call('ListPods')).pods.length, 1);
});

withRkt('rkt api-service keeps systemd sockets open across the exec', async (t) => {
  const data = await tmpDir('api-rkt', t);
  const listener = createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  const port = (listener.address() as { port: number }).port;
  const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
  const svc = await startRkt(['--dir', data, 'api-service'], { viaShell: true, env: { ...process.env, LISTEN_FDS: '1' }, stdio: ['ignore', 'ignore', 'pipe', fd] });
  t.teardown(() => svc.stop());
  listener.close(); // the service has its own copy; ours must not accept its connections
  const c = apiClient(`127.0.0.1:${port}`);
  t.teardown(() => c.close());
  t.is((await c.call('GetInfo')).info.global_flags.dir, data);
});
