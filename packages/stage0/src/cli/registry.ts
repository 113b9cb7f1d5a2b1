import type { CommandModule } from 'yargs';

/**
 * Every rkt command, one module each under src/commands/: the module holds the flags and help
 * text; its implementation is imported only when the command runs, so `rkt list` never pays
 * for openpgp, sqlite or gRPC. Add a command by adding one line here.
 */
const modules: Array<() => Promise<{ default: CommandModule }>> = [
  () => import('../commands/version'),
  () => import('../commands/completion'),
  () => import('../commands/image'),
  () => import('../commands/fetch'),
  () => import('../commands/trust'),
  () => import('../commands/config'),
  () => import('../commands/run'),
  () => import('../commands/prepare'),
  () => import('../commands/run-prepared'),
  () => import('../commands/list'),
  () => import('../commands/status'),
  () => import('../commands/stop'),
  () => import('../commands/rm'),
  () => import('../commands/gc'),
  () => import('../commands/cat-manifest'),
  () => import('../commands/enter'),
  () => import('../commands/export'),
  () => import('../commands/app'),
  () => import('../commands/attach'),
  () => import('../commands/logs'),
  () => import('../commands/api-service'), () => import('../commands/metadata-service'),
];

export async function commandModules(): Promise<CommandModule[]> {
  return (await Promise.all(modules.map((load) => load()))).map((m) => m.default);
}
