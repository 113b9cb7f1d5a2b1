import type { CommandModule } from 'yargs';
import add from './app-add';
import exec from './app-exec';
import list from './app-list';
import rm from './app-rm';
import sandbox from './app-sandbox';
import start from './app-start';
import status from './app-status';
import stop from './app-stop';

const SUBCOMMANDS: CommandModule[] = [sandbox, add, start, stop, rm, list, status, exec];

/** `rkt app <command>`: mutable pods, one app at a time. */
const cmd: CommandModule = {
  command: 'app',
  describe: 'Operate on the apps of a mutable pod',
  builder: (y) => {
    for (const sub of SUBCOMMANDS) y = y.command(sub);
    return y
      .usage(
        [
          'rkt app <command>',
          '',
          'A mutable pod starts empty (rkt app sandbox, which runs as long as the pod) and apps are',
          'added, started, stopped and removed while it runs. Errors exit 254 with one line on stderr.',
        ].join('\n'),
      )
      .demandCommand(1, 'rkt app: a subcommand is required; see rkt app --help');
  },
  handler: () => undefined,
};
export default cmd;
