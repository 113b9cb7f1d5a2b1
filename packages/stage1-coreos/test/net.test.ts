/**
 * The coreos flavor's part of pod networking (what `--net` means for its init); the CNI
 * machinery itself is tested in packages/pod-net.
 */
import test from 'ava';
import { hasCode } from '@rktnetes/errors';
import { recordingSys } from '@rktnetes/sys';
import { planNetwork } from '@rktnetes/stage1-coreos';

const UUID = '0a1b2c3d-1111-4222-8333-444455556666';
const silent = { warn: () => undefined, debug: () => undefined };

test('planNetwork: host and none need no setup, and refuse forwarded ports', (t) => {
  const sys = recordingSys();
  const base = { pod: '/nonexistent', uuid: UUID, stage1Root: '/nonexistent/s1', apps: [{ ports: [{ name: 'http', protocol: 'tcp', port: 80 }] }], lockFd: 3, sys, env: {}, ...silent };
  t.deepEqual(planNetwork({ ...base, args: { net: [{ name: 'host' }], debug: false } }), { mode: 'host' });
  t.deepEqual(planNetwork({ ...base, args: { net: undefined, debug: false } }), { mode: 'host' });
  t.deepEqual(planNetwork({ ...base, args: { net: [{ name: 'none' }], debug: false } }), { mode: 'none' });
  for (const net of ['host', 'none']) {
    const e = t.throws(() => planNetwork({ ...base, args: { net: [{ name: net }], debug: false }, exposedPorts: [{ name: 'http', hostPort: 8080 }] }));
    t.true(hasCode(e, 'stage1.net.port'));
    t.regex(e!.message, new RegExp(`ports cannot be forwarded with '${net}' networking`));
  }
  t.deepEqual(sys.calls, [], 'nothing was touched, the lock fd included');
});
