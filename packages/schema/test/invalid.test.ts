import test from 'ava';
import { hasCode, isRktError } from '@rktnetes/errors';
import {
  invalidImageManifests,
  invalidPodManifests,
  parseImageManifest,
  parsePodManifest,
  validateImageManifest,
  validatePodManifest,
} from '@rktnetes/schema';

const imageCases = invalidImageManifests();
const podCases = invalidPodManifests();

test('the tables are substantial and their names unique', (t) => {
  t.true(imageCases.length >= 40);
  t.true(podCases.length >= 25);
  t.is(new Set(imageCases.map((c) => c.name)).size, imageCases.length);
  t.is(new Set(podCases.map((c) => c.name)).size, podCases.length);
});

for (const c of imageCases) {
  test(`image manifest: ${c.name} -> ${c.path || '(root)'}`, (t) => {
    const issues = validateImageManifest(c.manifest);
    t.deepEqual(
      issues.map((i) => i.path),
      [c.path],
      JSON.stringify(issues),
    );
    const e = t.throws(() => parseImageManifest(c.manifest));
    t.true(hasCode(e, 'schema.invalid'));
    const prefix = c.path === '' ? 'invalid image manifest: ' : `invalid image manifest: ${c.path}: `;
    t.true(e?.message.startsWith(prefix), e?.message);
    // the same document as JSON text fails the same way
    if (c.manifest !== undefined) {
      const e2 = t.throws(() => parseImageManifest(JSON.stringify(c.manifest)));
      t.is(e2?.message, e?.message);
    }
  });
}

for (const c of podCases) {
  test(`pod manifest: ${c.name} -> ${c.path || '(root)'}`, (t) => {
    const issues = validatePodManifest(c.manifest);
    t.deepEqual(
      issues.map((i) => i.path),
      [c.path],
      JSON.stringify(issues),
    );
    const e = t.throws(() => parsePodManifest(c.manifest));
    t.true(isRktError(e) && e.kind === 'user' && e.code === 'schema.invalid');
    t.true(e?.message.startsWith(c.path === '' ? 'invalid pod manifest: ' : `invalid pod manifest: ${c.path}: `), e?.message);
  });
}

test('every case is a fresh copy', (t) => {
  const a = invalidImageManifests()[2]?.manifest as Record<string, unknown>;
  a['acKind'] = 'changed';
  t.not((invalidImageManifests()[2]?.manifest as Record<string, unknown>)['acKind'], 'changed');
});
