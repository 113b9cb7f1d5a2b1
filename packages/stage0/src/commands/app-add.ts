import type { CommandModule, Options } from 'yargs';
import { rawCommand } from '../pod/cli';
import { POD_OPTIONS } from './run';

const s = (describe: string): Options => ({ type: 'string', describe });
const APP_FLAGS = ['exec', 'working-dir', 'readonly-rootfs', 'mount', 'user', 'group', 'supplementary-gids', 'name', 'annotation', 'user-annotation', 'user-label', 'environment', 'memory', 'cpu', 'cpu-shares', 'oom-score-adj', 'caps-retain', 'caps-remove', 'seccomp', 'no-new-privileges', 'masked-paths', 'readonly-paths', 'pid-namespace'];

const cmd: CommandModule = rawCommand({
  name: 'add',
  parents: ['app'],
  usage: 'app add UUID IMAGE [app flags] [-- ARGS...]',
  describe: 'Add an app to a running mutable pod',
  epilogue:
    'IMAGE must be in the local store (rkt fetch it first). The app is created, not started: use rkt app start. ' +
    'Stdio modes: --stdin null|stream|tty (default null), --stdout/--stderr null|log|stream|tty (default log); log and stream are both logged and attachable; tty is all three or none.',
  options: {
    ...Object.fromEntries(APP_FLAGS.map((f) => [f, POD_OPTIONS[f]!])),
    'mnt-volume': s('a volume of this app and where to mount it: name=N,kind=host|empty,source=PATH,readOnly=BOOL,propagation=rprivate|rslave|rshared,target=PATH'),
    stdin: s('stdin mode: null, stream or tty'),
    stdout: s('stdout mode: null, log, stream or tty'),
    stderr: s('stderr mode: null, log, stream or tty'),
    'stdin-once': { type: 'boolean', describe: 'close stdin when the first attach session that wrote to it ends' },
    'log-path': s('also write the app log (CRI format) to this host file'),
  },
  run: async (args, globals) => (await import('../app/add')).addCommand(args, globals),
});
export default cmd;
