/**
 * rkt-store: inspect and maintain the image store.
 *   rkt-store [--dir DATA] [--format table|json] [--debug] list | import FILE | fsck | gc | verify [TREE...]
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { EXIT_USAGE, exitCodeFor, oneLine, usageError } from '@rktnetes/errors';
import { createLogger } from '@rktnetes/log';
import * as cmd from '../cli/commands';
import type { CliContext } from '../cli/commands';

interface Global {
  dir: string;
  format: string;
  debug: boolean;
}

const debugOn = process.argv.includes('--debug');
const log = createLogger({ prefix: 'rkt-store', debug: debugOn });

function context(a: Global): CliContext {
  if (a.format !== 'table' && a.format !== 'json') throw usageError('store.usage', `unknown --format "${a.format}": use table or json`);
  return { dir: a.dir, format: a.format, debug: (m) => log.debug(m), out: (t) => process.stdout.write(`${t}\n`) };
}

const run = async (fn: () => Promise<number>): Promise<void> => {
  process.exitCode = await fn();
};

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('rkt-store')
    .option('dir', { type: 'string', default: '/var/lib/rkt', describe: 'rkt data directory (the store is DIR/cas)' })
    .option('format', { type: 'string', default: 'table', describe: 'output format: table or json' })
    .option('debug', { type: 'boolean', default: false, describe: 'print debug output and whole error chains' })
    .command('list', 'list the images in the store', (y) => y, (a) => run(() => cmd.list(context(a))))
    .command(
      'import <file>',
      'import an ACI (gzip, bzip2, xz or plain tar)',
      (y) =>
        y
          .positional('file', { type: 'string', demandOption: true })
          .option('allow-devices', { type: 'boolean', default: false, describe: 'accept device nodes in the image' })
          .option('latest', { type: 'boolean', default: false, describe: 'mark the image as the latest of its name' }),
      (a) => run(() => cmd.importFile(context(a), a.file, { allowDevices: a['allow-devices'], latest: a.latest })),
    )
    .command(
      'fsck',
      'check blobs, database rows and rendered trees',
      (y) =>
        y
          .option('verify-blobs', { type: 'boolean', default: true, describe: 're-hash every image blob' })
          .option('verify-trees', { type: 'boolean', default: true, describe: 're-hash every rendered tree' }),
      (a) => run(() => cmd.fsck(context(a), { verifyBlobs: a['verify-blobs'], verifyTrees: a['verify-trees'] })),
    )
    .command(
      'gc',
      'remove unused images (with --grace-period), orphan trees and crash debris',
      (y) =>
        y
          .option('grace-period', { type: 'string', describe: 'remove images unused for longer than this (e.g. 24h)' })
          .option('keep', { type: 'string', array: true, default: [] as string[], describe: 'image to keep (repeatable)' }),
      (a) => run(() => cmd.gc(context(a), { gracePeriod: a['grace-period'], keep: a.keep.map(String) })),
    )
    .command(
      'verify [trees..]',
      'verify rendered trees against their recorded hashes (all when none given)',
      (y) => y.positional('trees', { type: 'string', array: true, default: [] as string[] }),
      (a) => run(() => cmd.verify(context(a), a.trees.map(String))),
    )
    .demandCommand(1, 'a command is required')
    .strict()
    .fail((msg, err) => {
      throw err ?? usageError('store.usage', msg);
    })
    .help()
    .parseAsync();
}

main().catch((e: unknown) => {
  log.error(e);
  process.exitCode = (e as { name?: string }).name === 'YError' ? EXIT_USAGE : exitCodeFor(e);
});
