/**
 * Hostile manifests: every broken image manifest of `invalidImageManifests()` inside an ACI
 * given to `rkt fetch`, every broken pod manifest of `invalidPodManifests()` given to
 * `rkt run --pod-manifest`, and pod manifests that are well formed but reference images or
 * volumes that do not exist, or files that are not manifests. Each must be refused with status
 * 254 and one line naming the file (or image) and the reason, nothing written, the store
 * unchanged and the bystander pods intact (helpers/corpus.ts).
 */
import test from 'ava';
import { invalidImageManifests, invalidPodManifests, fakeImageID, serializePodManifest, podManifest } from '@rktnetes/schema';
import { buildAci } from '@rktnetes/testkit';
import { createHarness, runCorpus, type Harness, type HostileCase } from './helpers/corpus';
import { waitForBundles } from './helpers/env';

const slug = (s: string) => s.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();
const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const imageCases: HostileCase[] = invalidImageManifests().map((c, i) => {
  const file = `im${String(i).padStart(2, '0')}-${slug(c.name)}.aci`;
  return {
    name: `image manifest: ${c.name} (${c.path || 'root'})`,
    async prepare(h) {
      const aci = await buildAci({ manifest: JSON.stringify(c.manifest), files: { 'bin/true': 'x' } });
      return ['fetch', '--insecure-options=image', h.env.input(file, aci)];
    },
    expect: new RegExp(`${re(file)}.*manifest`),
  };
});

/** The stage1 flag: the fly image, fetched by the harness (not started: the pods never get that far). */
const stage1 = (h: Harness) => `--stage1-hash=${h.env.stage1.fly}`;

const podCases: HostileCase[] = invalidPodManifests().map((c, i) => {
  const file = `pm${String(i).padStart(2, '0')}-${slug(c.name)}.json`;
  return {
    name: `pod manifest: ${c.name} (${c.path || 'root'})`,
    prepare: (h) => ['run', stage1(h), '--net=host', `--pod-manifest=${h.env.input(file, JSON.stringify(c.manifest))}`],
    expect: new RegExp(`${re(file)}.*${re(c.path.split(/[.[]/)[0] ?? '')}`),
  };
});

/** A valid pod manifest of one app running the harness's base image. */
const onePod = (h: Harness, extra: Record<string, unknown> = {}) => ({
  ...podManifest({ apps: [{ name: 'app', image: { name: 'example.com/fault-base', id: h.base } }] }),
  ...extra,
});

const podFileCases: HostileCase[] = [
  {
    name: 'pod manifest naming an image that is not in the store',
    prepare: (h) => ['run', stage1(h), `--pod-manifest=${h.env.input('missing-image.json', JSON.stringify(podManifest({ apps: [{ name: 'a', image: { name: 'example.com/nowhere', id: fakeImageID('nowhere') } }] })))}`],
    expect: new RegExp(`${re(fakeImageID('nowhere'))}.*not found|not found.*${re(fakeImageID('nowhere'))}`),
  },
  {
    name: 'pod manifest naming a second, missing image after a present one',
    prepare: (h) => {
      const m = onePod(h);
      m.apps.push({ name: 'b', image: { name: 'example.com/nowhere', id: fakeImageID('second') } } as (typeof m.apps)[number]);
      return ['run', stage1(h), `--pod-manifest=${h.env.input('missing-second.json', JSON.stringify(m))}`];
    },
    expect: new RegExp(`${re(fakeImageID('second'))}.*not found`),
  },
  {
    name: 'pod manifest mounting a volume it does not declare',
    prepare: (h) => {
      const m = onePod(h) as Record<string, any>;
      m.apps[0].mounts = [{ volume: 'ghost', path: '/data' }];
      return ['run', stage1(h), `--pod-manifest=${h.env.input('missing-volume.json', JSON.stringify(m))}`];
    },
    expect: /missing-volume\.json.*ghost/,
  },
  {
    name: 'pod manifest with a host volume whose source does not exist',
    prepare: (h) => {
      const m = onePod(h) as Record<string, any>;
      m.apps[0].mounts = [{ volume: 'data', path: '/data' }];
      m.volumes = [{ name: 'data', kind: 'host', source: `/nonexistent/${h.token}` }];
      return ['run', stage1(h), '--net=host', `--pod-manifest=${h.env.input('missing-source.json', JSON.stringify(m))}`];
    },
    expect: /volume "?data"?.*\/nonexistent\/rktfault-escape-[0-9a-f]+|\/nonexistent\/rktfault-escape-[0-9a-f]+.*(does not exist|no such)/,
  },
  {
    name: 'pod manifest file that does not exist',
    prepare: (h) => ['run', stage1(h), `--pod-manifest=${h.env.inputs}/no-such-manifest.json`],
    expect: /no-such-manifest\.json/,
  },
  {
    name: 'pod manifest that is a directory',
    prepare: (h) => ['run', stage1(h), `--pod-manifest=${h.env.inputs}`],
    expect: new RegExp(`pod manifest.*inputs|inputs.*pod manifest`),
  },
  {
    name: 'pod manifest that is empty',
    prepare: (h) => ['run', stage1(h), `--pod-manifest=${h.env.input('empty.json', '')}`],
    expect: /empty\.json/,
  },
  {
    name: 'pod manifest of binary garbage',
    prepare: (h) => ['run', stage1(h), `--pod-manifest=${h.env.input('garbage.json', Buffer.from([0x7b, 0, 0xff, 0xfe, 1, 2]))}`],
    expect: /garbage\.json/,
  },
  {
    name: 'pod manifest nested 100000 levels deep',
    prepare: (h) => ['run', stage1(h), `--pod-manifest=${h.env.input('deep.json', '['.repeat(100_000) + ']'.repeat(100_000))}`],
    expect: /deep\.json/,
  },
  {
    name: 'image manifest given as a pod manifest',
    prepare: (h) => ['run', stage1(h), `--pod-manifest=${h.env.input('image-as-pod.json', JSON.stringify({ acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/x' }))}`],
    expect: /image-as-pod\.json.*acKind/,
  },
  {
    name: 'pod manifest with an app image given by name only',
    prepare: (h) => ['run', stage1(h), `--pod-manifest=${h.env.input('no-id.json', JSON.stringify({ acKind: 'PodManifest', acVersion: '0.8.11', apps: [{ name: 'a', image: { name: 'example.com/fault-base' } }] }))}`],
    expect: /no-id\.json.*id/,
  },
  {
    name: 'pod manifest mixed with image arguments',
    prepare: (h) => ['run', stage1(h), `--pod-manifest=${h.env.input('mixed.json', serializePodManifest(podManifest({ apps: [{ name: 'app', image: { name: 'example.com/fault-base', id: h.base } }] })))}`, h.base],
    expect: /conflicting flags.*--pod-manifest/,
  },
];

let harness: Harness | undefined;
test.before(async () => {
  if (await waitForBundles(['coreos', 'fly'])) harness = await createHarness('manifests');
});
test.after.always(() => harness?.env.dispose());

const groups: Array<[string, HostileCase[]]> = [
  ['broken image manifests (invalidImageManifests)', imageCases],
  ['broken pod manifests (invalidPodManifests)', podCases],
  ['pod manifests referencing what does not exist', podFileCases],
];
for (const [title, cases] of groups) {
  test.serial(`hostile manifests, ${title}, ${cases.length} cases: refused in one line, nothing written, store and bystanders unchanged`, async (t) => {
    if (!harness) return t.fail('packages/stage0/dist/rkt.mjs is not built');
    t.timeout(180_000);
    await runCorpus(t, harness, title, cases);
  });
}
