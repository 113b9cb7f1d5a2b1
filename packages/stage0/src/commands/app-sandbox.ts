import type { CommandModule, Options } from 'yargs';
import { rawCommand } from '../pod/cli';
import { POD_OPTIONS, START_OPTIONS } from './run';

const s = (describe: string): Options => ({ type: 'string', describe });

const cmd: CommandModule = rawCommand({
  name: 'sandbox',
  parents: ['app'],
  usage:
    'app sandbox [--net=...] [--hostname=NAME] [--dns=...] [--port=NAME:PROTO:PODPORT:HOSTIP:HOSTPORT] [--sysctl=NAME=VALUE] [--cgroup-parent=PATH] [--pid=private|host] [--uuid-file-save=FILE] [--mds-register] [stage1 flags]',
  describe: 'Create an empty mutable pod',
  epilogue:
    'Prepares a pod without apps and runs its stage1 with --mutable; this process becomes the pod supervisor and lives as long as the pod (run it in the background). Add apps with rkt app add.',
  options: {
    'stage1-url': s('URL to an image to use as stage1'),
    'stage1-path': s('absolute or relative path to an image to use as stage1'),
    'stage1-name': s('name of an image to use as stage1'),
    'stage1-hash': s('hash of an image to use as stage1'),
    'stage1-from-dir': s('filename of an image in stage1 images directory to use as stage1'),
    net: START_OPTIONS.net!,
    dns: START_OPTIONS.dns!,
    'dns-search': START_OPTIONS['dns-search']!,
    'dns-opt': START_OPTIONS['dns-opt']!,
    'dns-domain': START_OPTIONS['dns-domain']!,
    'hosts-entry': START_OPTIONS['hosts-entry']!,
    hostname: START_OPTIONS.hostname!,
    ipc: START_OPTIONS.ipc!,
    sysctl: POD_OPTIONS.sysctl!,
    'cgroup-parent': POD_OPTIONS['cgroup-parent']!,
    pid: POD_OPTIONS.pid!,
    'mds-register': START_OPTIONS['mds-register']!,
    'no-overlay': { type: 'boolean', describe: 'disable overlay filesystem' },
    port: s('ports to forward: NAME:PROTO:PODPORT:HOSTIP:HOSTPORT (e.g. http:tcp:8080:0.0.0.0:80)'),
    annotation: s("the pod's annotations, KEY=VALUE"),
    'user-annotation': s("the pod's user annotations, KEY=VALUE"),
    'user-label': s("the pod's user labels, KEY=VALUE"),
    'uuid-file-save': s('write out the pod UUID to the specified file'),
  },
  run: async (args, globals) => (await import('../app/sandbox')).sandboxCommand(args, globals),
});
export default cmd;
