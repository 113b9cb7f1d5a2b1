/**
 * The per-container security settings through the CRI, as root: the bundled `rkt-api-service
 * cri` with the real rkt and stage1-coreos. Seccomp profiles (nil, Unconfined, RuntimeDefault,
 * Localhost), no_new_privs, masked and read-only paths, and privileged containers, each checked
 * from inside the container with ExecSync; everything removed and checked for leaks at the end.
 */
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxTree, hasBusybox, hasTool, isRoot, type LeakCompare } from '@rktnetes/testkit';
import { bundlesPresent, finishCri, grpc, startCriSuite, type CriClient, type CriServer } from './cri-fixture';

const enabled = isRoot() && hasBusybox() && bundlesPresent() && hasTool('docker-registry') && hasTool('skopeo');
const it = enabled ? test.serial : test.skip;

interface Env {
  cri: CriServer;
  client: CriClient;
  check: LeakCompare;
  image: string;
  sandbox: string;
  sandboxConfig: object;
  podUuid: string;
  profiles: string;
}
let env: Env | undefined;
const cleanups: Array<() => unknown> = [];
const hooks = { teardown: (fn: () => unknown) => void cleanups.push(fn) };

test.before(async () => {
  if (!enabled) return;
  const tree = { ...busyboxTree(), 'etc/secret': { type: 'file' as const, content: 's3cret\n' } };
  const { check, cri, client, image } = await startCriSuite(hooks, 'test/secure:1', tree);
  const profiles = join(cri.dataDir, '..', 'profiles');
  mkdirSync(profiles);
  const sandboxConfig = {
    metadata: { name: 'secure', namespace: 'default', uid: 'uid-secure', attempt: 0 },
    linux: { security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } },
  };
  const { pod_sandbox_id: sandbox } = await client.runtime('RunPodSandbox', { config: sandboxConfig });
  const st = await client.runtime('PodSandboxStatus', { pod_sandbox_id: sandbox, verbose: true });
  env = { cri, client, check, image, sandbox, sandboxConfig, podUuid: JSON.parse(st.info.info).podUuid, profiles };
});

test.after.always(async (t) => {
  if (env) await finishCri(t, { ...env, seen: new Set([env.cri.dataDir, env.podUuid]) }, cleanups);
});

let n = 0;
/** Creates and starts a `sleep` container with this security context; returns its id. */
async function container(securityContext: object | null): Promise<string> {
  const { client, image, sandbox, sandboxConfig } = env!;
  const config = {
    metadata: { name: `c${n++}`, attempt: 0 },
    image: { image },
    command: ['sleep', '600'],
    linux: securityContext ? { security_context: securityContext } : {},
  };
  const { container_id: id } = await client.runtime('CreateContainer', { pod_sandbox_id: sandbox, config, sandbox_config: sandboxConfig });
  await client.runtime('StartContainer', { container_id: id });
  return id;
}

/** ExecSync of a shell command: exit code, stdout and stderr as text. */
async function exec(id: string, script: string): Promise<{ code: number; out: string; err: string }> {
  const r = await env!.client.runtime('ExecSync', { container_id: id, cmd: ['sh', '-c', script], timeout: 30 });
  return { code: r.exit_code, out: r.stdout.toString(), err: r.stderr.toString() };
}

const status = async (id: string, field: string) => /:\s*(\S+)/.exec((await exec(id, `grep ^${field}: /proc/self/status`)).out)?.[1];

function profile(name: string, body: object): string {
  const file = join(env!.profiles, name);
  writeFileSync(file, JSON.stringify(body, null, 2));
  return file;
}

it('seccomp: a nil profile and Unconfined mean no filter, RuntimeDefault stage1\'s default', async (t) => {
  const nil = await container(null);
  t.is(await status(nil, 'Seccomp'), '0');
  const unconfined = await container({ seccomp: { profile_type: 'Unconfined' } });
  t.is(await status(unconfined, 'Seccomp'), '0');
  t.is((await exec(unconfined, 'unshare -U true; echo rc=$?')).out.trim(), 'rc=0');
  const dflt = await container({ seccomp: { profile_type: 'RuntimeDefault' } });
  t.is(await status(dflt, 'Seccomp'), '2');
  const blocked = await exec(dflt, 'unshare -U true');
  t.not(blocked.code, 0);
  t.regex(blocked.err, /Operation not permitted/);
});

