#!/usr/bin/env node
// Disk density: what a pod of an image already in use costs on disk, and whether the sizes
// `rkt image list` reports match the store's disk usage when images have several trees.
// Usage (root; build stage0 and stage1-coreos first): node bench/scale-disk.mjs
//
// 1. Two pods of one image (running `sleep 3600`, overlay, the default): the pod directories are
//    measured with `du -x` (the overlay mounts are other filesystems, so only what the pod itself
//    wrote counts: its files and the upper/work dirs), and the store before and after the second
//    pod. A pod prepared with --no-overlay, which copies the image, is the contrast.
// 2. Images with several trees: an app image that depends on a base image by name, rendered with
//    base v1, then again after base v2 is imported (a new dependency tree: a second tree of the
//    same image), plus the base and the stage1. Each image's reported SIZE is compared with its
//    blob file plus the files of every tree that renders it (apparent bytes), and the sum with the
//    store's disk usage.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import {
  RKT, STAGE1_COREOS, check, duKb, fmtKb, isRoot, leftovers, pass, requireBuilt, runAsync, runOnce, table, workspace, writeAci, writeBusyboxAci,
} from './lib.mjs';

requireBuilt(RKT, STAGE1_COREOS);
if (!isRoot()) throw new Error('run as root');
const ws = workspace('disk');
// --pull-policy=new: dependencies already in the store are used, never discovered over the network
const fetchId = (file) => check(ws.rkt(['fetch', '--pull-policy=new', '--insecure-options=image', file]), `rkt fetch ${file}`).stdout.trim().split('\n').pop();
const s1 = `--stage1-hash=${fetchId(STAGE1_COREOS)}`;

/**
 * Apparent bytes of the regular files of a tree dir, each inode once, leaving out its metadata
 * files (hash, image, size): what the store counts as the tree's size.
 */
function treeFileBytes(dir) {
  const r = runOnce('find', [dir, '-type', 'f', '-not', '-path', `${dir}/hash`, '-not', '-path', `${dir}/image`, '-not', '-path', `${dir}/size`, '-printf', '%i %s\\n']);
  const seen = new Map(r.stdout.split('\n').filter(Boolean).map((l) => l.split(' ')));
  return [...seen.values()].reduce((a, n) => a + Number(n), 0);
}

