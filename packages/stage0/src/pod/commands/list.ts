/**
 * `rkt list`: a table of pods (UUID APP IMAGE NAME STATE CREATED STARTED NETWORKS, one line per
 * app, pod columns on the first line of each pod), or the v1 API objects with
 * `--format=json|json-pretty`.
 */
import { POD_DIR_STATES_VISIBLE, listPods } from '@rktnetes/common';
import { oneLine } from '@rktnetes/errors';
import type { Context } from '../../cli/context';
import { formatExactTime, humanizeTime, layoutCells, renderJSONOutput, shortenID, writeStdout, type OutputFormat } from '../../output/index';
import { apiPod, describePod, formatNetworks, podStatus, type PodDescription } from '../info';
import { podSys } from '../lock';

export interface ListOptions {
  full: boolean;
  noLegend: boolean;
  format: OutputFormat;
}

/** Every visible pod, described, in uuid order. */
export async function describePods(ctx: Context): Promise<PodDescription[]> {
  const sys = podSys();
  const out: PodDescription[] = [];
  for (const loc of await listPods(ctx.dataDir, POD_DIR_STATES_VISIBLE)) {
    const st = await podStatus(ctx.dataDir, loc, sys);
    if (!st || st.state === 'embryo' || st.state === 'garbage' || st.state === 'deleting') continue;
    out.push(await describePod(st));
  }
  return out;
}

/** The table rows of one pod: one per app, pod columns only on the first. */
function rows(d: PodDescription, full: boolean, now: Date): string[][] {
  const time = (t: Date | undefined) => (t === undefined ? '' : full ? formatExactTime(t) : humanizeTime(t, now));
  let uuid = full ? d.uuid : d.uuid.slice(0, 8);
  let state: string = d.state;
  let nets = formatNetworks(d.networks);
  let created = time(d.created);
  let started = time(d.started);
  const line = (app: string, image: string, id: string) => {
    const r = full ? [uuid, app, image, id, state, created, started, nets] : [uuid, app, image, state, created, started, nets];
    uuid = state = nets = created = started = '';
    return r;
  };
  if (d.apps.length === 0) return [line('-', '-', '-')];
  return d.apps.map((a) => line(a.name, a.imageName, shortenID(a.imageId)));
}

/** Runs `rkt list`; problems with single pods are reported on stderr after the listing. */
export async function listCommand(ctx: Context, o: ListOptions): Promise<void> {
  const pods = await describePods(ctx);
  const errors = pods.flatMap((p) => p.errors.map((e) => `pod ${p.uuid}: ${oneLine(e)}`));
  if (o.format !== 'tabbed') {
    writeStdout(renderJSONOutput(pods.map(apiPod), o.format));
  } else {
    const table: string[][] = [];
    if (!o.noLegend) {
      table.push(
        o.full
          ? ['UUID', 'APP', 'IMAGE NAME', 'IMAGE ID', 'STATE', 'CREATED', 'STARTED', 'NETWORKS']
          : ['UUID', 'APP', 'IMAGE NAME', 'STATE', 'CREATED', 'STARTED', 'NETWORKS'],
      );
    }
    const now = new Date();
    for (const p of pods) table.push(...rows(p, o.full, now));
    writeStdout(layoutCells(table));
  }
  if (errors.length) ctx.log.warn(`problems listing pods:\n  ${errors.join('\n  ')}`);
}
