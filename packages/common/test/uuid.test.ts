import test from 'ava';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasCode } from '@rktnetes/errors';
import {
  ensurePodsDirs,
  formatUUIDv4,
  randomBytes16,
  isCanonicalUUID,
  isValidUUID,
  newPodUUID,
  normalizeUUID,
  podDir,
  readUUIDFile,
  resolvePodUUID,
  writeUUIDFile,
} from '@rktnetes/common';
import { tempDir } from './helpers';

test('new uuids are canonical random v4 uuids', (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const u = newPodUUID();
    t.true(isCanonicalUUID(u));
    t.regex(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    seen.add(u);
  }
  t.is(seen.size, 50);
});

test('a v4 uuid keeps its random bits and sets the version and variant bits', (t) => {
  t.is(formatUUIDv4(new Uint8Array(16).fill(0xff)), 'ffffffff-ffff-4fff-bfff-ffffffffffff');
  t.is(formatUUIDv4(new Uint8Array(16)), '00000000-0000-4000-8000-000000000000');
  const bytes = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
  t.is(formatUUIDv4(bytes), '00112233-4455-4677-8899-aabbccddeeff');
  t.is(bytes[6], 0x66, 'the bytes given are left alone');
  t.throws(() => formatUUIDv4(new Uint8Array(15)), { instanceOf: RangeError });
});

test('random bytes come from the device, or from node:crypto without it', async (t) => {
  const dir = await tempDir(t);
  const a = randomBytes16();
  t.is(a.length, 16);
  t.notDeepEqual(a, randomBytes16());
  const fixed = join(dir, 'fixed');
  await writeFile(fixed, Buffer.alloc(16, 7));
  t.deepEqual(randomBytes16(fixed), Buffer.alloc(16, 7));
  const short = join(dir, 'short');
  await writeFile(short, Buffer.alloc(3, 7));
  t.notDeepEqual(randomBytes16(short), randomBytes16(short), 'a device that ends early: node:crypto');
  t.is(randomBytes16(join(dir, 'missing')).length, 16);
  t.notDeepEqual(randomBytes16(join(dir, 'missing')), randomBytes16(join(dir, 'missing')));
});

test('validation accepts what appc accepts', (t) => {
  t.true(isValidUUID('6733C088-A507-4694-AABF-EDBE4FC5266F'));
  t.true(isValidUUID('6733C088A5074694AABFEDBE4FC5266F'));
  t.false(isValidUUID('6733C088-A507-4694-AABF-EDBE4FC5266'));
  t.false(isValidUUID('not-a-uuid'));
  t.false(isValidUUID('00000000-0000-0000-0000-000000000000'));
  t.false(isValidUUID('6733c088-a5074694-aabf-edbe4fc5266f'));
  t.is(normalizeUUID('6733C088A5074694AABFEDBE4FC5266F'), '6733c088-a507-4694-aabf-edbe4fc5266f');
  t.true(hasCode(t.throws(() => normalizeUUID('x')), 'uuid.invalid'));
  t.false(isCanonicalUUID('6733C088-A507-4694-AABF-EDBE4FC5266F'));
});

const A = 'aaaa1111-0000-4000-8000-000000000001';
const B = 'aaaa2222-0000-4000-8000-000000000002';
const C = 'cccc3333-0000-4000-8000-000000000003';
const G = 'dddd4444-0000-4000-8000-000000000004';

async function fixture(t: Parameters<typeof tempDir>[0]) {
  const data = await tempDir(t);
  await ensurePodsDirs(data);
  await mkdir(podDir(data, 'run', A));
  await mkdir(podDir(data, 'prepared', B));
  await mkdir(podDir(data, 'exited-garbage', C));
  await mkdir(podDir(data, 'garbage', G));
  await writeFile(join(data, 'pods', 'run', 'not-a-pod'), '');
  return data;
}

test('a unique prefix resolves, any case, and a dashless full uuid too', async (t) => {
  const data = await fixture(t);
  t.deepEqual(await resolvePodUUID(data, 'aaaa1'), { uuid: A, state: 'run', path: podDir(data, 'run', A) });
  t.is((await resolvePodUUID(data, 'AAAA2')).state, 'prepared');
  t.is((await resolvePodUUID(data, 'cccc')).uuid, C);
  t.is((await resolvePodUUID(data, A.replace(/-/g, ''))).uuid, A);
  t.is((await resolvePodUUID(data, ` ${A} `)).uuid, A);
});

test('ambiguous, unknown and empty prefixes are errors', async (t) => {
  const data = await fixture(t);
  const amb = await t.throwsAsync(resolvePodUUID(data, 'aaaa'));
  t.true(hasCode(amb, 'pod.ambiguous'));
  t.deepEqual((amb as { details?: { matches?: string[] } }).details?.matches, [A, B]);
  t.true(hasCode(await t.throwsAsync(resolvePodUUID(data, 'ffff')), 'pod.not-found'));
  t.true(hasCode(await t.throwsAsync(resolvePodUUID(data, '  ')), 'uuid.empty'));
});

test('garbage and embryo pods are not resolved unless asked for', async (t) => {
  const data = await fixture(t);
  t.true(hasCode(await t.throwsAsync(resolvePodUUID(data, 'dddd')), 'pod.not-found'));
  t.is((await resolvePodUUID(data, 'dddd', ['garbage'])).uuid, G);
});

test('a missing pods tree resolves nothing', async (t) => {
  const data = await tempDir(t);
  t.true(hasCode(await t.throwsAsync(resolvePodUUID(data, 'a')), 'pod.not-found'));
});

test('uuid files: written canonical without newline, read trimmed', async (t) => {
  const dir = await tempDir(t);
  const f = join(dir, 'uuid');
  await writeUUIDFile(f, A.toUpperCase());
  t.is(await readFile(f, 'utf8'), A);
  await writeFile(f, `  ${A}\n`);
  t.is(await readUUIDFile(f), A);
  await writeFile(f, 'aaaa1\n');
  t.is(await readUUIDFile(f), 'aaaa1');
  await writeFile(f, '\n');
  t.true(hasCode(await t.throwsAsync(readUUIDFile(f)), 'uuid-file.empty'));
  t.true(hasCode(await t.throwsAsync(readUUIDFile(join(dir, 'missing'))), 'uuid-file.read'));
});
