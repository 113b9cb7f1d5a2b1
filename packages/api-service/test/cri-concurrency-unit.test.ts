/**
 * The CRI server's records under concurrent and interrupted calls, without privileges: the
 * sandbox handlers against a scripted rkt (helpers/cri-context.ts) and pods written per
 * on-disk-format.md. A stop queued behind a removal, removals racing each other, a sandbox whose
 * start failed and whose pod cannot be removed, a server that died while a sandbox started,
 * leftovers of cut-short writes and removals, and the keyed locks under random load.
 */
import test from 'ava';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { newPodUUID, podDir } from '@rktnetes/common';
import { hasCode } from '@rktnetes/errors';
import { sandboxKey } from '../src/cri/context';
import { KeyedLocks } from '../src/cri/locks';
import type { PodSandboxConfig } from '../src/cri/messages';
import { listPodSandbox, removePodSandbox, runPodSandbox, stopPodSandbox } from '../src/cri/sandboxes';
import { CriState, newCriId, nowNs, type ContainerRecord, type SandboxRecord } from '../src/cri/state';
import { fakeCriContext, flagValue } from './helpers/cri-context';
import { writePod } from './helpers/pods';

function sandboxRecord(id: string, podUuid: string, name = 'p'): SandboxRecord {
  return {
    version: 1,
    id,
    podUuid,
    metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 },
    labels: {},
    annotations: {},
    runtimeHandler: '',
    createdAt: nowNs(),
    hostname: '',
    logDirectory: '',
    hostNetwork: true,
    portMappings: [],
    dns: null,
  };
}

function containerRecord(id: string, sandboxId: string): ContainerRecord {
  return {
    version: 1,
    id,
    sandboxId,
    podUuid: '',
    appName: `c-${id.slice(0, 8)}`,
    metadata: { name: 'c', attempt: 0 },
    image: { image: 'x', annotations: {}, user_specified_image: '' },
    imageId: 'sha256:x',
    imageKey: 'sha512-x',
    imageRef: 'sha256:x',
    labels: {},
    annotations: {},
    createdAt: nowNs(),
    logPath: '',
    mounts: [],
    memoryLimit: 0,
  };
}

function sandboxConfig(name: string): PodSandboxConfig {
  return { metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 } } as unknown as PodSandboxConfig;
}

test('a stop queued behind a removal neither fails nor brings the sandbox back', async (t) => {
  const { ctx, dataDir } = await fakeCriContext(t);
  const id = newCriId();
  await ctx.state.putSandbox(sandboxRecord(id, ''));
  await ctx.state.putContainer(containerRecord(newCriId(), id));
  let release!: () => void;
  const held = ctx.locks.exclusive(sandboxKey(id), () => new Promise<void>((r) => (release = r)));
  // both find the sandbox, then wait for its lock: the removal first
  const removed = removePodSandbox(ctx, id);
  const stopped = stopPodSandbox(ctx, id);
  await sleep(10);
  release();
  await Promise.all([held, removed, stopped]);
  t.is(ctx.state.findSandbox(id), undefined);
  t.deepEqual(ctx.state.listContainers(), []);
  t.false(existsSync(ctx.state.sandboxDir(id)));
  const reloaded = new CriState(dataDir);
  t.deepEqual(reloaded.listSandboxes(), []);
  t.deepEqual(reloaded.listContainers(), []);
  // an id nobody knows is still NOT_FOUND for a stop, and fine for a removal
  t.true(hasCode(await t.throwsAsync(stopPodSandbox(ctx, id)), 'cri.not-found'));
  await t.notThrowsAsync(removePodSandbox(ctx, id));
});

test('stops and removals of many sandboxes at once: each sandbox once, then none', async (t) => {
  const { ctx, dataDir } = await fakeCriContext(t);
  const ids = Array.from({ length: 16 }, () => newCriId());
  for (const [i, id] of ids.entries()) {
    await ctx.state.putSandbox(sandboxRecord(id, '', `p${i}`));
    for (let k = 0; k < 3; k++) await ctx.state.putContainer(containerRecord(newCriId(), id));
  }
  await Promise.all(ids.map((id) => stopPodSandbox(ctx, id)));
  const listed = listPodSandbox(ctx, null).items;
  t.deepEqual(listed.map((s) => s.id).sort(), [...ids].sort());
  t.true(listed.every((s) => s.state === 'SANDBOX_NOTREADY'));
  t.true(ctx.state.listContainers().every((c) => c.stopRequestedAt !== undefined));
  // stop, remove, stop, remove of each, all at once
  await Promise.all(ids.flatMap((id) => [stopPodSandbox(ctx, id), removePodSandbox(ctx, id), stopPodSandbox(ctx, id).catch(() => undefined), removePodSandbox(ctx, id)]));
  t.deepEqual(listPodSandbox(ctx, null).items, []);
  t.deepEqual(ctx.state.listContainers(), []);
  t.deepEqual(readdirSync(join(ctx.state.root, 'sandboxes')), []);
  t.deepEqual(readdirSync(join(ctx.state.root, 'containers')), []);
  t.deepEqual(readdirSync(ctx.state.tmpDir()), []);
  t.deepEqual(new CriState(dataDir).listSandboxes(), []);
  t.is(ctx.locks.size, 0);
});

