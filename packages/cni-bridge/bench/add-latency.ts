/**
 * ADD and DEL latency of the bundled plugin against Debian's reference bridge plugin, same
 * config (isDefaultGateway, ipMasq, host-local), median of N runs each, measured from spawn to
 * exit inside a private host namespace. Needs root; build first (`npm run build` in the package).
 *
 *   cd /work/main && node --import tsx packages/cni-bridge/bench/add-latency.ts [N]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sandbox, bridgeConf, cniEnv } from '../test/helpers/sandbox';

const runs = Number(process.argv[2] ?? 20);
const bundle = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cni-bridge.mjs');
if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run npm run build in packages/cni-bridge first`);

type Variant = { label: string; argv: string[] };
const variants: Variant[] = [
  { label: 'debian /usr/lib/cni/bridge', argv: ['/usr/lib/cni/bridge'] },
  // exec'd as a runtime does: the shebang starts node without NODE_EXTRA_CA_CERTS
  { label: 'cni-bridge (dist, exec)', argv: [bundle] },
  { label: 'cni-bridge (node dist, CA bundle parsed)', argv: [process.execPath, bundle] },
  { label: 'cni-bridge, work inside the process', argv: [bundle, '--debug'] },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Spawn-to-exit time, or with --debug the plugin's own `took N ms` (its work without Node's start). */
function timed(s: Sandbox, v: Variant, command: string, conf: unknown, netns: string, id: string): number {
  const env = { ...process.env, ...cniEnv(command, { containerId: id, netns, ifName: 'eth0' }) };
  const t0 = process.hrtime.bigint();
  const r = spawnSync('nsenter', [`--net=${s.hostPath}`, '--', ...v.argv], { input: JSON.stringify(conf), env });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${v.label} ${command} failed: ${String(r.stdout)} ${String(r.stderr)}`);
  const inner = / took ([\d.]+) ms/.exec(String(r.stderr));
  return v.argv.includes('--debug') && inner ? Number(inner[1]) : ms;
}

const s = await new Sandbox().open();
try {
  const conf = bridgeConf(s, { isDefaultGateway: true, ipMasq: true });
  // what every run pays before the plugin does anything
  for (const [label, argv] of [
    ['nsenter + /bin/true', ['/bin/true']],
    ['nsenter + node -e 0', [process.execPath, '-e', '0']],
  ] as const) {
    const base: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      spawnSync('nsenter', [`--net=${s.hostPath}`, '--', ...argv]);
      base.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    console.log(`${label}: median ${median(base).toFixed(1)} ms`);
  }
  for (const v of variants) {
    const add: number[] = [];
    const del: number[] = [];
    for (let i = 0; i < runs + 1; i++) {
      const netns = await s.container(`${variants.indexOf(v)}-${i}`);
      const a = timed(s, v, 'ADD', conf, netns, `bench-${i}`);
      const d = timed(s, v, 'DEL', conf, netns, `bench-${i}`);
      await s.removeContainer(netns);
      // the first run creates the bridge and warms caches
      if (i > 0) {
        add.push(a);
        del.push(d);
      }
    }
    console.log(`${v.label}: ADD median ${median(add).toFixed(1)} ms (min ${Math.min(...add).toFixed(1)}), DEL median ${median(del).toFixed(1)} ms`);
  }
} finally {
  await s.close();
}
