/**
 * stage1-coreos: one program for every entrypoint (run, enter, gc, stop, app_add, app_start,
 * app_stop, app_rm, attach), chosen by the name it is invoked as (the ACI's `/run`, `/enter`,
 * ... are symlinks to it), or by its first argument when invoked as `stage1-coreos <entrypoint>`.
 */
import { writeSync } from 'node:fs';
import { basename } from 'node:path';
import { exitCodeFor, fullChain, oneLine, usageError } from '@rktnetes/errors';
import { realSys } from '@rktnetes/sys';
import { ENTRYPOINTS, type EntrypointName, runEntrypoint } from '../entrypoints/dispatch';

const debug = process.argv.slice(2).some((a) => /^--?debug(=(1|t|T|TRUE|true|True))?$/.test(a));
const say = (line: string) => writeSync(2, `stage1: ${line}\n`);

async function main(): Promise<number> {
  let name = basename(process.argv[1] ?? '');
  let argv = process.argv.slice(2);
  if (!(ENTRYPOINTS as readonly string[]).includes(name)) {
    name = argv[0] ?? '';
    argv = argv.slice(1);
    if (!(ENTRYPOINTS as readonly string[]).includes(name)) throw usageError('stage1.entrypoint.unknown', `unknown entrypoint ${JSON.stringify(name)}, expected one of ${ENTRYPOINTS.join(', ')}`);
  }
  return runEntrypoint(name as EntrypointName, argv, {
    sys: realSys(),
    pod: process.cwd(),
    env: process.env,
    warn: (m) => say(`warning: ${m}`),
    debug: (m) => {
      if (debug) say(m);
    },
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    say(debug ? fullChain(e) : oneLine(e));
    process.exitCode = exitCodeFor(e);
  },
);
