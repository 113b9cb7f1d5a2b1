import type { CommandModule } from 'yargs';
import catManifest from './image-cat-manifest';
import exportCmd from './image-export';
import extract from './image-extract';
import gc from './image-gc';
import list from './image-list';
import render from './image-render';
import rm from './image-rm';
import verify from './image-verify';

const SUBCOMMANDS: CommandModule[] = [catManifest, exportCmd, extract, gc, list, render, rm, verify];

/** `rkt image <command>`: operate on images in the local store. */
const cmd: CommandModule = {
  command: 'image',
  describe: 'Operate on image(s) in the local store',
  builder: (y) => {
    for (const sub of SUBCOMMANDS) y = y.command(sub);
    return y
      .usage(
        [
          'rkt image <command>',
          '',
          'Commands taking IMAGE accept an image ID, long or short (sha512-78c08a541997), or an image',
          'name with an optional version (quay.io/coreos/etcd:v3.1.0); without a version, the image',
          'marked latest or else the most recently imported one of that name is used.',
        ].join('\n'),
      )
      .demandCommand(1, 'rkt image: a subcommand is required; see rkt image --help');
  },
  handler: () => undefined,
};
export default cmd;
