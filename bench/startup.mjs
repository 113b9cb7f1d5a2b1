#!/usr/bin/env node
// Start-up cost of the rkt executable next to a bare Node start, in one run.
// Usage: node bench/startup.mjs [runs]   (build first: npm run build)
import { timeCommand, fmt, ratio, table } from './lib.mjs';

const runs = Number(process.argv[2] ?? 30);
const rkt = new URL('../packages/stage0/dist/rkt.mjs', import.meta.url).pathname;
const withCa = { ...process.env };
const noCa = { ...process.env };
delete noCa.NODE_EXTRA_CA_CERTS;

const cases = [
  ['node -e 0', process.execPath, ['-e', '0']],
  ['rkt version', rkt, ['version']],
  ['rkt help', rkt, ['help']],
];
const rows = [];
for (const [envName, env] of [['with NODE_EXTRA_CA_CERTS', withCa], ['without NODE_EXTRA_CA_CERTS', noCa]]) {
  if (env === withCa && !process.env.NODE_EXTRA_CA_CERTS) continue;
  const base = timeCommand(process.execPath, ['-e', '0'], { runs, env });
  for (const [name, cmd, args] of cases) {
    const r = timeCommand(cmd, args, { runs, env });
    rows.push([name, envName, fmt(r.median), fmt(r.p90), ratio(r.median, base.median)]);
  }
}
console.log(`runs per case: ${runs}; ratio = median / median of \`node -e 0\` in the same environment\n`);
console.log(table(rows, ['command', 'environment', 'median', 'p90', 'vs node -e 0']));
