import type { CommandModule } from 'yargs';
import { contextFrom } from '../cli/context';
import type { GlobalOptions } from '../cli/globals';
import { listingFlags } from '../output/flags';

const FIELDS = 'id, name, importtime, lastused, size, latest';

interface Args extends GlobalOptions {
  fields: string;
  sort: string;
  order: string;
  full: boolean;
  'no-legend': boolean;
  format: string;
}

/** `rkt image list` */
const cmd: CommandModule<GlobalOptions, Args> = {
  command: 'list',
  describe: 'List images in the local store',
  builder: (y) =>
    listingFlags(y)
      .option('fields', { type: 'string', default: 'id,name,importtime,lastused,size,latest', describe: `comma-separated list of fields to display (${FIELDS})` })
      .option('sort', { type: 'string', default: 'importtime', describe: `comma-separated list of fields to sort by (${FIELDS})` })
      .option('order', { type: 'string', default: 'asc', describe: 'sort order when sorting: asc or desc' })
      .example('rkt image list --fields=id,name --sort=size --order=desc', '')
      .example('rkt image list --format=json-pretty', '') as never,
  handler: async (argv) => {
    const { imageListOptions, runImageList } = await import('../image/list');
    await runImageList(contextFrom(argv), imageListOptions(argv));
  },
};
export default cmd as unknown as CommandModule;