test('a record a dead server left without its pod uuid takes it from the uuid file at load', async (t) => {
  const { ctx, dataDir } = await fakeCriContext(t);
  const starting = newCriId();
  const never = newCriId();
  const uuid = newPodUUID();
  await ctx.state.putSandbox(sandboxRecord(starting, '', 'a'));
  await ctx.state.putSandbox(sandboxRecord(never, '', 'b'));
  writeFileSync(join(ctx.state.sandboxDir(starting), 'uuid'), `${uuid}\n`);
  const reloaded = new CriState(dataDir);
  t.is(reloaded.sandbox(starting).podUuid, uuid);
  t.is(reloaded.sandbox(never).podUuid, '');
  t.is(JSON.parse(readFileSync(join(reloaded.sandboxDir(starting), 'sandbox.json'), 'utf8')).podUuid, uuid);
});

test('removing a sandbox whose start was cut short removes the pod named in its uuid file', async (t) => {
  const { ctx, rkt, dataDir } = await fakeCriContext(t, {
    script: (args) => {
      if (args[0] === 'rm') rmSync(podDir(dataDir, 'exited-garbage', args[1]!), { recursive: true, force: true });
      return { code: 0 };
    },
  });
  const id = newCriId();
  const pod = await writePod(dataDir, { state: 'exited-garbage' });
  await ctx.state.putSandbox(sandboxRecord(id, ''));
  writeFileSync(join(ctx.state.sandboxDir(id), 'uuid'), pod.uuid);
  await removePodSandbox(ctx, id);
  t.deepEqual(rkt.calls, [['rm', pod.uuid]]);
  t.false(existsSync(pod.path));
  t.is(ctx.state.findSandbox(id), undefined);
});

test('a failed start whose pod cannot be removed keeps the sandbox, not ready, for RemovePodSandbox', async (t) => {
  let rmWorks = false;
  const uuid = newPodUUID();
  const { ctx, rkt, dataDir } = await fakeCriContext(t, {
    // rkt app sandbox made the pod, then failed
    onSandbox: (args) => writeFileSync(flagValue(args, 'uuid-file-save')!, uuid),
    sandbox: 'console.error("rkt: boom"); process.exit(254)',
    script: (args) => {
      if (args[0] !== 'rm') return { code: 0 };
      if (!rmWorks) return { code: 254, stderr: 'rkt: cannot remove pod: device busy\n' };
      rmSync(podDir(dataDir, 'exited-garbage', args[1]!), { recursive: true, force: true });
      return { code: 0 };
    },
  });
  await writePod(dataDir, { state: 'exited-garbage', uuid });
  const err = await t.throwsAsync(runPodSandbox(ctx, { config: sandboxConfig('p'), runtime_handler: '' }));
  t.true(hasCode(err, 'cri.sandbox-start'));
  t.regex(err!.message, /boom/);
  const [kept, ...others] = ctx.state.listSandboxes();
  t.deepEqual(others, []);
  t.is(kept!.podUuid, uuid);
  t.not(kept!.stoppedAt, undefined);
  t.deepEqual(
    listPodSandbox(ctx, null).items.map((s) => [s.id, s.state]),
    [[kept!.id, 'SANDBOX_NOTREADY']],
  );
  t.true(rkt.calls.some((c) => c[0] === 'rm' && c[1] === uuid));
  // its name stays taken until it is removed
  t.true(hasCode(await t.throwsAsync(runPodSandbox(ctx, { config: sandboxConfig('p'), runtime_handler: '' })), 'cri.already-exists'));
  // the record survives a restart with its pod
  t.is(new CriState(dataDir).sandbox(kept!.id).podUuid, uuid);
  await t.throwsAsync(removePodSandbox(ctx, kept!.id));
  t.truthy(ctx.state.findSandbox(kept!.id));
  rmWorks = true;
  await removePodSandbox(ctx, kept!.id);
  t.deepEqual(ctx.state.listSandboxes(), []);
  t.false(existsSync(podDir(dataDir, 'exited-garbage', uuid)));
});

