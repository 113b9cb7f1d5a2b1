import { imageToDirCommand } from './image-to-dir';

/** `rkt image extract IMAGE OUTPUT_DIR` */
export default imageToDirCommand('extract', 'Extract a stored image to a directory (its own files, without dependencies)', async () => (await import('../image/extract')).runImageExtract);
