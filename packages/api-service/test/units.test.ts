import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../units/', import.meta.url));
const read = (name: string) => readFileSync(dir + name, 'utf8');

test('the systemd units are the expected set and pass systemd-analyze verify', (t) => {
  t.deepEqual(readdirSync(dir).sort(), ['rkt-api-tcp.socket', 'rkt-api-unix.socket', 'rkt-api.service', 'rkt-metadata.service', 'rkt-metadata.socket', 'rkt-pod-example.service']);
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...readdirSync(dir).map((f) => dir + f)], { encoding: 'utf8' });
  if (r.error) return t.pass('systemd-analyze is not installed');
  // /usr/bin/rkt is not installed on a build machine; anything else is a real problem
  const problems = (r.stderr + r.stdout).split('\n').filter((l) => l.trim() && !/Command \/usr\/bin\/rkt is not executable/.test(l));
  t.deepEqual(problems, []);
});

test('the sockets match the services\' defaults and socket activation contract', (t) => {
  t.regex(read('rkt-api-tcp.socket'), /^ListenStream=127\.0\.0\.1:15441$/m);
  t.regex(read('rkt-api-tcp.socket'), /^ListenStream=\[::1\]:15441$/m);
  t.regex(read('rkt-api-unix.socket'), /^ListenStream=\/run\/rkt\/api-service\.sock$/m);
  t.regex(read('rkt-api.service'), /^ExecStart=\/usr\/bin\/rkt api-service$/m);
  t.regex(read('rkt-metadata.socket'), /^ListenStream=\/run\/rkt\/metadata-svc\.sock$/m);
  t.regex(read('rkt-metadata.socket'), /^FileDescriptorName=registration$/m);
  t.regex(read('rkt-metadata.service'), /^ExecStart=\/usr\/bin\/rkt metadata-service$/m);
  const pod = read('rkt-pod-example.service');
  t.regex(pod, /--uuid-file-save=%t\/%N\/pod\.uuid/);
  t.regex(pod, /^ExecStopPost=\/usr\/bin\/rkt rm --uuid-file=%t\/%N\/pod\.uuid$/m);
  t.regex(pod, /^KillMode=mixed$/m);
  // sd_notify from the pod's init, the unit's main process (packages/stage1-coreos, "sd_notify")
  t.regex(pod, /^Type=notify$/m);
  t.regex(pod, /^NotifyAccess=main$/m);
});