test('a failed start whose pod is gone forgets the sandbox and frees its name', async (t) => {
  const { ctx } = await fakeCriContext(t, { onSandbox: (args) => writeFileSync(flagValue(args, 'uuid-file-save')!, newPodUUID()) });
  for (let i = 0; i < 2; i++) {
    t.true(hasCode(await t.throwsAsync(runPodSandbox(ctx, { config: sandboxConfig('p'), runtime_handler: '' })), 'cri.sandbox-start'));
    t.deepEqual(ctx.state.listSandboxes(), []);
  }
  t.deepEqual(readdirSync(join(ctx.state.root, 'sandboxes')), []);
  t.is(ctx.reserved.size, 0);
});

test('a second RunPodSandbox with the name of one starting is ALREADY_EXISTS, other names are not held up', async (t) => {
  // the fake pods fail after 2 s: time enough, even on a loaded machine, to see both starting
  const { ctx } = await fakeCriContext(t, { sandbox: 'setTimeout(() => process.exit(1), 2000)' });
  const first = runPodSandbox(ctx, { config: sandboxConfig('p'), runtime_handler: '' });
  const second = runPodSandbox(ctx, { config: sandboxConfig('p'), runtime_handler: '' });
  const other = runPodSandbox(ctx, { config: sandboxConfig('q'), runtime_handler: '' });
  t.true(hasCode(await t.throwsAsync(second), 'cri.already-exists'));
  // both starting at once (one lock each), both failing on their own
  for (let i = 0; i < 150 && ctx.state.listSandboxes().length < 2; i++) await sleep(10);
  t.is(ctx.state.listSandboxes().length, 2);
  t.true(hasCode(await t.throwsAsync(first), 'cri.sandbox-start'));
  t.true(hasCode(await t.throwsAsync(other), 'cri.sandbox-start'));
  t.is(ctx.reserved.size, 0);
});

test('what cut-short removals and writes left is deleted at load; a directory with a pod uuid is kept', async (t) => {
  const { ctx, dataDir } = await fakeCriContext(t);
  const live = newCriId();
  await ctx.state.putSandbox(sandboxRecord(live, ''));
  const aside = join(ctx.state.tmpDir(), `removed-sandbox-${newCriId()}-0000`);
  mkdirSync(aside);
  writeFileSync(join(aside, 'supervisor.log'), 'x');
  const empty = ctx.state.sandboxDir(newCriId());
  mkdirSync(empty);
  const withPod = ctx.state.sandboxDir(newCriId());
  mkdirSync(withPod);
  writeFileSync(join(withPod, 'uuid'), newPodUUID());
  const tmpRecord = join(ctx.state.sandboxDir(live), '.sandbox.json.tmp-1-abcd');
  writeFileSync(tmpRecord, '{');
  const tmpContainer = join(ctx.state.root, 'containers', `.${newCriId()}.json.tmp-1-abcd`);
  writeFileSync(tmpContainer, '{');
  const reloaded = new CriState(dataDir);
  t.deepEqual(
    reloaded.listSandboxes().map((s) => s.id),
    [live],
  );
  for (const p of [aside, empty, tmpRecord, tmpContainer]) t.false(existsSync(p), p);
  t.true(existsSync(withPod));
});

test('keyed locks under random load: a writer overlaps nobody, readers of a key share, everyone runs', async (t) => {
  const locks = new KeyedLocks();
  const active = new Map<string, { readers: number; writer: boolean }>();
  let maxReaders = 0;
  let done = 0;
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const op = async (key: string, exclusive: boolean) => {
    const body = async () => {
      const a = active.get(key) ?? { readers: 0, writer: false };
      active.set(key, a);
      t.false(a.writer, `${key}: a writer is in`);
      if (exclusive) t.is(a.readers, 0, `${key}: readers are in`);
      if (exclusive) a.writer = true;
      else maxReaders = Math.max(maxReaders, ++a.readers);
      await sleep(random() * 3);
      if (exclusive) a.writer = false;
      else a.readers--;
      done++;
    };
    return exclusive ? locks.exclusive(key, body) : locks.shared(key, body);
  };
  const ops: Array<Promise<void>> = [];
  for (let i = 0; i < 600; i++) {
    ops.push(op(`k${Math.floor(random() * 4)}`, random() < 0.3));
    if (random() < 0.2) await sleep(0);
  }
  await Promise.all(ops);
  t.is(done, 600);
  t.true(maxReaders > 1);
  t.is(locks.size, 0);
});
