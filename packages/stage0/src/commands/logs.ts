import type { CommandModule } from 'yargs';
import { rawCommand } from '../pod/cli';

const cmd: CommandModule = rawCommand({
  name: 'logs',
  usage: 'logs [--app=NAME] [--follow] [--since=DURATION|RFC3339] [--lines=N] [--timestamps] [--stream=stdout|stderr] UUID',
  describe: "Print the output of a pod's apps",
  epilogue:
    'Reads the per-app logs stage1 keeps, in any pod state that still has the pod directory. Lines of several apps are prefixed with [app]. ' +
    '--follow prints new lines until the pod exits; --lines=N prints the last N lines first; --since keeps lines at or after a time (10m: ten minutes ago).',
  options: {
    app: { type: 'string', describe: 'only this app' },
    follow: { type: 'boolean', alias: 'f', describe: 'keep printing new lines until the pod exits' },
    since: { type: 'string', describe: 'only lines since a duration ago (10m) or an RFC 3339 time' },
    lines: { type: 'number', describe: 'only the last N lines of the history (-1: all)' },
    timestamps: { type: 'boolean', describe: 'prefix each line with its time (RFC 3339, nanoseconds)' },
    stream: { type: 'string', describe: 'only stdout or stderr' },
  },
  run: async (args, globals) => (await import('../logs/command')).logsCommand(args, globals),
});
export default cmd;
