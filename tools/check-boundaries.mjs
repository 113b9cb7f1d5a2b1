#!/usr/bin/env node
// Module-boundary lint over the Nx project graph: a project tagged type:bin may depend only on
// projects tagged type:lib, and a type:lib never depends on a type:bin. Any import of another
// workspace package that breaks this is an error naming both projects and the file.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const projects = new Map();
for (const dir of readdirSync(join(root, 'packages'))) {
  const pj = JSON.parse(readFileSync(join(root, 'packages', dir, 'project.json'), 'utf8'));
  const pk = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'));
  projects.set(pk.name, { dir, name: pj.name, tags: pj.tags ?? [] });
}
const walk = (d) =>
  readdirSync(d).flatMap((f) => {
    const p = join(d, f);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
const importRe = /(?:from\s+|import\s*\(\s*|import\s+)['"](@rktnetes\/[a-z0-9-]+)/g;
let errors = 0;
for (const [, proj] of projects) {
  const isBin = proj.tags.includes('type:bin');
  for (const file of walk(join(root, 'packages', proj.dir, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(importRe)) {
      const dep = projects.get(m[1]);
      if (!dep) { console.error(`${file}: unknown workspace package ${m[1]}`); errors++; continue; }
      if (dep.tags.includes('type:bin')) {
        console.error(`${file.slice(root.length)}: ${proj.name} (${isBin ? 'type:bin' : 'type:lib'}) may not import the executable ${dep.name} (type:bin); share code through a type:lib package`);
        errors++;
      }
    }
  }
}
if (errors) { console.error(`module boundaries: ${errors} violation(s)`); process.exit(1); }
console.log(`module boundaries: ${projects.size} projects ok`);