/** Waits until a pod's pid file exists (the app runs). */
async function waitRunning(uuidFile) {
  for (let i = 0; i < 600; i++) {
    if (existsSync(uuidFile)) {
      const uuid = readFileSync(uuidFile, 'utf8').trim();
      if (uuid && existsSync(join(ws.dataDir, 'pods', 'run', uuid, 'pid'))) return uuid;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`pod of ${uuidFile} did not start`);
}

const rows1 = [];
const rows2 = [];
const running = [];
try {
  // ------------------------------------------------------------------ pods of one image
  const image = fetchId(writeBusyboxAci(join(ws.dir, 'sleep.aci'), { name: 'example.com/bench-sleep', exec: ['/bin/sleep', '3600'], extra: { 'opt/data.bin': Buffer.alloc(8 << 20, 7) } }));
  const imageKb = duKb(join(ws.dir, 'sleep.aci'));
  const cas = join(ws.dataDir, 'cas');
  const pods = [];
  const casBefore = [duKb(cas)];
  for (const [i, extra] of [[0, []], [1, []], [2, ['--no-overlay']]]) {
    const uuidFile = join(ws.dir, `uuid-${i}`);
    running.push(runAsync(process.execPath, ws.argv(['run', '--net=none', s1, `--uuid-file-save=${uuidFile}`, ...extra, image])));
    const uuid = await waitRunning(uuidFile);
    const pod = join(ws.dataDir, 'pods', 'run', uuid);
    const uppers = !existsSync(join(pod, 'overlay')) ? [] : readdirSync(join(pod, 'overlay'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(pod, 'overlay', d.name));
    pods.push({ uuid, pod, extra, podKb: duKb(`-x`, pod), upperKb: uppers.length ? duKb('-x', ...uppers) : 0, casKb: duKb(cas) });
    casBefore.push(pods[pods.length - 1].casKb);
  }
  const [a, b, c] = pods;
  rows1.push(['first pod (overlay)', fmtKb(a.podKb), fmtKb(a.upperKb), fmtKb(a.casKb - casBefore[0]), '']);
  rows1.push(['second pod, same image (overlay)', fmtKb(b.podKb), fmtKb(b.upperKb), fmtKb(b.casKb - a.casKb), pass(b.casKb - a.casKb <= 4 && b.podKb < imageKb / 10)]);
  rows1.push(['third pod, same image, --no-overlay (copies)', fmtKb(c.podKb), fmtKb(c.upperKb), fmtKb(c.casKb - b.casKb), '']);
  for (const p of pods) check(ws.rkt(['stop', p.uuid]), 'rkt stop');
  await Promise.all(running);

  // ------------------------------------------------------------------ several trees per image
  const base = (v, filler) => writeAci(join(ws.dir, `base-${v}.aci`), {
    manifest: { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/bench-base', labels: [{ name: 'version', value: String(v) }, { name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }] },
    files: { 'bin/busybox': { content: readFileSync('/bin/busybox'), mode: 0o755 }, 'etc/passwd': 'root:x:0:0:root:/:/bin/sh\n', 'etc/group': 'root:x:0:\n', 'opt/base.bin': Buffer.alloc(filler, 1) },
  });
  const app = writeAci(join(ws.dir, 'app.aci'), {
    manifest: {
      acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/bench-app', labels: [{ name: 'version', value: '1' }, { name: 'os', value: 'linux' }, { name: 'arch', value: 'amd64' }],
      app: { exec: ['/bin/busybox', 'true'], user: '0', group: '0' },
      dependencies: [{ imageName: 'example.com/bench-base' }],
    },
    files: { 'opt/app.bin': Buffer.alloc(3 << 20, 2) },
  });
  fetchId(base(1, 1 << 20));
  const appId = fetchId(app);
  check(ws.rkt(['run', '--net=none', s1, appId]), 'rkt run app (base v1)');
  fetchId(base(2, 2 << 20));
  const second = ws.rkt(['run', '--net=none', s1, appId]);
  check(second, 'rkt run app (base v2)');
  check(ws.rkt(['gc', '--grace-period=0s']), 'rkt gc');

  const listed = JSON.parse(check(ws.rkt(['image', 'list', '--format=json']), 'rkt image list').stdout);
  const trees = readdirSync(join(cas, 'tree')).map((id) => ({ id, key: readFileSync(join(cas, 'tree', id, 'image'), 'utf8').trim(), bytes: treeFileBytes(join(cas, 'tree', id)) }));
  const blobBytes = (key) => {
    const hex = key.replace(/^sha512-/, '');
    const dir = join(cas, 'blob', 'sha512', hex.slice(0, 2));
    const f = existsSync(dir) ? readdirSync(dir).find((n) => n.startsWith(`sha512-${hex}`) || n.startsWith(hex)) : undefined;
    return f ? statSync(join(dir, f)).size : NaN;
  };
  let sumReported = 0;
  for (const img of listed) {
    const mine = trees.filter((t) => t.key === img.id);
    const actual = blobBytes(img.id) + mine.reduce((x, t) => x + t.bytes, 0);
    sumReported += img.size;
    const diff = img.size - actual;
    rows2.push([img.name, String(mine.length), img.size.toLocaleString('en-US'), actual.toLocaleString('en-US'), `${diff >= 0 ? '+' : ''}${diff.toLocaleString('en-US')}`, pass(Math.abs(diff) <= 0.01 * actual)]);
  }
  const casTotal = runOnce('du', ['-sb', '--apparent-size', cas]).stdout.split(/\s/)[0];
  rows2.push(['all images', String(trees.length), sumReported.toLocaleString('en-US'), `${Number(casTotal).toLocaleString('en-US')} (du -sb of cas/)`, '', '']);
} finally {
  for (const p of readdirSync(join(ws.dataDir, 'pods', 'run'))) ws.rkt(['stop', '--force', p]);
  await Promise.all(running);
  ws.rkt(['gc', '--grace-period=0s']);
}

console.log(`## disk: pods of one image\n\nimage: busybox + an 8 MiB file (${fmtKb(duKb(join(ws.dir, 'sleep.aci')))} ACI); \`du -skx\` of the pod directory (the overlay mounts are not counted: they are other filesystems), of its overlay upper/work dirs, and growth of the store (cas/); load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
console.log(table(rows1, ['pod', 'pod dir (du -x)', 'upper + work dirs', 'store growth', 'no image bytes copied']));
console.log('\n## disk: image sizes with several trees per image\n\nreported = `rkt image list --format=json` size; actual = the blob file plus the files (apparent bytes, each inode once, without the hash/image/size metadata) of every tree whose `image` file names the image\n');
console.log(table(rows2, ['image', 'trees', 'reported bytes', 'actual bytes', 'reported − actual', 'within 1%']));
const left = leftovers({ dataDir: ws.dataDir });
if (left.length) console.error(`leftovers:\n${left.join('\n')}`);
else ws.cleanup();