it('seccomp: a Localhost profile, with its errno, for the container and its exec\'d processes', async (t) => {
  const file = profile('no-mkdir.json', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] });
  const id = await container({ seccomp: { profile_type: 'Localhost', localhost_ref: file } });
  const r = await exec(id, 'mkdir /tmp/d');
  t.is(r.code, 1);
  t.regex(r.err, /Permission denied/);
  t.is((await exec(id, 'unshare -U true; echo rc=$?')).out.trim(), 'rc=0', 'only what the profile blocks');

  const { client, sandbox } = env!;
  const missing = client.runtime('CreateContainer', {
    pod_sandbox_id: sandbox,
    config: { metadata: { name: 'missing', attempt: 0 }, image: { image: env!.image }, linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: join(env!.profiles, 'none.json') } } } },
  });
  const e = (await missing.then(() => undefined, (err: grpc.ServiceError) => err))!;
  t.truthy(e, 'a missing profile fails CreateContainer');
  t.regex(e.details, /cannot read seccomp profile/);
  const relative = client.runtime('CreateContainer', {
    pod_sandbox_id: sandbox,
    config: { metadata: { name: 'relative', attempt: 0 }, image: { image: env!.image }, linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: 'p.json' } } } },
  });
  t.is((await relative.then(() => undefined, (err: grpc.ServiceError) => err))?.code, grpc.status.INVALID_ARGUMENT);
});

it('no_new_privs only when asked, also for a non-root container with the default filter', async (t) => {
  const off = await container({ run_as_user: { value: '1000' }, seccomp: { profile_type: 'RuntimeDefault' } });
  t.is(await status(off, 'NoNewPrivs'), '0');
  t.is(await status(off, 'Seccomp'), '2');
  t.is((await exec(off, 'id -u')).out.trim(), '1000');
  const on = await container({ run_as_user: { value: '1000' }, no_new_privs: true });
  t.is(await status(on, 'NoNewPrivs'), '1');
  t.is(await status(on, 'Seccomp'), '0');
});

it('masked and read-only paths given replace the defaults', async (t) => {
  const id = await container({ masked_paths: ['/etc/secret'], readonly_paths: ['/tmp'] });
  t.is((await exec(id, 'cat /etc/secret | wc -c')).out.trim(), '0');
  const ro = await exec(id, 'touch /tmp/x');
  t.not(ro.code, 0);
  t.is(ro.err, 'touch: /tmp/x: Read-only file system\n');
  t.is((await exec(id, 'grep -c " /proc/keys " /proc/self/mountinfo')).out.trim(), '0', "stage1's default masks are replaced");
  const dflt = await container({});
  t.is((await exec(dflt, 'grep -c " /proc/keys " /proc/self/mountinfo')).out.trim(), '1', 'without lists, the defaults');
  t.is((await exec(dflt, 'cat /etc/secret')).out, 's3cret\n');
});

it('privileged: every capability, no seccomp whatever the profile, no masked or read-only paths', async (t) => {
  const file = profile('no-hostname.json', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['sethostname'], action: 'SCMP_ACT_ERRNO' }] });
  const id = await container({ privileged: true, masked_paths: ['/etc/secret'], seccomp: { profile_type: 'Localhost', localhost_ref: file } });
  t.is(await status(id, 'Seccomp'), '0');
  t.is(await status(id, 'CapEff'), /^CapBnd:\s*(\w+)$/m.exec(await import('node:fs').then((fs) => fs.readFileSync('/proc/self/status', 'utf8')))?.[1]);
  t.is((await exec(id, 'hostname privileged-host && hostname')).out.trim(), 'privileged-host');
  t.is((await exec(id, 'cat /etc/secret')).out, 's3cret\n');
  t.is((await exec(id, 'grep -c " /proc/sys " /proc/self/mountinfo')).out.trim(), '0');
});
