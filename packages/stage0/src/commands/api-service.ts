import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';
import { userError } from '@rktnetes/errors';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';

/**
 * Replaces rkt with the rkt-api-service executable (packages/api-service), installed next to
 * rkt's bundle; sockets passed by systemd (LISTEN_FDS) stay open across the exec.
 */
export async function execApiService(args: readonly string[]): Promise<never> {
  const candidates = ['../../api-service/dist/rkt-api-service.mjs', '../../../api-service/dist/rkt-api-service.mjs'].map((rel) =>
    fileURLToPath(new URL(rel, import.meta.url)),
  );
  const bin = candidates.find((p) => existsSync(p));
  if (!bin) throw userError('cli.api-service-missing', `rkt-api-service is not installed (looked for ${candidates[0]}); build packages/api-service`);
  const n = Number(process.env.LISTEN_FDS ?? 0);
  const keepFds = Number(process.env.LISTEN_PID) === process.pid && n > 0 ? Array.from({ length: n }, (_, i) => 3 + i) : [];
  const { realSys } = await import('@rktnetes/sys');
  const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  return realSys().execve(process.execPath, [process.execPath, bin, ...args], env, { keepFds });
}

const cmd: CommandModule = {
  command: 'api-service',
  describe: 'Run API service (experimental)',
  builder: (y) =>
    y
      .usage('rkt api-service [--listen=ADDRESS]...')
      .option('listen', {
        type: 'string',
        array: true,
        describe: 'address to listen for client API requests: host:port, [ipv6]:port or unix:/path (default localhost:15441 and unix:/run/rkt/api-service.sock)',
      })
      .epilogue('Serves the read-only v1alpha gRPC API; runs correctly as a systemd socket-activated service, see systemd.socket(5) and docs/api-service.md.'),
  handler: async (argv) => {
    const ctx = contextFrom(argv as unknown as GlobalOptions);
    const g = argv as unknown as GlobalOptions;
    const args = ['--dir', ctx.dataDir, '--local-config', ctx.localConfig, '--system-config', ctx.systemConfig, '--insecure-options', g['insecure-options']];
    if (g['user-config']) args.push('--user-config', g['user-config']);
    if (ctx.trustKeysFromHttps) args.push('--trust-keys-from-https');
    if (ctx.debug) args.push('--debug');
    for (const l of (argv.listen as string[] | undefined) ?? []) args.push('--listen', String(l));
    await execApiService(args);
  },
};
export default cmd;
